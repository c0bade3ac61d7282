"""A small misbehaving IMAP server (asyncio, plaintext on 127.0.0.1) for the faults a
real Dovecot does not produce on demand: the connection dropped in the middle of a
FETCH literal, a FETCH never answered (a server that hangs), answered a byte at
a time (a server that drips), or with a literal far larger than the partial fetch asked.

It speaks just the IMAP4rev1 that :mod:`imaplib` and the bounce mailbox use:
CAPABILITY, LOGIN, SELECT, UID SEARCH, UID FETCH (``UID``, ``RFC822.SIZE``,
``BODY.PEEK[]``, ``BODY.PEEK[HEADER]`` and ``BODY.PEEK[TEXT]``, with ``<0.N>``
partials), UID STORE/COPY/MOVE, CREATE, EXPUNGE, CLOSE, NOOP, LOGOUT. Messages
live in folders (``INBOX`` first); what the client moved where is inspectable.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from tests.smtpd import free_port


@dataclass
class Mail:
    uid: int
    data: bytes
    flags: set[str] = field(default_factory=set)


@dataclass
class ImapFaults:
    drop_fetch: int | None = None  # the Nth FETCH of a message's bytes is cut mid-literal (1-based)
    hang_fetch: int | None = None  # the Nth FETCH of a message's bytes is never answered
    drip_fetch: int | None = None  # the Nth FETCH of a message's bytes is answered a byte every 0.1 s
    huge_literal: int | None = None  # from the Nth FETCH of a message's bytes on, a 1 GiB literal is announced


_ITEM = re.compile(r"BODY\.PEEK\[(HEADER|TEXT|)\](?:<(\d+)\.(\d+)>)?|RFC822\.SIZE|UID", re.IGNORECASE)


class FaultyImap:
    """The server; ``folders`` maps a folder name to its messages."""

    def __init__(self, messages: list[bytes], faults: ImapFaults | None = None) -> None:
        self.faults = faults or ImapFaults()
        self.folders: dict[str, list[Mail]] = {"INBOX": [Mail(i + 1, m) for i, m in enumerate(messages)]}
        self.next_uid = len(messages) + 1
        self.fetches = 0  # FETCH commands that asked for a message's bytes
        self.dripped = 0  # bytes of the dripped answer (ImapFaults.drip_fetch) out before the client left
        self.drip_total = 0  # bytes the dripped answer has
        self.sessions = 0
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.lock = threading.Lock()

    # ------------------------------------------------------------------ life

    def start(self) -> FaultyImap:
        self.thread.start()
        started = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._session, "127.0.0.1", self.port), self.loop
        )
        self.server = started.result(10)
        return self

    def stop(self) -> None:
        async def close() -> None:
            self.server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    def add(self, data: bytes, folder: str = "INBOX") -> None:
        """Deliver one more message (as an MTA would)."""
        with self.lock:
            self.folders.setdefault(folder, []).append(Mail(self.next_uid, data))
            self.next_uid += 1

    def uids(self, folder: str = "INBOX") -> list[int]:
        with self.lock:
            return [m.uid for m in self.folders.get(folder, []) if "\\Deleted" not in m.flags]

    # ------------------------------------------------------------------ one connection

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.sessions += 1
        selected = "INBOX"
        writer.write(b"* OK [CAPABILITY IMAP4rev1 MOVE] misbehaving test server ready\r\n")
        try:
            while line := await reader.readline():
                tag, _, rest = line.decode("utf-8", "replace").rstrip("\r\n").partition(" ")
                command, _, args = rest.partition(" ")
                command = command.upper()
                if command == "UID":
                    command, _, args = args.partition(" ")
                    command = "UID " + command.upper()
                if command == "LOGOUT":
                    writer.write(f"* BYE bye\r\n{tag} OK LOGOUT done\r\n".encode())
                    await writer.drain()
                    return
                if command == "SELECT":
                    selected = args.strip().strip('"')
                    with self.lock:
                        count = len(self.folders.setdefault(selected, []))
                    writer.write(f"* {count} EXISTS\r\n{tag} OK [READ-WRITE] SELECT done\r\n".encode())
                elif command == "UID FETCH":
                    if not await self._fetch(tag, args, selected, writer):
                        return
                else:
                    writer.write(self._simple(tag, command, args, selected))
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    def _simple(self, tag: str, command: str, args: str, selected: str) -> bytes:
        if command == "CAPABILITY":
            return f"* CAPABILITY IMAP4rev1 MOVE\r\n{tag} OK done\r\n".encode()
        if command == "UID SEARCH":
            found = " ".join(str(u) for u in self.uids(selected))
            return f"* SEARCH {found}\r\n{tag} OK SEARCH done\r\n".encode()
        if command == "CREATE":
            name = args.strip().strip('"')
            with self.lock:
                if name in self.folders:
                    return f"{tag} NO [ALREADYEXISTS] exists\r\n".encode()
                self.folders[name] = []
            return f"{tag} OK CREATE done\r\n".encode()
        if command in ("UID MOVE", "UID COPY"):
            uid, _, target = args.partition(" ")
            return self._move(tag, int(uid), target.strip().strip('"'), selected, keep=command == "UID COPY")
        if command == "UID STORE":
            uid, _, flags = args.partition(" ")
            with self.lock:
                for mail in self.folders[selected]:
                    if mail.uid == int(uid):
                        mail.flags.update(re.findall(r"\\\w+", flags))
            return f"{tag} OK STORE done\r\n".encode()
        if command == "EXPUNGE" or command == "CLOSE":
            with self.lock:
                self.folders[selected] = [m for m in self.folders[selected] if "\\Deleted" not in m.flags]
            return f"{tag} OK {command} done\r\n".encode()
        return f"{tag} OK {command} done\r\n".encode()  # LOGIN, NOOP, ...

    def _move(self, tag: str, uid: int, target: str, selected: str, *, keep: bool) -> bytes:
        with self.lock:
            if target not in self.folders:
                return f"{tag} NO [TRYCREATE] no such folder\r\n".encode()
            mail = next((m for m in self.folders[selected] if m.uid == uid), None)
            if mail is None:
                return f"{tag} NO no such message\r\n".encode()
            self.folders[target].append(Mail(self.next_uid, mail.data))
            self.next_uid += 1
            if not keep:
                self.folders[selected].remove(mail)
        return f"{tag} OK done\r\n".encode()

    async def _fetch(self, tag: str, args: str, selected: str, writer: asyncio.StreamWriter) -> bool:
        """Answer one UID FETCH (one UID); False when the connection was dropped on purpose."""
        uid_text, _, items = args.partition(" ")
        with self.lock:
            mail = next((m for m in self.folders[selected] if m.uid == int(uid_text)), None)
        if mail is None:
            writer.write(f"{tag} OK FETCH done\r\n".encode())
            return True
        seq = self.folders[selected].index(mail) + 1
        head, literals = f"* {seq} FETCH (UID {mail.uid}", []
        wants_bytes = False
        for m in _ITEM.finditer(items):
            word = m.group(0).upper()
            if word == "RFC822.SIZE":
                head += f" RFC822.SIZE {len(mail.data)}"
            elif word.startswith("BODY"):
                wants_bytes = True
                literals.append(self._section(mail.data, m.group(1) or "", m.group(2), m.group(3)))
        if wants_bytes:
            self.fetches += 1
        if wants_bytes and self.fetches == self.faults.hang_fetch:
            await asyncio.sleep(3600)  # never answers: the client's timeout must end it
        out = head.encode()
        for name, chunk in literals:
            out += f" {name} {{{len(chunk)}}}\r\n".encode() + chunk
        out += f")\r\n{tag} OK FETCH done\r\n".encode()
        if (
            wants_bytes and self.faults.huge_literal is not None and self.fetches >= self.faults.huge_literal
        ):  # the partial fetch ignored, a GiB promised
            writer.write(f"* {seq} FETCH (UID {mail.uid} BODY[HEADER] {{{1 << 30}}}\r\n".encode() + mail.data[:100])
            await asyncio.sleep(3600)
        if wants_bytes and self.fetches == self.faults.drip_fetch:
            self.drip_total = len(out)
            for i in range(len(out)):  # each byte well within any read timeout
                if writer.transport.is_closing():
                    return False
                writer.write(out[i : i + 1])
                self.dripped = i + 1
                await asyncio.sleep(0.1)
            return True
        if wants_bytes and self.fetches == self.faults.drop_fetch:
            writer.write(out[: len(head) + 40 + len(literals[0][1]) // 2])  # half of the literal, then gone
            await writer.drain()
            writer.transport.abort()
            return False
        writer.write(out)
        return True

    @staticmethod
    def _section(data: bytes, part: str, start: str | None, length: str | None) -> tuple[str, bytes]:
        cut = data.find(b"\r\n\r\n")
        cut = len(data) if cut < 0 else cut + 4
        chunk = {"HEADER": data[:cut], "TEXT": data[cut:], "": data}[part.upper()]
        name = f"BODY[{part.upper()}]"
        if start is not None and length is not None:
            chunk = chunk[int(start) : int(start) + int(length)]
            name += f"<{start}>"
        return name, chunk


@contextmanager
def faulty_imap(messages: list[bytes], faults: ImapFaults | None = None) -> Iterator[FaultyImap]:
    server = FaultyImap(messages, faults).start()
    try:
        yield server
    finally:
        server.stop()
