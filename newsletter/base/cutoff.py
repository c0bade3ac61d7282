"""A deadline for a whole exchange on a socket. A socket's timeout bounds each read, so a
peer that drips its answer (a byte, a header line, every few seconds) holds the reader for
as long as it likes. :class:`SocketDeadline` shuts the socket down when the time is up
inside its ``with`` block: the blocked read ends at once and ``expired`` says why. Used by
the IMAP bounce mailbox (each command) and the fetch client (each answer)."""

from __future__ import annotations

import contextlib
import socket
import threading


class SocketDeadline:
    """Shuts the socket down ``seconds`` after the ``with`` block starts. The socket can be
    given at once or learnt later (:meth:`attach`, e.g. when the connection opens); one
    attached after the time is up is shut down at once."""

    def __init__(self, seconds: float, sock: socket.socket | None = None) -> None:
        self.expired = False
        self._sock = sock
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> SocketDeadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()

    def attach(self, sock: socket.socket) -> None:
        with self._lock:
            self._sock = sock
            late = self.expired
        if late:
            _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            sock = self._sock
        if sock is not None:
            _shut(sock)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # closed already
        sock.shutdown(socket.SHUT_RDWR)
