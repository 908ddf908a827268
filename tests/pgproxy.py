"""A TCP relay between the store and the throwaway PostgreSQL server that can cut the connection at
the worst moment, as a network fault would: just before the server gets a COMMIT, or just after
the server answered it (the change committed, the client never hears so), and that can refuse new
connections for a while (the server unreachable). The bytes in between pass untouched."""

from __future__ import annotations

import socket
import threading
from urllib.parse import urlsplit, urlunsplit

COMMIT = b"COMMIT\x00"  # a simple-protocol query message's text, as psycopg sends ``COMMIT``


class Relay:
    """``Relay(server_url)``; ``url`` points a store through it. ``cut_at_commit("before"|"after")``
    arms one cut; ``refuse = True`` closes every new connection at once; ``cut_all()`` ends the open
    ones."""

    def __init__(self, server_url: str):
        parts = urlsplit(server_url)
        self.target = (parts.hostname, parts.port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        port = self.listener.getsockname()[1]
        self.url = urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{port}"))
        self.refuse = False
        self.cuts = 0  # cuts made so far
        self._armed: str | None = None
        self._then_refuse = False
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def cut_at_commit(self, when: str, *, then_refuse: bool = False) -> None:
        """Cut the next COMMIT ``before`` the server gets it or ``after`` it answered; ``then_refuse``:
        and refuse new connections from that moment (the server out of reach)."""
        assert when in ("before", "after")
        self._then_refuse = then_refuse
        self._armed = when

    def cut_all(self) -> None:
        with self._lock:
            for s in self._open:
                _close(s)
            self._open.clear()

    def close(self) -> None:
        _close(self.listener)
        self.cut_all()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.refuse:
                _close(client)
                continue
            try:
                server = socket.create_connection(self.target)
            except OSError:
                _close(client)
                continue
            with self._lock:
                self._open += [client, server]
            pair = {"swallow": False}
            threading.Thread(target=self._upstream, args=(client, server, pair), daemon=True).start()
            threading.Thread(target=self._downstream, args=(server, client, pair), daemon=True).start()

    def _upstream(self, client: socket.socket, server: socket.socket, pair: dict) -> None:
        while data := _recv(client):
            when = self._armed
            if when and COMMIT in data:
                self._armed = None
                self.cuts += 1
                self.refuse = self.refuse or self._then_refuse
                if when == "before":  # the server never gets the COMMIT: the transaction dies with the link
                    _close(client)
                    _close(server)
                    return
                pair["swallow"] = True  # the server gets it; its answer is lost
            try:
                server.sendall(data)
            except OSError:
                break
        _close(server)

    def _downstream(self, server: socket.socket, client: socket.socket, pair: dict) -> None:
        while data := _recv(server):
            if pair["swallow"]:  # COMMIT's answer: the change is committed, the client never hears it
                _close(client)
                _close(server)
                return
            try:
                client.sendall(data)
            except OSError:
                break
        _close(client)


def _recv(s: socket.socket) -> bytes:
    try:
        return s.recv(65536)
    except OSError:
        return b""


def _close(s: socket.socket) -> None:
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    s.close()
