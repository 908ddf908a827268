"""Entry script of the frozen (PyInstaller) app.

In a frozen app ``sys.executable`` is the app binary itself, not a Python interpreter, yet the app
starts helpers as ``[sys.executable, "-m", "train", ...]`` (Retrain…) and scripts may run
``-m xtalviewer.predict``. So this one binary answers the few ``-m`` modules the app relies on and
opens the ordinary ``xtalviewer`` command line for everything else.

Kept free of third-party imports at module level: tests import it to check the dispatch without a
build, and a frozen ``--version`` should not wait for torch.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence

# ``-m NAME`` -> the module whose ``main(argv)`` runs. Only these are frozen in; anything else is
# an error, not a silent start of the GUI.
MODULES = {
    "train": "train.cli",
    "train.cli": "train.cli",
    "xtalviewer": "xtalviewer.cli",
    "xtalviewer.cli": "xtalviewer.cli",
    "xtalviewer.predict": "xtalviewer.predict",
}
DEFAULT = "xtalviewer.cli"

# Interpreter flags a caller may put before ``-m`` out of habit (``python -u -m train``): accepted
# and ignored, except -u which is honoured by unbuffering stdout. The Retrain dialog passes -P (keep
# the working folder off sys.path), which a frozen app needs no help with.
IGNORED_FLAGS = {"-u", "-B", "-E", "-s", "-I", "-O", "-OO", "-P"}


# Not a module: `xtalviewer --bundle-check` imports everything the app may import lazily (dialogs,
# training, pyqtgraph) and exits non-zero when any of them is missing from the bundle. build.sh
# runs it, because a frozen app only fails at the moment a menu item first needs a missing module.
BUNDLE_CHECK = "--bundle-check"
CHECK_PACKAGES = ("xtalviewer", "train")
OPTIONAL = {"train.onnx_export"}  # needs the optional onnx extra, which the bundle leaves out


class DispatchError(Exception):
    """An ``-m`` module this binary does not carry (exit status 2, like a bad argument)."""


def dispatch(argv: Sequence[str]) -> tuple[str, list[str], bool]:
    """``(module, its argv, unbuffered)`` for the command line after the program name."""
    args = list(argv)
    unbuffered = False
    while args and args[0] in IGNORED_FLAGS:
        unbuffered |= args.pop(0) == "-u"
    if args and args[0].startswith("-m"):
        if args[0] == "-m":
            if len(args) < 2:
                raise DispatchError("Argument expected for the -m option")
            name, rest = args[1], args[2:]
        else:  # -mtrain, as Python accepts it
            name, rest = args[0][2:], args[1:]
        if name not in MODULES:
            raise DispatchError(f"No module named {name} in this app (it runs: {', '.join(sorted(MODULES))})")
        return MODULES[name], rest, unbuffered
    return DEFAULT, args, unbuffered


def bundle_check(packages: Sequence[str] = CHECK_PACKAGES) -> int:
    """Import every module of our packages; print what failed. 0 when all imported."""
    import pkgutil
    import traceback

    names = []
    for package in packages:
        mod = importlib.import_module(package)
        names.append(package)
        names += [info.name for info in pkgutil.walk_packages(mod.__path__, package + ".")]
    names = [n for n in names if not n.endswith(".__main__")]  # importing one would run the app
    failed, skipped = [], []
    for name in names:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - report every failure, not just the first
            (skipped if name in OPTIONAL else failed).append(name)
            if name not in OPTIONAL:
                print(f"FAILED {name}:\n{traceback.format_exc()}", file=sys.stderr)
    print(f"bundle check: {len(names) - len(failed) - len(skipped)} of {len(names)} modules imported"
          + (f"; optional, not bundled: {', '.join(skipped)}" if skipped else ""))
    return 1 if failed else 0


def _unbuffer() -> None:
    """Line-flushed stdout/stderr: the frozen bootloader ignores PYTHONUNBUFFERED, which the Retrain
    dialog sets so that the training log reaches it while training runs."""
    for stream in (sys.stdout, sys.stderr):
        if stream is not None and hasattr(stream, "reconfigure"):
            stream.reconfigure(line_buffering=True, write_through=True)


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if list(argv[:1]) == [BUNDLE_CHECK]:
        return bundle_check()
    try:
        module, rest, unbuffered = dispatch(argv)
    except DispatchError as exc:
        print(f"xtalviewer: {exc}", file=sys.stderr)
        return 2
    if unbuffered or os.environ.get("PYTHONUNBUFFERED"):
        _unbuffer()
    if module != DEFAULT:  # tracebacks and argparse name the module the way `python -m` would
        sys.argv = [module.replace(".cli", ""), *rest]
    return importlib.import_module(module).main(rest)


if __name__ == "__main__":
    if getattr(sys, "frozen", False):
        import multiprocessing

        multiprocessing.freeze_support()  # a spawned worker re-enters here; let it run its task
    raise SystemExit(main())
