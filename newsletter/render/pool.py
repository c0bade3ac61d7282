"""Rendering in worker processes for a large pass (see :mod:`newsletter.delivery.service`).

Each worker is ``python -m newsletter.render.pool``, fed over its stdin and
answering on its stdout in length-prefixed pickle frames: first the pass's own
:class:`~newsletter.config.Config` (so it is the very configuration of the pass, not
the file re-read) and the ledger's spool directory, then batches of :class:`Job` (each
paper sent to a worker once, then named by its place: :data:`WireBatch`); each answer is
the batch's ``(Message-ID, bytes, crlf, fitted)`` made by :func:`render_job`, the function the
in-process path calls too (one render path).

With a spool directory (a SQLite ledger, :mod:`newsletter.store.spool`), the worker
appends the batch's bytes to a spool file of its own, makes them durable, and answers
with where they are instead of the bytes: a message crosses no pipe and is never written
into the ledger's log; the pass reads it back from the page cache for the SMTP session
(:class:`RenderedMessage` ``spooled``). A worker that cannot write its spool (a full disk)
answers the error, and the pass renders the rest in its own process, as for a worker
that died.

Why not :class:`concurrent.futures.ProcessPoolExecutor`: its pipes, feeder thread and
named semaphores belong to ``multiprocessing``, whose children print an
``UnpicklingError``/``EOFError`` traceback when the parent dies while feeding them,
whose resource tracker warns about leaked semaphores after a SIGKILL, and whose
``submit`` raises ``BrokenProcessPool`` once one child died. Here every byte a
worker reads and writes is ours: a worker ends quietly on end of input (the parent
gone, however it went: its stdin closes), ignores SIGINT (the parent shuts it down
after its SMTP transactions), and a worker that dies makes its batch fail with
:class:`RenderWorkerError`, which the pass answers by rendering in its own process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import pickle
import signal
import struct
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, NamedTuple

from newsletter.base.wire import crlf_lines
from newsletter.config import Config, Subscriber
from newsletter.digest import Paper
from newsletter.matching import Hit, Match
from newsletter.render.dkim import signer_for
from newsletter.render.spawn import EarlyWorkers, worker_command, worker_env
from newsletter.store.spool import Spooled, SpoolError, SpoolWriter, read_spooled

if TYPE_CHECKING:  # imported by the worker itself: the sending process need not load the templates' machinery
    from newsletter.render import Renderer

log = logging.getLogger(__name__)

_HEADER = struct.Struct(">Q")


class RenderedMessage(NamedTuple):
    """One rendered delivery: its Message-ID, bytes and whether all their line breaks are
    CRLF (:func:`~newsletter.base.wire.crlf_lines`); ``spooled``: where a render worker
    wrote the bytes (:mod:`newsletter.store.spool`), None when rendered in this process;
    ``fitted``: what :class:`~newsletter.render.fit.Fit` says when the HTML part was
    rendered again to fit Gmail's clip, else None."""

    message_id: str
    data: bytes
    crlf: bool
    spooled: Spooled | None = None
    fitted: str | None = None  # how the HTML part was fitted under Gmail's clip (render.fit), said once


Rendered = list[RenderedMessage]


@dataclass(frozen=True, slots=True)
class Job:
    """One email to render: the subscriber, its papers, the Message-ID salt."""

    subscriber: Subscriber
    matches: list[Match]
    salt: str


def render_job(renderer: Renderer, job: Job) -> RenderedMessage:
    """The Message-ID and the bytes of one delivery (DKIM-signed with ``dkim`` set), and
    whether all their line breaks are CRLF (:func:`~newsletter.base.wire.crlf_lines`,
    checked here, on the render worker's core, not by the SMTP sessions): the one render
    path, used in this process and in the render workers alike."""
    message_id = renderer.message_id(job.subscriber, job.matches, salt=job.salt)
    email = renderer.render(job.subscriber, job.matches, message_id=message_id)
    data = email.as_bytes()
    signer = signer_for(renderer.config)
    if signer is not None:
        data = signer.sign(data)  # signed once: the ledger keeps these bytes
    fitted = email.fit.describe() if email.fit is not None else None
    return RenderedMessage(message_id, data, crlf_lines(data), fitted=fitted)


class RenderWorkerError(Exception):
    """A render worker died or answered nonsense (the batch is rendered in-process)."""


def _frame(obj: Any) -> bytes:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(data)) + data


# A batch on the wire: the papers this worker has not seen yet, then each job with its
# papers named by their place in the worker's table (a paper goes to a worker once per
# pass, not once per email that holds it: pickling a Paper is most of a job's cost).
WireMatch = tuple[int, int, tuple[Hit, ...], int]  # (paper's place, score, hits, position)
WireBatch = tuple[list[Paper], list[tuple[Subscriber, list[WireMatch], str]]]


