"""The packaging files, checked without building: a PyInstaller build takes minutes and gigabytes,
so CI checks what breaks a build or a frozen app cheaply (spec, launcher entry, icons, dispatch)."""

from __future__ import annotations

import ast
import configparser
import importlib.util
import struct
import sys
import types
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGING = ROOT / "packaging"
SPEC = PACKAGING / "xtalviewer.spec"


def load_entry():
    """packaging/entry.py by path: `packaging` is not a package (the name belongs to PyPI's)."""
    spec = importlib.util.spec_from_file_location("xtalviewer_frozen_entry", PACKAGING / "entry.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def entry():
    return load_entry()


# -- the spec ----------------------------------------------------------------------------------


class Recorder:
    """Stands in for PyInstaller's Analysis/PYZ/EXE/COLLECT: keeps the arguments."""

    calls: dict[str, "Recorder"] = {}

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs
        self.datas = list(kwargs.get("datas", []))
        self.binaries = list(kwargs.get("binaries", []))
        self.pure = self.scripts = []
        Recorder.calls[type(self).__name__] = self


def run_spec(tmp_path, monkeypatch, cpu_only=False):
    """Execute the spec with PyInstaller's globals stubbed; returns its namespace."""
    hooks = types.ModuleType("PyInstaller.utils.hooks")
    hooks.copy_metadata = lambda name: [(f"/site/{name}-0.1.0.dist-info", f"{name}-0.1.0.dist-info")]
    for name, module in (("PyInstaller", types.ModuleType("PyInstaller")),
                         ("PyInstaller.utils", types.ModuleType("PyInstaller.utils")),
                         ("PyInstaller.utils.hooks", hooks)):
        monkeypatch.setitem(sys.modules, name, module)
    if cpu_only:
        monkeypatch.setenv("XTALVIEWER_CPU_ONLY", "1")
    else:
        monkeypatch.delenv("XTALVIEWER_CPU_ONLY", raising=False)
    Recorder.calls = {}
    stubs = {n: type(n, (Recorder,), {}) for n in ("Analysis", "PYZ", "EXE", "COLLECT")}
    namespace = {"SPECPATH": str(PACKAGING), "workpath": str(tmp_path / "work"), "__name__": "__main__", **stubs}
    exec(compile(SPEC.read_text(encoding="utf-8"), str(SPEC), "exec"), namespace)
    return namespace


def test_spec_is_python():
    ast.parse(SPEC.read_text(encoding="utf-8"), filename=str(SPEC))


def test_spec_bundles_entry_modules_and_resources(tmp_path, monkeypatch):
    ns = run_spec(tmp_path, monkeypatch)
    analysis = Recorder.calls["Analysis"]
    assert [Path(p) for p in analysis.args[0]] == [PACKAGING / "entry.py"]
    hidden = set(analysis.kwargs["hiddenimports"])
    # what the entry imports by name, and the package importlib.resources reads from
    assert {"train", "train.cli", "xtalviewer.cli", "xtalviewer.predict", "xtalviewer.resources"} <= hidden
    datas = {(Path(src).name, dest) for src, dest in analysis.kwargs["datas"]}
    for scheme in (ROOT / "resources" / "label_schemes").glob("*.json"):
        assert (scheme.name, str(Path("xtalviewer/resources/label_schemes"))) in datas
    assert ("xtalviewer.svg", str(Path("xtalviewer/resources/icons"))) in datas
    assert ("xtalviewer.png", str(Path("xtalviewer/resources/icons"))) in datas
    assert any(dest.startswith("xtalviewer-") for _, dest in analysis.kwargs["datas"])  # __version__
    # sources staged the way they are installed: resources/ inside the xtalviewer package
    src = Path(analysis.kwargs["pathex"][0])
    assert (src / "xtalviewer" / "resources" / "__init__.py").is_file()
    assert (src / "train" / "cli.py").is_file()
    assert Recorder.calls["COLLECT"].kwargs["name"] == "xtalviewer"
    assert Recorder.calls["EXE"].kwargs["console"] is True  # the binary is also the command line
    assert ns["CPU_ONLY"] is False


def test_spec_keeps_what_the_app_imports(tmp_path, monkeypatch):
    """Each of these was once excluded and broke the frozen app (sqlite-utils needs pluggy, torch
    imports torch.testing._internal, pyqtgraph's curves import QtOpenGL)."""
    run_spec(tmp_path, monkeypatch)
    excludes = set(Recorder.calls["Analysis"].kwargs["excludes"])
    assert {"tkinter", "triton", "pytest"} <= excludes
    needed = {"pluggy", "torch.testing._internal", "PySide6.QtOpenGL", "PySide6.QtCore", "PySide6.QtGui",
              "PySide6.QtWidgets", "PySide6.QtSvg", "sqlite_utils", "cv2", "torchvision", "pyqtgraph", "sympy"}
    assert not needed & excludes


def test_spec_file_filter(tmp_path, monkeypatch):
    keep = run_spec(tmp_path, monkeypatch)["keep"]
    for dest in ("PySide6/Qt/plugins/platforms/libqxcb.so", "PySide6/Qt/plugins/platforms/libqoffscreen.so",
                 "PySide6/Qt/plugins/platforms/libqwayland.so", "PySide6/Qt/plugins/imageformats/libqjpeg.so",
                 "PySide6/Qt/plugins/iconengines/libqsvgicon.so", "torch/lib/libtorch_cpu.so",
                 "nvidia/cudnn/lib/libcudnn.so.9", "xtalviewer/resources/label_schemes/xtal10.json"):
        assert keep(dest), dest
    for dest in ("PySide6/Qt/plugins/platformthemes/libqgtk3.so", "libgtk-3.so.0",
                 "PySide6/Qt/plugins/platforms/libqvnc.so", "torch/include/ATen/ATen.h"):
        assert not keep(dest), dest
    cpu_keep = run_spec(tmp_path, monkeypatch, cpu_only=True)["keep"]
    assert not cpu_keep("nvidia/cudnn/lib/libcudnn.so.9")
    assert not cpu_keep("libcudart.so.13")
    assert cpu_keep("torch/lib/libtorch_cpu.so")


# -- launcher entry and icons ------------------------------------------------------------------


def read_desktop(text: str) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, delimiters=("=",))
    parser.optionxform = str  # keys are case-sensitive
    parser.read_string(text)
    return parser["Desktop Entry"]


