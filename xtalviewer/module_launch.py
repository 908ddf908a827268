"""Starting our own modules in new Python processes, so that nothing in the working folder can
stand in for them.

``python -m train`` puts the working folder first on ``sys.path``, and so does torchrun's ``-m``
(each worker runs ``python -m MODULE``): a ``train.py``, a ``train/`` or an ``xtalviewer/`` folder
there runs instead of our code. Our children run with ``python -P`` and PYTHONSAFEPATH=1 (which
their own children inherit), both of which keep that folder off the path, and with the folder that
holds our packages first on PYTHONPATH. The Retrain dialog starts ``python -P -m train`` this way;
``xtal-train --nproc N`` and ``xtalviewer predict --nproc N`` start torchrun's workers this way.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import xtalviewer

REPORTED_EXITS = (2, 130)  # a worker said what happened in a line of its own (a clear error, cancelled)


def package_root() -> Path:
    """The folder that holds our ``xtalviewer`` and ``train`` packages."""
    return Path(xtalviewer.__file__).resolve().parents[1]


def own_code_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The variables to set over ``environ`` so a child Python imports our packages, whatever its
    working folder holds."""
    old = environ.get("PYTHONPATH", "")
    return {"PYTHONPATH": str(package_root()) + (os.pathsep + old if old else ""), "PYTHONSAFEPATH": "1"}


def module_command(module: str, args: Sequence[str]) -> list[str]:
    """``python -P -m MODULE ARGS`` with this interpreter."""
    return [sys.executable, "-P", "-m", module, *args]


def without_option(argv: Sequence[str], option: str) -> list[str]:
    """``argv`` less ``option VALUE`` / ``option=VALUE`` (what the launcher took for itself)."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == option:
            skip = True
        elif not arg.startswith(option + "="):
            out.append(arg)
    return out


def run_distributed(module: str, nproc: int, args: Sequence[str], prog: str) -> int:
    """torchrun on this computer (one node, a free port) with ``nproc`` workers of ``python -P -m
    MODULE ARGS``; returns an exit status. A worker that said why it stopped (exit 2 or 130) passes
    its status on; torchrun's own report of any other failure becomes one line of ours."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    os.environ.update(own_code_environment(os.environ))
    if "OMP_NUM_THREADS" not in os.environ:  # as torchrun does: the workers share the cores
        os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // max(1, nproc)))
    quiet = logging.getLogger("torch.distributed")  # the agent's log lines and banners: our lines say it
    for handler in list(quiet.handlers):  # torch gives this logger a handler of its own
        quiet.removeHandler(handler)
    quiet.addHandler(logging.NullHandler())
    quiet.propagate = False
    worker = [sys.executable, "-P", "-u", "-m", module, *args]  # -u: lines arrive as they are printed
    try:
        run(parse_args(["--standalone", f"--nproc-per-node={nproc}", "--no-python", *worker]))
    except ChildFailedError as exc:
        rank, failure = exc.get_first_failure()
        if failure.exitcode in REPORTED_EXITS:
            return failure.exitcode
        how = f"signal {failure.signal_name()}" if failure.exitcode < 0 else f"exit status {failure.exitcode}"
        print(f"{prog}: error: process {rank} of {nproc} ended with {how}", file=sys.stderr)
        return 1
    except Exception as exc:  # the rendezvous could not start (no free port, ...)
        print(f"{prog}: error: could not start {nproc} processes: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0
