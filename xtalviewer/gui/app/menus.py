"""Menus and shortcuts made from the action table (``gui/app/actions.py``), and the Model menu's list
of registered models."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu

from xtalviewer.crystal_call import pct
from xtalviewer.model.metrics import HEADLINE
from xtalviewer.store.rows import Model
from xtalviewer.gui.app.actions import MENUS, Action


def install_actions(window: QMainWindow, actions: list[Action]) -> tuple[dict[str, QAction], dict[str, QMenu]]:
    """One QAction per table entry with a ``run``, in its menu, its shortcut live in the whole window.
    Returns the actions and the menus by name ('&Edit', '&Review/Filter by label', …)."""
    menus: dict[str, QMenu] = {name: window.menuBar().addMenu(name) for name in MENUS}
    groups: dict[str, QActionGroup] = {}
    made: dict[str, QAction] = {}

    def menu(path: str) -> QMenu:
        if path not in menus:
            parent, _, name = path.rpartition("/")
            menus[path] = (menu(parent).addMenu(name) if parent else window.menuBar().addMenu(name))
        return menus[path]

    for spec in actions:
        if spec.run is None:
            continue
        a = QAction(spec.text, window)
        a.setObjectName(spec.name)
        a.setShortcuts([QKeySequence(k) for k in spec.keys])
        a.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        a.setCheckable(spec.checkable)
        if spec.checkable:  # hand the new state over explicitly: Qt's own slots take no default
            a.triggered.connect(lambda _=False, act=a, run=spec.run: run(window, act.isChecked()))
        else:
            a.triggered.connect(lambda _=False, run=spec.run: run(window))
        if spec.group:
            groups.setdefault(spec.group, QActionGroup(window)).addAction(a)
        window.addAction(a)
        if spec.menu:
            if spec.separator:
                menu(spec.menu).addSeparator()
            menu(spec.menu).addAction(a)
        made[spec.name] = a
    return made, menus


def fill_model_menu(menu: QMenu, models: list[Model], activate: Callable[[int], None]) -> None:
    """The Model menu: its actions from the table (Retrain…), then every registered model, the active one checked."""
    keep = [a for a in menu.actions() if a.objectName()]
    menu.clear()
    for old in menu.findChildren(QActionGroup):
        old.deleteLater()
    for a in keep:
        menu.addAction(a)
    menu.addSeparator()
    if not models:
        menu.addAction("No trained models yet").setEnabled(False)
    group = QActionGroup(menu)
    titles = {m.key: m.short for m in HEADLINE}
    for m in models:
        metrics = m.metrics or {}
        parts = [f"{m.arch}@{m.input_size}"]
        parts += [f"{titles[key]} {pct(metrics[key])}" for key in ("accuracy", "crystal_recall")
                  if metrics.get(key) is not None]
        text = f"{m.name}  ({', '.join(parts)})"
        a = QAction(text, menu, checkable=True)
        a.setChecked(m.active)
        a.triggered.connect(lambda _=False, mid=m.id: activate(mid))
        group.addAction(a)
        menu.addAction(a)


def show_undo_state(undo: QAction, redo: QAction, undo_text: str | None, redo_text: str | None) -> None:
    """Edit > Undo / Redo name the labels they would revert, and are off when there are none."""
    for action, verb, text in ((undo, "Undo", undo_text), (redo, "Redo", redo_text)):
        action.setText(f"{verb} {text}" if text else f"{verb} label")
        action.setEnabled(text is not None)
