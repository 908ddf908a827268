"""Which label scheme a database speaks: chosen when it is made, stored whole in it (so it opens on
any computer, with or without the scheme file), and checked on every open."""

from __future__ import annotations

import json

from xtalviewer.labels import (DEFAULT_SCHEME, LabelScheme, SchemeError, find_scheme_file, load_scheme,
                               load_scheme_file, scheme_document, scheme_from_document)
from xtalviewer.store.db import Database, StoreError


def bind_scheme(db: Database, scheme: str | LabelScheme | None) -> LabelScheme:
    """The database's label scheme. A new database stores the whole scheme, not only its id, so it
    opens on any computer, with or without the scheme file (``--scheme /path/mylab.json``)."""
    stored = db.get_meta("scheme")
    if isinstance(scheme, LabelScheme):
        wanted = scheme
    elif scheme or stored is None:
        wanted = load_scheme(scheme or DEFAULT_SCHEME)
    else:
        wanted = _stored_scheme(db, stored)
    if stored is None:
        if db.readonly:
            return wanted
        with db.transaction():
            db.set_meta("scheme", wanted.id)
            db.set_meta("scheme_classes", json.dumps(wanted.keys))
            db.set_meta("scheme_doc", json.dumps(scheme_document(wanted)))
        return wanted
    if wanted.id != stored:
        raise StoreError(
            f"database {db.location} uses label scheme '{stored}', not '{wanted.id}'; "
            "open it without choosing a scheme, or use another database"
        )
    stored_keys = json.loads(db.get_meta("scheme_classes") or "[]")
    if stored_keys != wanted.keys:
        raise SchemeError(
            f"label scheme '{wanted.id}' ({wanted.path}) no longer matches database {db.location}: "
            f"the database has classes {stored_keys}, the file has {wanted.keys}"
        )
    if db.get_meta("scheme_doc") is None and not db.readonly:
        _keep_scheme_copy(db, wanted)
    return wanted

def _stored_scheme(db: Database, scheme_id: str) -> LabelScheme:
    """The scheme a database was made with: its file when one with that id still matches (it may
    carry new colours or hotkeys), else the copy stored in the database."""
    stored_keys = json.loads(db.get_meta("scheme_classes") or "[]")
    doc = db.get_meta("scheme_doc")
    found = find_scheme_file(scheme_id)
    from_file = load_scheme_file(found) if found else None
    if from_file is not None and (doc is None or from_file.keys == stored_keys):
        return from_file
    if doc is not None:
        return scheme_from_document(json.loads(doc), scheme_id, f"{db.location} (stored copy)")
    return load_scheme(scheme_id)  # says which schemes it knows

def _keep_scheme_copy(db: Database, scheme: LabelScheme) -> None:
    """Store the scheme in a database made before schemes were stored; skipped while another writes."""
    try:
        with db.transaction():
            db.set_meta("scheme_doc", json.dumps(scheme_document(scheme)))
    except StoreError:
        pass
