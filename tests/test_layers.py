"""The code's layers, checked from the source: packages import only downwards (``LAYERS``), training
below the GUI, Qt only in the GUI, SQL only in the store, and no import circle anywhere (lazy imports
inside functions count too; the benchmarks are checked as well)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("xtalviewer", "train")
BENCH = sorted((ROOT / "bench").glob("*.py"))


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}


def _runtime_nodes(tree: ast.AST):
    """Every node except those under ``if TYPE_CHECKING:`` (annotations only; never imported at run time)."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                todo.extend(child.orelse)
                continue
            todo.append(child)


def imports_of(path: Path, name: str, known: set[str]) -> set[str]:
    """Project modules ``path`` imports anywhere in it (module level or inside functions)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _runtime_nodes(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            targets = [f"{base}.{a.name}" for a in node.names] + [base]
        for t in targets:
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and t != name:
                found.add(t)
    return found


def graph() -> dict[str, set[str]]:
    modules = project_modules()
    known = set(modules)
    return {name: imports_of(path, name, known) for name, path in modules.items()}


# Packages from the bottom up: a module may import its own package and anything in a lower layer.
# Two packages of one layer do not import each other (store and imaging know nothing of each other).
LAYERS: tuple[tuple[str, ...], ...] = (
    ("xtalviewer", "xtalviewer.files", "xtalviewer.paths"),
    ("xtalviewer.labels", "xtalviewer.plates", "xtalviewer.settings", "xtalviewer.crystal_call"),
    ("xtalviewer.store", "xtalviewer.imaging"),
    ("xtalviewer.model",),
    ("xtalviewer.importers",),
    ("xtalviewer.report", "xtalviewer.synthetic"),
    ("xtalviewer.review",),
    ("xtalviewer.watch",),
    ("train",),
    ("xtalviewer.gui",),
    ("xtalviewer.predict", "xtalviewer.cli", "xtalviewer.cli_common", "xtalviewer.cli_hits", "xtalviewer.cli_models",
     "xtalviewer.cli_screens", "xtalviewer.cli_roots", "xtalviewer.cli_db", "xtalviewer.__main__"),
)


def package_of(module: str) -> str:
    """The layered package a module belongs to (its longest prefix named in ``LAYERS``)."""
    best = ""
    for layer in LAYERS:
        for pkg in layer:
            if (module == pkg or module.startswith(pkg + ".")) and len(pkg) > len(best):
                best = pkg
    assert best, f"{module} is in no layer of LAYERS"
    return best


def layer_of(module: str) -> int:
    pkg = package_of(module)
    return next(i for i, layer in enumerate(LAYERS) if pkg in layer)


def test_every_import_points_down_the_layers():
    wrong = []
    for name, deps in graph().items():
        if name.startswith("train") or not name.startswith("xtalviewer"):
            continue
        for d in deps:
            if d.startswith("train"):
                continue  # checked below
            same = package_of(d) == package_of(name)
            if not same and layer_of(d) >= layer_of(name) and not name.startswith(("xtalviewer.cli", "xtalviewer.predict", "xtalviewer.__main__")):
                wrong.append(f"{name} -> {d}")
    assert not wrong, "imports that do not point down: " + ", ".join(sorted(wrong))


def test_training_uses_the_app_below_the_gui_and_the_gui_follows_training_only_through_its_events():
    for name, deps in graph().items():
        if name.startswith("train"):
            wrong = {d for d in deps if d.startswith("xtalviewer.") and layer_of(d) >= layer_of("train")}
            assert not wrong, f"{name} imports {wrong}"
        if name.startswith("xtalviewer.gui"):
            wrong = {d for d in deps if (d.startswith("train") and d != "train.events") or d in (
                "xtalviewer.cli", "xtalviewer.predict")}
            assert not wrong, f"{name} imports {wrong}"


def test_only_the_store_speaks_sql():
    """SQL lives in ``xtalviewer/store``: nothing else, the benchmarks included, opens a connection or
    runs a statement of its own."""
    import re
    statement = re.compile(r"\.execute(many|script)?\(|\b(SELECT|INSERT INTO|DELETE FROM|CREATE TABLE)\b")
    for path in [*(ROOT / "xtalviewer").rglob("*.py"), *(ROOT / "train").rglob("*.py"), *BENCH]:
        if "store" in path.relative_to(ROOT).parts[:2]:
            continue
        text = path.read_text(encoding="utf-8")
        assert not statement.search(text), f"{path.relative_to(ROOT)} runs SQL"
        assert "sqlite_utils" not in text, f"{path.relative_to(ROOT)} uses sqlite-utils"


def test_qt_stays_in_the_gui():
    """Qt only in ``xtalviewer/gui``; of the benchmarks only the one that drives the window imports it."""
    scripts = {f"bench.{p.stem}": p for p in BENCH if p.stem != "navigation"}
    for name, path in {**project_modules(), **scripts}.items():
        if name.startswith("xtalviewer.gui"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            mods = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(m.split(".")[0] in ("PySide6", "pyqtgraph") for m in mods), f"{name} imports Qt"


def test_no_import_circle():
    g = graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in g.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for v in sorted(g):
        if v not in index:
            visit(v)
    assert not circles, f"import circles: {circles}"


def test_the_checks_see_the_modules_they_check():
    """A misspelt package list would find no module and every check above would pass on nothing."""
    modules = project_modules()
    for name in ("xtalviewer.store.store", "xtalviewer.model.inference", "xtalviewer.gui.app.main_window", "train.run"):
        assert name in modules
    assert len([m for m in modules if m.startswith("xtalviewer.gui")]) > 20 and len(graph()) == len(modules)
    assert any(deps for deps in graph().values())  # imports are found, not only files
