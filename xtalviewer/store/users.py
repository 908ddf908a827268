"""Who is labelling: every annotation names its annotator."""

from __future__ import annotations

import getpass
import os


def default_annotator() -> str:
    """The OS user name, the sensible default until the person says otherwise."""
    try:
        name = getpass.getuser()
    except Exception:  # no passwd entry (containers) and no LOGNAME/USER
        name = os.environ.get("USERNAME", "")
    return name.strip() or "unknown"
