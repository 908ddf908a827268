"""Surviving a dropped server connection: a call on the review's path (a label, a second look, the
queue's reads) that finds its connection to PostgreSQL gone reconnects, with a short bounded
back-off, and runs again, without ever writing a label twice.

Why a retry cannot write twice. Each write is one transaction, and the engine (``postgres``) takes
the transaction's id (``txid_current_if_assigned``) just before it sends COMMIT:

- a connection that broke before COMMIT was sent committed nothing (the server rolls back a
  transaction whose client is gone; a session the server has not yet seen die, a network cut, is
  ended by the reconnect): the call simply runs again;
- one that broke while COMMIT was on its way may or may not have committed: after reconnecting,
  the server is asked (``txid_status``) what became of that transaction id. Committed: the call's
  rows are there and are read back by that id (``written``) instead of written again; aborted: the
  call runs again.

When the server cannot be reached within ``RECONNECT_WITHIN_S``, the call raises ``StoreError`` with
one line. A transaction whose fate is still unknown then is remembered with the call (the same
function with the same arguments: a review window's Retry sends the very rows it tried) and is
settled first when that call is made again.

A call inside a transaction the caller opened is not retried on its own (the transaction is lost
with its connection; the caller's error says so). On SQLite there is no connection to lose: calls
run as they are.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from xtalviewer.store.sqlite_file import StoreError

if TYPE_CHECKING:
    from xtalviewer.store.db import Database

RECONNECT_WITHIN_S = 5.0  # how long a call keeps trying before it says the server cannot be reached
BACKOFF_S = (0.0, 0.1, 0.25, 0.5, 1.0)  # pauses before each try; then 1 s apart until the time is up
SETTLE_WITHIN_S = 3.0  # how long a transaction may stay "in progress" on the server after its session ended

F = TypeVar("F", bound=Callable[..., Any])


class StoreConnectionLost(StoreError):
    """The connection to the server broke (or could not be made again). ``xid``: the transaction
    whose COMMIT was in flight, whose outcome the server must be asked (None: nothing was committed).
    ``server_pid``: the server process of the lost session (ended on reconnecting if it lingers)."""

    def __init__(self, message: str, *, xid: int | None = None, server_pid: int | None = None):
        super().__init__(message)
        self.xid, self.server_pid = xid, server_pid


def _pauses(deadline: float) -> Iterator[float]:
    """The back-off: short pauses first (a restarted server or a reset connection is back at once),
    then one a second, while time is left."""
    for pause in BACKOFF_S:
        if time.monotonic() + pause > deadline:
            return
        yield pause
    while time.monotonic() + BACKOFF_S[-1] <= deadline:
        yield BACKOFF_S[-1]


def _call_key(call: Callable, args: tuple, kwargs: dict) -> str:
    """Which call this is, for remembering one whose commit's fate is unknown: the function and its
    arguments as written (a retry with the same rows is the same call)."""
    return f"{call.__module__}.{call.__qualname__}{args!r}{sorted(kwargs.items())!r}"


def reconnecting(call: F | None = None, *, written: Callable[..., Any] | None = None) -> F:
    """Make a store function (``db`` first) survive a dropped server connection, as above.

    ``written(db, xid, *args, **kwargs)``: what the call returns when its transaction turns out to
    have committed before the connection broke (a label's new ids, read back by that transaction);
    without it such a call returns None (a write that returns nothing)."""
    if call is None:
        return functools.partial(reconnecting, written=written)  # type: ignore[return-value]

    @functools.wraps(call)
    def run(db: Database, *args: Any, **kwargs: Any) -> Any:
        if not db.engine.reconnects or db.transaction_depth or db.retrying:
            return call(db, *args, **kwargs)
        db.retrying = True  # a store function calling another: only the outer one retries
        try:
            return _with_retries(db, call, written, args, kwargs)
        finally:
            db.retrying = False

    return run  # type: ignore[return-value]


def _with_retries(db: Database, call: Callable, written: Callable | None, args: tuple, kwargs: dict) -> Any:
    key = _call_key(call, args, kwargs) if db.unsettled else None
    lost: StoreConnectionLost | None = db.unsettled.pop(key, None) if key else None
    reason: StoreConnectionLost | None = lost
    for pause in _pauses(time.monotonic() + RECONNECT_WITHIN_S):
        time.sleep(pause)
        if lost is not None or db.engine.broken(db):
            try:
                db.engine.reconnect(db, lost.server_pid if lost else None)
                if lost is not None and lost.xid is not None:
                    if db.engine.committed(db, lost.xid, within=SETTLE_WITHIN_S):
                        return written(db, lost.xid, *args, **kwargs) if written else None
            except StoreConnectionLost as exc:  # still unreachable (or broke again while asking)
                reason = exc
                continue
            lost = None  # reconnected, and whatever was in flight did not commit
        try:
            return call(db, *args, **kwargs)
        except StoreConnectionLost as exc:
            lost = reason = exc
    unknown = lost is not None and lost.xid is not None
    if unknown:
        db.unsettled[_call_key(call, args, kwargs)] = lost
    why = str(reason) if reason is not None else f"database {db.location}: the connection to the server was lost"
    raise StoreError(
        f"{why.rstrip('.')}; tried again for {RECONNECT_WITHIN_S:g} s without reaching it; "
        + ("whether the last change reached the server is not known: it is checked before it is written again"
           if unknown else "nothing was written")) from None
