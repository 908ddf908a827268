"""Names from outside (file and folder names, CSV cells) made safe to show. A file named with a
terminal escape sequence must not recolour, retitle or clear the terminal that ``import`` prints it
to, a NUL or ESC must not reach an HTML report, and a name whose bytes are not UTF-8 must not stop
a message from being printed or written.
"""

from __future__ import annotations

import os
import unicodedata

# control (C0, DEL, C1), format (bidi overrides, zero-width), surrogate, line and paragraph separators
_ESCAPED_CATEGORIES = {"Cc", "Cf", "Cs", "Zl", "Zp"}


def _escaped(ch: str) -> str:
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8, kept by os.fsdecode as a lone surrogate
        return f"\\x{code - 0xDC00:02x}"
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def printable(text: str | bytes | os.PathLike | None) -> str:
    """``text`` (a path, or any text from outside) with every control, format or separator character
    written as its escape (ESC as ``\\x1b``, a new line as ``\\x0a``, RIGHT-TO-LEFT OVERRIDE as
    ``\\u202e``, an undecodable byte as ``\\xff``); everything else, spaces and backslashes too, as it is."""
    if text is None:
        return ""
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    elif not isinstance(text, str):
        text = os.fspath(text)
        text = os.fsdecode(text) if isinstance(text, bytes) else text
    if text.isprintable():
        return text
    return "".join(_escaped(ch) if unicodedata.category(ch) in _ESCAPED_CATEGORIES else ch for ch in text)
