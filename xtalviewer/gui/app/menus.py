"""Menus and shortcuts made from the action table (``review/actions.py``), and the Model menu's list
of registered models. A triggered action runs against the window's session with the window as its
``ReviewView``."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu

from xtalviewer.crystal_call import pct
from xtalviewer.model.metrics import HEADLINE
from xtalviewer.review.actions import MENUS, Action, ReviewView
from xtalviewer.review.session import ReviewSession
from xtalviewer.store.rows import Model


def install_actions(window: QMainWindow, actions: list[Action],
                    session: ReviewSession) -> tuple[dict[str, QAction], dict[str, QMenu]]:
    """One QAction per table entry with a ``run``, in its menu, its shortcut live in the whole window;
    it runs ``run(session, window)`` (the window is the ``ReviewView``). Returns the actions and the
    menus by name ('&Edit', '&Review/Filter by label', …)."""
    view: ReviewView = window
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
        a.setAutoRepeat(spec.repeats)  # a held label key (or Return after a dialog) labels one drop, not twenty
        a.setCheckable(spec.checkable)
        if spec.checkable:  # hand the new state over explicitly: Qt's own slots take no default
            a.triggered.connect(lambda _=False, act=a, run=spec.run: run(session, view, act.isChecked()))
        else:
            a.triggered.connect(lambda _=False, run=spec.run: run(session, view))
        if spec.group:
            groups.setdefault(spec.group, QActionGroup(window)).addAction(a)
        window.addAction(a)
        if spec.menu:
            if spec.separator:
                menu(spec.menu).addSeparator()
            menu(spec.menu).addAction(a)
        made[spec.name] = a
    return made, menus


def set_shortcuts(made: dict[str, QAction], actions: list[Action]) -> None:
    """The installed actions take the keys of a new table (Preferences changed the label keys)."""
    for spec in actions:
        if spec.name in made:
            made[spec.name].setShortcuts([QKeySequence(k) for k in spec.keys])


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


def show_undo_state(undo: QAction, redo: QAction, items: tuple[tuple[str, bool], tuple[str, bool]]) -> None:
    """Edit > Undo / Redo as the session words them (``ReviewSession.undo_redo_items``)."""
    for action, (text, on) in zip((undo, redo), items):
        action.setText(text)
        action.setEnabled(on)
