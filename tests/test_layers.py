"""The code's layers, checked from the source: core below everything, training beside the app,
Qt only in the GUI, and no import circle anywhere (lazy imports inside functions count too)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("xtalviewer", "train")


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


def test_core_imports_nothing_above_it():
    for name, deps in graph().items():
        if name.startswith("xtalviewer.core"):
            above = {d for d in deps if not d.startswith("xtalviewer.core") and d != "xtalviewer"}
            assert not above, f"{name} imports {above}"


def test_training_uses_core_only_and_the_gui_follows_training_only_through_its_events():
    for name, deps in graph().items():
        if name.startswith("train"):
            wrong = {d for d in deps if d.startswith("xtalviewer.") and not d.startswith("xtalviewer.core")}
            assert not wrong, f"{name} imports {wrong}"
        if name.startswith("xtalviewer.gui"):
            wrong = {d for d in deps if (d.startswith("train") and d != "train.events") or d in (
                "xtalviewer.cli", "xtalviewer.predict")}
            assert not wrong, f"{name} imports {wrong}"


def test_qt_stays_in_the_gui():
    for name, path in project_modules().items():
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
    for name in ("xtalviewer.core.store", "xtalviewer.core.inference", "xtalviewer.gui.main_window", "train.run"):
        assert name in modules
    assert len([m for m in modules if m.startswith("xtalviewer.gui")]) > 20 and len(graph()) == len(modules)
    assert any(deps for deps in graph().values())  # imports are found, not only files