def test_desktop_template_has_required_keys():
    text = (PACKAGING / "xtalviewer.desktop.in").read_text(encoding="utf-8")
    entry = read_desktop(text)
    for key in ("Type", "Name", "Exec", "Icon", "Categories", "Terminal", "Comment"):
        assert entry.get(key), key
    assert entry["Type"] == "Application"
    assert entry["Terminal"] == "false"
    assert entry["Categories"].endswith(";")
    assert entry["Exec"].split()[0] == "@EXEC@"
    assert "%" not in entry["Exec"]  # the app takes --db, not a file argument
    assert entry["Icon"] == "@ICON@"
    filled = read_desktop(text.replace("@EXEC@", "/opt/xtalviewer/xtalviewer").replace("@ICON@", "/opt/x.png"))
    assert "@" not in "".join(filled.values())


def test_icons():
    svg = ET.parse(ROOT / "resources" / "icons" / "xtalviewer.svg").getroot()
    assert svg.tag.endswith("svg")
    png = (ROOT / "resources" / "icons" / "xtalviewer.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert width == height >= 128


def test_build_script_is_bash():
    text = (PACKAGING / "build.sh").read_text(encoding="utf-8")
    assert text.startswith("#!/usr/bin/env bash")
    assert "packaging/xtalviewer.spec" in text and "--bundle-check" in text


# -- the frozen entry's dispatch ---------------------------------------------------------------


@pytest.mark.parametrize("argv, expected", [
    ([], ("xtalviewer.cli", [], False)),
    (["--db", "x.db", "--screenshot", "s.png"], ("xtalviewer.cli", ["--db", "x.db", "--screenshot", "s.png"], False)),
    (["import", "plates/"], ("xtalviewer.cli", ["import", "plates/"], False)),
    (["-m", "train", "--db", "x.db", "--events", "-"], ("train.cli", ["--db", "x.db", "--events", "-"], False)),
    (["-m", "train", "evaluate", "--model", "1"], ("train.cli", ["evaluate", "--model", "1"], False)),
    (["-mtrain", "--help"], ("train.cli", ["--help"], False)),
    (["-u", "-m", "train"], ("train.cli", [], True)),
    (["-B", "-m", "xtalviewer.predict", "--plate", "P1"], ("xtalviewer.predict", ["--plate", "P1"], False)),
    (["-m", "xtalviewer", "stats"], ("xtalviewer.cli", ["stats"], False)),
])
def test_dispatch(entry, argv, expected):
    assert entry.dispatch(argv) == expected


@pytest.mark.parametrize("argv", [["-m"], ["-m", "os"], ["-m", "pip", "install", "x"]])
def test_dispatch_refuses_other_modules(entry, argv, capsys):
    with pytest.raises(entry.DispatchError):
        entry.dispatch(argv)
    assert entry.main(argv) == 2
    assert "xtalviewer:" in capsys.readouterr().err


def test_dispatch_targets_exist(entry):
    """Every module the entry can run is one of ours and has a main(argv)."""
    for module in set(entry.MODULES.values()) | {entry.DEFAULT}:
        found = importlib.util.find_spec(module)
        assert found is not None and found.origin, module
        tree = ast.parse(Path(found.origin).read_text(encoding="utf-8"))
        assert any(isinstance(n, ast.FunctionDef) and n.name == "main" for n in tree.body), module


def test_main_runs_the_module(entry, monkeypatch):
    ran = {}

    def fake_main(argv):
        ran["argv"] = argv
        return 7

    def fake_import(name):
        ran["module"] = name
        return types.SimpleNamespace(main=fake_main)

    monkeypatch.setattr(entry.importlib, "import_module", fake_import)
    monkeypatch.setattr(entry, "_unbuffer", lambda: ran.setdefault("unbuffered", True))
    monkeypatch.setattr(sys, "argv", ["xtalviewer"])
    monkeypatch.setenv("PYTHONUNBUFFERED", "1")  # what the Retrain dialog sets
    assert entry.main(["-m", "train", "--db", "x.db"]) == 7
    assert ran == {"module": "train.cli", "argv": ["--db", "x.db"], "unbuffered": True}
    assert sys.argv == ["train", "--db", "x.db"]

    ran.clear()
    monkeypatch.delenv("PYTHONUNBUFFERED")
    monkeypatch.setattr(sys, "argv", ["xtalviewer"])
    assert entry.main(["--version"]) == 7
    assert ran == {"module": "xtalviewer.cli", "argv": ["--version"]}
    assert sys.argv == ["xtalviewer"]


def test_retrain_command_reaches_train(entry):
    """The Retrain dialog's subprocess argv, given to the frozen binary, runs `train`."""
    from xtalviewer.gui.retrain.dialog import train_command

    cmd = train_command("x.db", ["resnet"], 2, 128, 32, "cpu")
    module, rest, _ = entry.dispatch(cmd[1:])
    assert module == "train.cli"
    assert rest[:2] == ["--db", str(Path("x.db").absolute())]


def test_bundle_check_imports_every_module(entry, capsys):
    assert entry.bundle_check() == 0, capsys.readouterr().err
    assert "bundle check:" in capsys.readouterr().out


def test_the_wheel_builds_without_setuptools_warnings_and_holds_the_resources(tmp_path):
    """A clean install: license as an SPDX string with its file, every resources folder declared."""
    import shutil
    import subprocess
    import zipfile

    source = tmp_path / "src"  # a copy, so the build leaves nothing in the checkout
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".venv", ".git", "build", "dist", "*.egg-info",
                                                               "tests", "__pycache__", "runs", "demo-data"))
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-build-isolation", "--no-deps", "-v",
                          "-w", str(tmp_path / "dist"), str(source)], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    log = out.stdout + out.stderr
    assert "SetuptoolsDeprecationWarning" not in log and "absent from the `packages` configuration" not in log
    (wheel,) = (tmp_path / "dist").glob("xtalviewer-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for wanted in ("xtalviewer/resources/models/base-resnet18.pt", "xtalviewer/resources/models/base-resnet18.json",
                   "xtalviewer/resources/label_schemes/xtal10.json", "xtalviewer/resources/icons/xtalviewer.png",
                   "xtalviewer/resources/styles/report.css"):
        assert wanted in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