class _Adopted:
    """A worker started early (:class:`~newsletter.render.spawn.EarlyWorkers`, a plain
    :class:`subprocess.Popen`) with asyncio streams on its pipes: what :class:`_Worker`
    uses of an :class:`asyncio.subprocess.Process`."""

    def __init__(self, popen: subprocess.Popen[bytes], stdin: asyncio.StreamWriter, stdout: asyncio.StreamReader):
        self.popen = popen
        self.pid = popen.pid
        self.stdin: asyncio.StreamWriter | None = stdin
        self.stdout: asyncio.StreamReader | None = stdout

    @classmethod
    async def adopt(cls, popen: subprocess.Popen[bytes]) -> _Adopted:
        assert popen.stdin is not None and popen.stdout is not None
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), popen.stdout)
        transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, popen.stdin)
        return cls(popen, asyncio.StreamWriter(transport, protocol, None, loop), reader)

    @property
    def returncode(self) -> int | None:
        return self.popen.poll()

    async def wait(self) -> int:
        return await asyncio.to_thread(self.popen.wait)

    def kill(self) -> None:
        self.popen.kill()


class _Worker:
    def __init__(self, proc: asyncio.subprocess.Process | _Adopted, number: int) -> None:
        self.proc = proc
        self.number = number
        self.places: dict[int, int] = {}  # id(paper) -> its place in the worker's table
        self.sent: list[Paper] = []  # the papers handed over (kept alive: their ids stay theirs)

    def batch(self, jobs: list[Job]) -> WireBatch:
        """``jobs`` as this worker reads them (see :data:`WireBatch`)."""
        new: list[Paper] = []
        wire = []
        for job in jobs:
            matches = []
            for m in job.matches:
                place = self.places.get(id(m.paper))
                if place is None:
                    place = self.places[id(m.paper)] = len(self.sent)
                    self.sent.append(m.paper)
                    new.append(m.paper)
                matches.append((place, m.score, m.hits, m.position))
            wire.append((job.subscriber, matches, job.salt))
        return new, wire

    async def call(self, payload: bytes) -> Any:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write(payload)
            await self.proc.stdin.drain()
            size = _HEADER.unpack(await self.proc.stdout.readexactly(_HEADER.size))[0]
            return pickle.loads(await self.proc.stdout.readexactly(size))
        except (
            OSError,
            EOFError,
            asyncio.IncompleteReadError,
            pickle.UnpicklingError,
            struct.error,
            AttributeError,
        ) as exc:
            code = self.proc.returncode
            raise RenderWorkerError(
                f"render worker {self.proc.pid} died" + (f" (exit {code})" if code is not None else "") + f": {exc!r}"
            ) from None


