"""The review window's dialogs: Plots, the hit list, Retrain, Preferences, About and the ? list,
opened beside it by name (``open_dialog``, as the window's ``ReviewView.open_dialog`` is asked), and
the one line of text a command may ask for (``ask_text``)."""

from __future__ import annotations

from PySide6.QtWidgets import QInputDialog, QLineEdit, QMainWindow, QMessageBox, QWidget

from xtalviewer.gui.app.about import about_text


def open_dialog(window: QMainWindow, dialog: str) -> None:
    """Open ``dialog`` beside the window, or bring forward the one opened before where one at a time
    is enough; ``window.open_dialogs`` keeps the last of each name. "shortcuts" shows or hides the ? list."""
    if dialog == "shortcuts":
        window.overlay.toggle()
        return
    openers = {"plots": open_plots, "hits": open_hits, "retrain": open_retrain, "preferences": preferences,
               "about": about, "watch": lambda w, open_one: w.watching.open_folders(open_one)}
    opened = openers[dialog](window, window.open_dialogs.get(dialog))
    if opened is not None:  # a modal one is closed again
        window.open_dialogs[dialog] = opened


def ask_text(window: QMainWindow, title: str, question: str) -> str | None:
    """One line from the reviewer (may be empty); None: cancelled. The keys come back to the window."""
    text, ok = QInputDialog.getText(window, title, question, QLineEdit.EchoMode.Normal, "")
    window.activateWindow()
    return text if ok else None


def _brought_forward(open_one: QWidget | None) -> bool:
    """Raise the dialog opened before, when it is still open."""
    try:
        if open_one is not None and open_one.isVisible():
            open_one.raise_()
            open_one.activateWindow()
            return True
    except RuntimeError:  # deleted when it closed
        pass
    return False


def open_plots(window: QMainWindow, open_one: QWidget | None = None):
    """Label counts per plate, model vs reviewers, the crystal map of the inspection on screen, the
    chemistry that crystallises; a click on the map goes to the drop, a click on a Conditions bar
    filters the queue to the wells of that component or pH."""
    from xtalviewer.gui.plots.dialog import PlotsDialog

    inspection = window.inspection
    dialog = PlotsDialog(window.db_path, parent=window, inspection_id=inspection.id if inspection else None)
    dialog.drop_clicked.connect(window.go_to_image)
    dialog.condition_chosen.connect(lambda changes: window.requeue(**changes))  # a Conditions bar: its wells
    dialog.show()
    return dialog


def open_retrain(window: QMainWindow, open_one: QWidget | None = None):
    """One Retrain dialog at a time: a second Ctrl+T brings the open one forward."""
    from xtalviewer.gui.retrain.dialog import RetrainDialog

    if _brought_forward(open_one):
        return open_one
    dialog = RetrainDialog(window.db_path, window.settings, window)
    dialog.model_activated.connect(window.activate_model)  # follow it: menu, grid, rescoring
    dialog.show()
    return dialog


def preferences(window: QMainWindow, open_one: QWidget | None = None) -> None:
    """Edit the preferences; OK puts them into effect at once (``window.apply_settings``)."""
    from xtalviewer.gui.app.preferences import PreferencesDialog
    from xtalviewer.imaging.thumbnails import thumbnail_folder_problem

    def folder_problem(folder: str) -> str | None:  # the store says whether plate images lie under it
        return thumbnail_folder_problem(folder, window.store.image_path_under)

    dialog = PreferencesDialog(window.settings, window.scheme, window.store.models(), window, folder_problem,
                               image_roots=list(window.store.defined_image_roots()))
    if dialog.exec() and dialog.result_settings is not None:
        window.apply_settings(dialog.result_settings)


def about(window: QMainWindow, open_one: QWidget | None = None) -> None:
    QMessageBox.about(window, "About xtalviewer", about_text(window.db_path))


def open_hits(window: QMainWindow, open_one: QWidget | None = None, new_since_look: bool | None = None):
    """The hit list beside the review window (one at a time, read again when brought forward); Enter
    on a row opens that drop in its plate. Opening it is the reviewer's look: what became a hit since
    the previous one is marked, and listed alone (``new_since_look``; None: when the watcher announced
    new hits since)."""
    from xtalviewer.gui.plate.hit_list import HitListDialog, take_last_look

    if new_since_look is None:
        new_since_look = window.watching.unseen_hits > 0
    last_look = take_last_look(window.settings)
    window.save_settings()
    window.watching.hits_seen()
    if _brought_forward(open_one):
        if new_since_look and not open_one.since_look.isChecked():
            open_one.since_look.setChecked(True)  # which reads the list again
        else:
            open_one.reload()
        return open_one
    dialog = HitListDialog(window.db_path, window.scheme, window, last_look=last_look, new_since_look=new_since_look)
    dialog.drop_chosen.connect(window.go_to_image)
    dialog.show()
    return dialog
