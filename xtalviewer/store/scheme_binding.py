"""Which label scheme a database speaks: chosen when it is made, stored whole in it (so it opens on
any computer, with or without the scheme file), and checked on every open."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from xtalviewer.store.db import StoreError
from xtalviewer.labels import (DEFAULT_SCHEME, LabelScheme, SchemeError, find_scheme_file, load_scheme,
                                    load_scheme_file, scheme_document, scheme_from_document)

if TYPE_CHECKING:
    from xtalviewer.store.store import Store


def bind_scheme(store: Store, scheme: str | LabelScheme | None) -> LabelScheme:
    """The database's label scheme. A new database stores the whole scheme, not only its id, so it
    opens on any computer, with or without the scheme file (``--scheme /path/mylab.json``)."""
    stored = store.get_meta("scheme")
    if isinstance(scheme, LabelScheme):
        wanted = scheme
    elif scheme or stored is None:
        wanted = load_scheme(scheme or DEFAULT_SCHEME)
    else:
        wanted = _stored_scheme(store, stored)
    if stored is None:
        if store.readonly:
            return wanted
        with store.transaction():
            store.set_meta("scheme", wanted.id)
            store.set_meta("scheme_classes", json.dumps(wanted.keys))
            store.set_meta("scheme_doc", json.dumps(scheme_document(wanted)))
        return wanted
    if wanted.id != stored:
        raise StoreError(
            f"database {store.path} uses label scheme '{stored}', not '{wanted.id}'; "
            "open it without choosing a scheme, or use another database"
        )
    stored_keys = json.loads(store.get_meta("scheme_classes") or "[]")
    if stored_keys != wanted.keys:
        raise SchemeError(
            f"label scheme '{wanted.id}' ({wanted.path}) no longer matches database {store.path}: "
            f"the database has classes {stored_keys}, the file has {wanted.keys}"
        )
    if store.get_meta("scheme_doc") is None and not store.readonly:
        _keep_scheme_copy(store, wanted)
    return wanted

def _stored_scheme(store: Store, scheme_id: str) -> LabelScheme:
    """The scheme a database was made with: its file when one with that id still matches (it may
    carry new colours or hotkeys), else the copy stored in the database."""
    stored_keys = json.loads(store.get_meta("scheme_classes") or "[]")
    doc = store.get_meta("scheme_doc")
    found = find_scheme_file(scheme_id)
    from_file = load_scheme_file(found) if found else None
    if from_file is not None and (doc is None or from_file.keys == stored_keys):
        return from_file
    if doc is not None:
        return scheme_from_document(json.loads(doc), scheme_id, f"{store.path} (stored copy)")
    return load_scheme(scheme_id)  # says which schemes it knows

def _keep_scheme_copy(store: Store, scheme: LabelScheme) -> None:
    """Store the scheme in a database made before schemes were stored; skipped while another writes."""
    try:
        with store.transaction():
            store.set_meta("scheme_doc", json.dumps(scheme_document(scheme)))
    except StoreError:
        pass
