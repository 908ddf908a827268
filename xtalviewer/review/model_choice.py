"""Which model a review session follows: the user's preferred one when the store has it, and a
model activated from the Model menu, the Retrain dialog or a recalibration (the store, the user's
default and the session at once, and what must then be scored). No Qt."""

from __future__ import annotations

from typing import TYPE_CHECKING

from xtalviewer.settings import Settings
from xtalviewer.store.rows import Model
from xtalviewer.store.store import Store

if TYPE_CHECKING:
    from xtalviewer.review.session import ReviewSession


def chosen_model(store: Store, preferred: int | None) -> Model | None:
    """The user's preferred model when this database has it, else the database's active model."""
    found = store.model(preferred) if preferred is not None else None
    from xtalviewer.model.registry import current_model  # torch only when a model must be found

    return found or current_model(store)


def activate_model(session: ReviewSession, model_id: int, settings: Settings) -> int | None:
    """``model_id`` becomes the store's active model and the user's default (``settings``, to be
    saved); the session follows it and reads its queue again. Returns the plate to score with it
    (the open one; None: nothing open). A model that cannot be activated (trained into NaN) raises
    ``RegistryError`` with nothing changed."""
    from xtalviewer.model.registry import activate_model as activate_in_store, current_model

    activate_in_store(session.store, model_id)
    settings.default_model = model_id
    session.set_model(current_model(session.store))
    session.reload()
    return session.inspection.plate_id if session.inspection is not None and session.model is not None else None


def follow_activation(session: ReviewSession, model_id: int, settings: Settings) -> Model | None:
    """Another workstation made ``model_id`` the store's active model: the session follows it and
    reads its queue again, and so does the user's default when they had one (``settings``, to be
    saved). Returns the model followed; None when the session already shows it or the store lost it."""
    model = session.store.model(model_id)
    if model is None or model.id == session.model_id:
        return None
    if settings.default_model is not None:
        settings.default_model = model.id
    session.set_model(model)
    session.reload()
    return model
