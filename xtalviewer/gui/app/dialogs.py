"""The review window's dialogs: Plots, Retrain, Preferences and About, opened beside it."""

from __future__ import annotations

from PySide6.QtWidgets import QMainWindow, QMessageBox

from xtalviewer.gui.app.about import about_text


def open_plots(window: QMainWindow):
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


def open_retrain(window: QMainWindow, open_one=None):
    """One Retrain dialog at a time: a second Ctrl+T brings the open one forward."""
    from xtalviewer.gui.retrain.dialog import RetrainDialog

    try:
        if open_one is not None and open_one.isVisible():
            open_one.raise_()
            open_one.activateWindow()
            return open_one
    except RuntimeError:  # deleted when it closed
        pass
    dialog = RetrainDialog(window.db_path, window.settings, window)
    dialog.model_activated.connect(window.activate_model)  # follow it: menu, grid, rescoring
    dialog.show()
    return dialog


def preferences(window: QMainWindow) -> None:
    """Edit the preferences; OK puts them into effect at once (``window.apply_settings``)."""
    from xtalviewer.gui.app.preferences import PreferencesDialog
    from xtalviewer.imaging.thumbnails import thumbnail_folder_problem

    def folder_problem(folder: str) -> str | None:  # the store says whether plate images lie under it
        return thumbnail_folder_problem(folder, window.store.image_path_under)

    dialog = PreferencesDialog(window.settings, window.scheme, window.store.models(), window, folder_problem)
    if dialog.exec() and dialog.result_settings is not None:
        window.apply_settings(dialog.result_settings)


def about(window: QMainWindow) -> None:
    QMessageBox.about(window, "About xtalviewer", about_text(window.db_path))


def open_hits(window: QMainWindow):
    """The hit list beside the review window; Enter on a row opens that drop in its plate."""
    from xtalviewer.gui.plate.hit_list import HitListDialog

    found = getattr(window, "_hits", None)
    try:
        if found is not None and found.isVisible():
            found.raise_()
            found.activateWindow()
            found.reload()
            return found
    except RuntimeError:  # deleted
        pass
    dialog = HitListDialog(window.db_path, window.scheme, window)
    dialog.drop_chosen.connect(window.go_to_image)
    dialog.show()
    window._hits = dialog
    return dialog