class RenderPool:
    """``workers`` render processes; :meth:`start` them while the pass plans, then
    :meth:`submit` batches. At most one batch per worker is rendering; the others
    wait their turn in this process."""

    def __init__(self, config: Config, workers: int, *, spool: Path | None = None) -> None:
        self.config = config
        self.workers = workers
        self.spool = spool
        self._procs: list[_Worker] = []
        self._idle: asyncio.Queue[_Worker] = asyncio.Queue()
        self._config_frame = _frame((config, spool))
        self._ready: list[asyncio.Task[None]] = []
        self._alive = 0
        self._none_left = asyncio.Event()

    def _lost(self, worker: _Worker, why: object) -> None:
        log.warning("%s", why)
        self._alive -= 1
        if self._alive <= 0:
            self._none_left.set()

    async def start(self, early: EarlyWorkers | None = None) -> None:
        """Start the workers (taking those of ``early``, started before the pass, first)."""
        adopted = [await _Adopted.adopt(popen) for popen in (early.take() if early is not None else [])]
        env = worker_env()
        for number in range(max(self.workers, len(adopted))):
            proc: asyncio.subprocess.Process | _Adopted
            if number < len(adopted):
                proc = adopted[number]
            else:
                proc = await asyncio.create_subprocess_exec(
                    *worker_command(), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=env
                )
            worker = _Worker(proc, number)
            self._procs.append(worker)
            self._alive += 1
            self._ready.append(asyncio.ensure_future(self._hello(worker)))

    async def _hello(self, worker: _Worker) -> None:
        """Hand the worker its configuration; it answers when its renderer is built."""
        try:
            answer = await worker.call(self._config_frame)
        except RenderWorkerError as exc:
            self._lost(worker, exc)
            return
        if answer == "ready":
            self._idle.put_nowait(worker)
        else:
            self._lost(worker, f"render worker {worker.proc.pid} could not start: {answer!r}")

    async def render(self, jobs: list[Job]) -> Rendered:
        """The batch rendered by the next idle worker (RenderWorkerError if it dies, or
        when no worker is left)."""
        idle = asyncio.ensure_future(self._idle.get())
        none_left = asyncio.ensure_future(self._none_left.wait())
        try:
            await asyncio.wait({idle, none_left}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            none_left.cancel()
            if not idle.done():
                idle.cancel()
        if idle.cancelled() or not idle.done():
            raise RenderWorkerError("no render worker left")
        worker = idle.result()
        try:
            answer = await worker.call(_frame(worker.batch(jobs)))
        except RenderWorkerError as exc:
            self._lost(worker, exc)
            raise
        self._idle.put_nowait(worker)
        if isinstance(answer, BaseException):
            raise RenderWorkerError(f"render worker failed: {answer}")
        return self._unspooled(answer)

    def _unspooled(self, answer: list[tuple[str, bytes | Spooled, bool, str | None]]) -> Rendered:
        """The answer with spooled bytes read back (the page cache: the worker just wrote them)."""
        refs = [data for _, data, _, _ in answer if isinstance(data, Spooled)]
        read = iter(self._read_back(refs) if refs else [])
        return [
            RenderedMessage(m, next(read), crlf, data, fitted)
            if isinstance(data, Spooled)
            else RenderedMessage(m, data, crlf, fitted=fitted)
            for m, data, crlf, fitted in answer
        ]

    def _read_back(self, refs: list[Spooled]) -> list[bytes]:
        if self.spool is None:
            raise RenderWorkerError("render worker answered spool references, and this pass has no spool")
        try:
            return read_spooled(self.spool, refs)
        except SpoolError as exc:
            raise RenderWorkerError(f"a render worker's spool cannot be read back: {exc}") from None

    def submit(self, jobs: list[Job]) -> asyncio.Future[Rendered]:
        return asyncio.ensure_future(self.render(jobs))

    async def aclose(self) -> None:
        """End every worker (end of input; killed after 5 s) and wait for them."""
        for task in self._ready:
            task.cancel()
        drains = []
        for worker in self._procs:
            if worker.proc.stdin is not None:
                with contextlib.suppress(OSError):
                    worker.proc.stdin.close()
            if worker.proc.stdout is not None:  # an answer nobody awaits: read to the end, so the pipe closes
                drains.append(asyncio.ensure_future(_discard(worker.proc.stdout)))
        for worker in self._procs:
            try:
                await asyncio.wait_for(worker.proc.wait(), 5)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    worker.proc.kill()
                await worker.proc.wait()
        for drain in drains:
            drain.cancel()
        self._procs = []


async def _discard(stream: asyncio.StreamReader) -> None:
    with contextlib.suppress(OSError, asyncio.CancelledError):
        while await stream.read(1 << 16):
            pass


# --------------------------------------------------------------------------- the worker


def _read(stream: BinaryIO) -> Any:
    head = stream.read(_HEADER.size)
    if len(head) < _HEADER.size:
        raise EOFError
    size = _HEADER.unpack(head)[0]
    data = stream.read(size)
    if len(data) < size:
        raise EOFError
    return pickle.loads(data)


def _write(stream: BinaryIO, obj: Any) -> None:
    stream.write(_frame(obj))
    stream.flush()


def _answer(renderer: Renderer, writer: SpoolWriter | None, jobs: list[Job]) -> Any:
    """A batch rendered: ``(Message-ID, bytes or where they are spooled, crlf, fitted)``
    each, or the exception (a failed render, a spool that cannot be written)."""
    try:
        rendered = [render_job(renderer, job) for job in jobs]
        if writer is None:
            return [(r.message_id, r.data, r.crlf, r.fitted) for r in rendered]
        try:
            refs = writer.append([r.data for r in rendered])  # durable before the pass records it
        except OSError as exc:
            return RenderWorkerError(f"cannot write the message spool {writer.directory}: {exc.strerror or exc}")
        return [(r.message_id, ref, r.crlf, r.fitted) for r, ref in zip(rendered, refs, strict=True)]
    except Exception as exc:
        return RenderWorkerError(f"{type(exc).__name__}: {exc}")


def worker_main() -> int:
    """A render worker: configuration first, then batches, until end of input. It never
    prints a traceback: the parent gone (end of input, a broken pipe) ends it quietly;
    a failed render is sent back as the exception."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the parent, which shuts us down
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing but frames on the pipe
    try:
        from newsletter.render import Renderer

        config, spool = _read(stdin)
        renderer = Renderer(config)
        writer = SpoolWriter(spool) if spool is not None else None
        _write(stdout, "ready")
        papers: list[Paper] = []
        while True:
            new, wire = _read(stdin)
            papers.extend(new)
            jobs = [
                Job(sub, [Match(papers[i], score, hits, pos) for i, score, hits, pos in ms], salt)
                for sub, ms, salt in wire
            ]
            _write(stdout, _answer(renderer, writer, jobs))
    except (EOFError, OSError, pickle.UnpicklingError, struct.error):
        return 0
    except Exception as exc:
        with contextlib.suppress(OSError):
            _write(stdout, RenderWorkerError(f"{type(exc).__name__}: {exc}"))
        return 1


if __name__ == "__main__":
    # run as the module itself, not as __main__: what the worker pickles (RenderWorkerError,
    # Spooled, RenderedMessage) must unpickle in the parent under its real module name
    from newsletter.render.pool import worker_main as main

    sys.exit(main())
