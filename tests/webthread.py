"""Run a web app of the tool (:class:`newsletter.web.app.Server`) from a thread of the
test, in an event loop of its own, for tests that talk to it over a real socket with a
blocking client (urllib, Selenium). The program itself always serves from the caller's
loop (``start``/``close``)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from newsletter.config import load_config
from newsletter.store import SqliteLedger
from newsletter.web.app import Server
from newsletter.web.unsubscribe import UnsubscribeServer


class Background:
    """``server`` served from a thread until :meth:`stop`."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve()), name="web", daemon=True)

    async def _serve(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        try:
            await self.server.start()
        except BaseException as exc:
            self._error = exc
            self._started.set()
            raise
        self._started.set()
        try:
            await self._stop.wait()
        finally:
            await self.server.close()

    def start(self) -> Background:
        self._thread.start()
        self._started.wait(15)
        if self._error is not None:
            raise self._error
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(timeout=15)
        self.server.socket.close()


@contextmanager
def serving(server: Server) -> Iterator[Server]:
    """``with serving(server):`` the server answers from a thread of its own."""
    running = Background(server).start()
    try:
        yield server
    finally:
        running.stop()


@contextmanager
def endpoint_of(cfg: Path, *, port: int | None = None) -> Iterator[UnsubscribeServer]:
    """The unsubscribe endpoint of the config file ``cfg`` (its ledger made first), on
    ``port`` (None: the config's listen port; 0: a free one), answering from a thread."""
    config = load_config(cfg)
    SqliteLedger.open(config.ledger_path).close()
    server = UnsubscribeServer(config, port=port)
    running = Background(server).start()
    try:
        yield server
    finally:
        running.stop()
