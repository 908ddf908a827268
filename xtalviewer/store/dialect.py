"""The store's SQL is written once, in the SQLite dialect the store was born with; ``postgres_sql``
rewrites a statement for PostgreSQL where the two differ only in spelling or in a default:

- placeholders: ``?`` -> ``%s``, ``:name`` -> ``%(name)s`` (and a literal ``%`` -> ``%%``);
- ``a IS b`` / ``a IS NOT b`` on values -> ``IS [NOT] DISTINCT FROM`` (SQLite's null-safe compare);
- ``CROSS JOIN t ON ...`` (SQLite's way to fix the join order) -> ``JOIN t ON ...``;
- ``group_concat(x, sep)`` -> ``string_agg(x, sep)``;
- ``INSERT OR IGNORE INTO ...`` -> ``INSERT INTO ... ON CONFLICT DO NOTHING``;
- ``ORDER BY`` terms get SQLite's null order (NULLs first ascending, last descending), which
  PostgreSQL reverses by default: the same "latest inspection" on both engines.

Truth values need no rewriting: SQLite's comparisons are 0/1 and the store sums them
(``SUM(label IS NOT NULL)``); PostgreSQL's schema defines ``sum(boolean)`` with that meaning.
What genuinely differs (the schema, its triggers, PRAGMAs) is written per engine in ``schema.py``,
``schema_postgres.py`` and ``postgres.py``, never translated.
"""

from __future__ import annotations

import re
from functools import lru_cache

_TOKEN = re.compile(
    r"""
    (?P<string>'(?:[^']|'')*')
  | (?P<ident>"(?:[^"]|"")*")
  | (?P<comment>--[^\n]*)
  | (?P<cast>::)
  | (?P<named>:[A-Za-z_][A-Za-z0-9_]*)
  | (?P<word>[A-Za-z_][A-Za-z0-9_$]*)
  | (?P<number>\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)
  | (?P<space>\s+)
  | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)

# words after IS that keep their SQL meaning in PostgreSQL
_IS_KEEP = {"NULL", "TRUE", "FALSE", "UNKNOWN", "DISTINCT", "NOT", "JSON", "DOCUMENT"}
# words that end an ORDER BY list at its own depth
_ORDER_END = {"LIMIT", "OFFSET", "FETCH", "UNION", "EXCEPT", "INTERSECT", "ROWS", "RANGE", "GROUPS",
              "WINDOW", "FOR", "RETURNING"}


def _tokens(sql: str) -> list[list[str]]:
    """[kind, text] pairs; kinds as in _TOKEN."""
    return [[m.lastgroup, m.group()] for m in _TOKEN.finditer(sql)]


def _next_word(tokens: list[list[str]], start: int) -> int:
    """Index of the next token from ``start`` that is not white space or a comment (len when none)."""
    i = start
    while i < len(tokens) and tokens[i][0] in ("space", "comment"):
        i += 1
    return i


def _upper(tokens: list[list[str]], i: int) -> str:
    return tokens[i][1].upper() if i < len(tokens) and tokens[i][0] == "word" else ""


def _rewrite_is(tokens: list[list[str]]) -> None:
    for i, (kind, text) in enumerate(tokens):
        if kind != "word" or text.upper() != "IS":
            continue
        j = _next_word(tokens, i + 1)
        after = _upper(tokens, j)
        if after == "NOT":
            k = _next_word(tokens, j + 1)
            if _upper(tokens, k) not in _IS_KEEP:
                tokens[i][1], tokens[j][1] = "IS DISTINCT", "FROM"
        elif after not in _IS_KEEP:
            tokens[i][1] = "IS NOT DISTINCT FROM"


def _rewrite_order_by(tokens: list[list[str]]) -> None:
    """Add SQLite's null order to every term of every ORDER BY list."""
    i = 0
    while i < len(tokens):
        if _upper(tokens, i) == "ORDER" and _upper(tokens, _next_word(tokens, i + 1)) == "BY":
            i = _mark_terms(tokens, _next_word(tokens, i + 1) + 1)
        else:
            i += 1


def _mark_terms(tokens: list[list[str]], start: int) -> int:
    depth, i, last = 0, start, None  # last: index of the last significant token of the current term

    def close_term() -> None:
        if last is None:
            return
        words = [t[1].upper() for t in tokens[start_of_term:last + 1] if t[0] == "word"]
        if "NULLS" in words:
            return
        tail = words[-1] if words else ""
        tokens[last][1] += " NULLS LAST" if tail == "DESC" else " NULLS FIRST"

    start_of_term = start
    while i < len(tokens):
        kind, text = tokens[i]
        if kind == "other" and text == "(":
            depth += 1
        elif kind == "other" and text == ")":
            if depth == 0:
                break
            depth -= 1
        elif depth == 0 and kind == "other" and text in (",", ";"):
            close_term()
            if text == ";":
                return i + 1
            last, start_of_term = None, i + 1
            i += 1
            continue
        elif depth == 0 and kind == "word" and text.upper() in _ORDER_END:
            break
        if kind not in ("space", "comment"):
            last = i
        i += 1
    close_term()
    return i


def _rewrite_words(tokens: list[list[str]]) -> bool:
    """CROSS JOIN, group_concat, INSERT OR IGNORE; True when ON CONFLICT DO NOTHING must end it."""
    ignore = False
    for i, (kind, text) in enumerate(tokens):
        if kind != "word":
            continue
        word = text.upper()
        if word == "CROSS" and _upper(tokens, _next_word(tokens, i + 1)) == "JOIN":
            tokens[i][1] = ""
        elif word == "GROUP_CONCAT":
            tokens[i][1] = "string_agg"
        elif word == "INSERT":
            j = _next_word(tokens, i + 1)
            k = _next_word(tokens, j + 1)
            if _upper(tokens, j) == "OR" and _upper(tokens, k) == "IGNORE":
                tokens[j][1] = tokens[k][1] = ""
                ignore = True
    return ignore


def _placeholders(tokens: list[list[str]]) -> None:
    for t in tokens:
        kind, text = t
        if kind == "named":
            t[1] = f"%({text[1:]})s"
        elif kind == "other" and text == "?":
            t[1] = "%s"
        elif "%" in text and kind in ("string", "ident", "other", "comment"):
            t[1] = text.replace("%", "%%")


@lru_cache(maxsize=2048)
def postgres_sql(sql: str) -> str:
    """``sql`` (the store's SQLite dialect) as PostgreSQL runs it, with psycopg placeholders."""
    tokens = _tokens(sql)
    ignore = _rewrite_words(tokens)
    _rewrite_is(tokens)
    _rewrite_order_by(tokens)
    _placeholders(tokens)
    out = "".join(t[1] for t in tokens)
    if ignore:
        out = out.rstrip().rstrip(";") + " ON CONFLICT DO NOTHING"
    return out
