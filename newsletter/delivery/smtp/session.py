"""One SMTP session of a worker: connect (TLS as configured), one AUTH with one
mechanism, the transaction of a message (MAIL, RCPT, DATA), and the DATA bytes written
without aiosmtplib's two regular-expression passes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import ssl
from typing import Protocol

import aiosmtplib
from aiosmtplib.protocol import PERIOD_REGEX, SMTPProtocol, normalize_message_line_endings
from aiosmtplib.response import SMTPResponse

from newsletter.base.addresses import wire_address
from newsletter.base.wire import crlf_lines
from newsletter.config import Smtp
from newsletter.delivery.smtp.classify import (
    Fatal,
    LostReply,
    Permanent,
    Temporary,
    is_hard_bounce,
    is_rate_limit,
    reply_text,
    ssl_cause,
    tls_hint,
)
from newsletter.delivery.smtp.pipeline import PipeliningProtocol, PipeliningSMTP, batch_protocol, envelope_batch
from newsletter.delivery.smtp.records import Outgoing

log = logging.getLogger("newsletter.delivery.smtp")  # one logger for the whole sender (as before)


async def plain_extensions(host: str, port: int, timeout: float) -> frozenset[str] | None:
    """The EHLO keywords (lowercase) of a plain SMTP server at ``host:port``; None when
    no SMTP session comes about. Nothing but EHLO and QUIT is said."""
    client = aiosmtplib.SMTP(hostname=host, port=port, timeout=timeout, use_tls=False, start_tls=False)
    try:
        await client.connect()
        await client.ehlo()
        found = frozenset(client.esmtp_extensions)
        with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
            await client.quit()
        return found
    except (aiosmtplib.SMTPException, OSError, TimeoutError):
        return None
    finally:
        client.close()


async def connect(client: aiosmtplib.SMTP, where: str, port: int) -> None:
    """Connect (and TLS, as configured); each failure as temporary or fatal."""
    try:
        await client.connect()
    except aiosmtplib.SMTPConnectResponseError as exc:
        raise Temporary(
            f"{where} refused the session: {reply_text(exc)}", rate_limited=is_rate_limit(exc.code, exc.message)
        ) from None
    except (
        aiosmtplib.SMTPConnectError,
        aiosmtplib.SMTPTimeoutError,
        aiosmtplib.SMTPServerDisconnected,
        OSError,
    ) as exc:
        cause = ssl_cause(exc)
        if cause is not None:
            raise Fatal(f"TLS with {where} failed: {cause}{tls_hint(cause, port)}") from None
        raise Temporary(f"cannot connect to {where}: {exc}") from None
    except aiosmtplib.SMTPResponseException as exc:
        client.close()
        if exc.code >= 500:
            raise Fatal(f"{where} refused the session: {reply_text(exc)}") from None
        raise Temporary(f"{where}: {reply_text(exc)}", rate_limited=is_rate_limit(exc.code, exc.message)) from None
    except aiosmtplib.SMTPException as exc:  # e.g. STARTTLS not offered
        client.close()
        raise Fatal(f"{where}: {exc}; refusing to continue without TLS") from None
    except ssl.SSLError as exc:
        client.close()
        raise Fatal(f"TLS with {where} failed: {exc}{tls_hint(exc, port)}") from None


async def mechanism(client: aiosmtplib.SMTP, where: str) -> str:
    """The one AUTH mechanism we use with this server (after EHLO, when not yet said)."""
    if client.last_ehlo_response is None:
        try:
            await client.ehlo()
        except (aiosmtplib.SMTPException, OSError) as exc:
            client.close()
            raise Temporary(f"EHLO with {where}: {exc}") from None
    if not client.supports_extension("auth"):
        client.close()
        raise Fatal(f"{where} offers no AUTH (smtp.username is set)")
    methods = client.supported_auth_methods
    method = next((m for m in ("plain", "login", "cram-md5") if m in methods), None)
    if method is None:
        client.close()
        raise Fatal(f"{where} offers no AUTH mechanism we speak ({', '.join(methods) or 'none'})")
    return method


class SessionOwner(Protocol):
    """What a session needs of the pool it belongs to (:class:`~.sender.SmtpSender`): the
    settings, the TLS context and the password, and the state of the run's logins (the
    first goes alone; a refused one stops every session)."""

    settings: Smtp
    tls: ssl.SSLContext
    password: str | None
    auth_lock: asyncio.Lock
    auth_ok: bool
    auth_failed: str | None

    def warn_once(self, message: str) -> None: ...


class Session:
    """One SMTP session of a worker, (re)opened on demand."""

    def __init__(self, owner: SessionOwner, number: int) -> None:
        self.owner = owner
        self.number = number
        self.client: aiosmtplib.SMTP | None = None
        self.messages = 0
        self.unsettled: asyncio.Future[None] | None = None  # the previous message's on_result, running
        self.stage = "MAIL FROM"  # of the transaction under way: what a refusal, drop or timeout is reported at

    async def settle(self) -> BaseException | None:
        """Wait for the previous message's ``on_result`` (its commit ran while this
        message's MAIL FROM and RCPT TO went out); what it raised, if it did."""
        pending, self.unsettled = self.unsettled, None
        if pending is None:
            return None
        try:
            await pending
        except Exception as exc:  # a ledger that cannot be written: the caller raises it
            return exc
        return None

    async def settled(self) -> None:
        failed = await self.settle()
        if failed is not None:
            raise failed

    def abandon(self) -> None:
        """On an error or a cancellation: the previous ``on_result`` is not waited for.
        What it raised is taken (a ledger error fails every outcome of its commit: the
        session that saw it first stops the pass with it), so asyncio never prints it as
        a "Task exception was never retrieved" traceback."""
        pending, self.unsettled = self.unsettled, None
        if pending is None:
            return
        if not pending.done():
            pending.cancel()
        pending.add_done_callback(_taken)

    async def ensure(self) -> aiosmtplib.SMTP:
        if self.client is not None and self.client.is_connected:
            return self.client
        self.client = None
        s = self.owner.settings
        client = PipeliningSMTP(
            hostname=s.host,
            port=s.effective_port,
            timeout=s.timeout,
            use_tls=s.security == "tls",
            start_tls=s.security == "starttls",  # explicit: never the opportunistic None default
            tls_context=self.owner.tls if s.security != "none" else None,
            local_hostname=s.helo,
        )
        where = f"{s.host}:{s.effective_port}"
        await connect(client, where, s.effective_port)
        encrypted = client.get_transport_info("sslcontext") is not None
        if s.security != "none" and not encrypted:  # belt and braces: never AUTH/DATA in clear
            client.close()
            raise Fatal(f"{where}: the session is not encrypted; refusing to continue")
        if s.username:
            await self._authenticate(client, where, encrypted=encrypted)
        self.client = client
        self.messages = 0
        log.debug("session %d: connected to %s", self.number, where)
        return client

    async def _authenticate(self, client: aiosmtplib.SMTP, where: str, *, encrypted: bool) -> None:
        if not encrypted:
            self.owner.warn_once("AUTH without TLS (smtp.security: none): the password travels in clear")
        if self.owner.auth_ok:
            await self._login(client, where)
            return
        # the first login of the run goes alone: a refused password costs ONE failed
        # AUTH, never one per session (servers lock accounts out)
        async with self.owner.auth_lock:
            await self._login(client, where)

    async def _login(self, client: aiosmtplib.SMTP, where: str) -> None:
        """One AUTH with one mechanism (aiosmtplib's ``login`` tries every mechanism the
        server offers: three failed logins for one wrong password)."""
        s = self.owner.settings
        assert s.username is not None
        if self.owner.auth_failed is not None:
            client.close()
            raise Fatal(self.owner.auth_failed)
        method = await mechanism(client, where)
        auth = {"plain": client.auth_plain, "login": client.auth_login, "cram-md5": client.auth_crammd5}[method]
        try:
            await auth(s.username, self.owner.password or "")
            self.owner.auth_ok = True
        except aiosmtplib.SMTPException as exc:
            client.close()
            raise self._auth_error(exc, s.username, where) from None

    def _auth_error(self, exc: aiosmtplib.SMTPException, username: str, where: str) -> Exception:
        """A refused login stops the run (and no session tries again); a dropped
        connection or a 4xx is temporary."""
        if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
            self.owner.auth_failed = f"AUTH as {username} refused by {where}: {reply_text(exc)}"
            return Fatal(self.owner.auth_failed)
        if isinstance(exc, aiosmtplib.SMTPResponseException):
            if exc.code >= 500:
                self.owner.auth_failed = f"AUTH as {username} with {where}: {reply_text(exc)}"
                return Fatal(self.owner.auth_failed)
            return Temporary(f"AUTH with {where}: {reply_text(exc)}")
        if isinstance(exc, aiosmtplib.SMTPServerDisconnected | aiosmtplib.SMTPTimeoutError):
            return Temporary(f"AUTH with {where}: {exc}")
        return Fatal(f"AUTH as {username} with {where}: {exc}")

    async def _reset(self) -> None:
        client = self.client
        if client is None or not client.is_connected:
            return
        try:
            await client.rset()
        except aiosmtplib.SMTPException:
            self.drop()

    def drop(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None

    async def transaction(self, item: Outgoing) -> None:
        """One message: its envelope pipelined when the server offers it (see
        :mod:`.pipeline`), else MAIL, RCPT and DATA one after the other; each
        refusal, drop or timeout as the stage it happened at says."""
        client = await self.ensure()
        self.stage = "MAIL FROM"
        unrecorded: BaseException | None = None
        try:
            if isinstance(client, PipeliningSMTP):
                await client.greet()
            parts = pipelined_parts(client, item)
            if parts is not None:
                unrecorded = await self._pipelined(client, *parts, item)
            else:
                unrecorded = await self._stepwise(client, item)
        except aiosmtplib.SMTPResponseException as exc:
            reply = reply_text(exc)
            if exc.code == 421:
                self.drop()  # 421: the server is closing the session
            else:
                await self._reset()
            if exc.code >= 500:
                if self.stage == "MAIL FROM":
                    raise Fatal(f"the server refused the sender {item.sender}: {reply}") from None
                bounce = "hard" if is_hard_bounce(exc.code, exc.message, stage=self.stage) else None
                raise Permanent(f"{reply} ({self.stage})", bounce=bounce) from None
            raise Temporary(f"{reply} ({self.stage})", rate_limited=is_rate_limit(exc.code, exc.message)) from None
        except aiosmtplib.SMTPTimeoutError as exc:
            self.drop()
            if self.stage == "DATA":
                raise LostReply(f"timed out waiting for the reply to DATA ({exc})") from None
            raise Temporary(f"timeout at {self.stage}: {exc}") from None
        except (aiosmtplib.SMTPServerDisconnected, OSError) as exc:
            self.drop()
            raise Temporary(f"connection lost at {self.stage}: {exc}") from None
        except ValueError as exc:  # an address aiosmtplib refuses to put in an envelope
            await self._reset()
            raise Permanent(f"bad address: {exc}") from None
        if unrecorded is not None:  # the previous outcome could not be recorded: stop here
            self.drop()
            raise unrecorded
        self.messages += 1

    async def _stepwise(self, client: aiosmtplib.SMTP, item: Outgoing) -> BaseException | None:
        """MAIL, RCPT, then (the previous outcome recorded) DATA; what recording the
        previous outcome raised, if it did (then no DATA)."""
        await envelope(client, b"MAIL", item.sender)
        self.stage = "RCPT TO"
        await envelope(client, b"RCPT", item.recipient)
        # the server accepts a message only at the end of DATA: the previous outcome is
        # recorded by then (at most one accepted, unrecorded message per session)
        unrecorded = await self.settle()
        if unrecorded is None:
            self.stage = "DATA"
            await send_data(client, item.message, crlf=item.crlf)
        return unrecorded

    async def _pipelined(
        self, client: aiosmtplib.SMTP, protocol: PipeliningProtocol, batch: bytes, wire: bytes, item: Outgoing
    ) -> BaseException | None:
        """MAIL, RCPT and DATA in one write; the previous outcome recorded while their
        replies come back (the server accepts a message only at the end of its body,
        which goes after); then the body. The first refused reply decides, as step by
        step: the same exception at the same stage. What recording the previous
        outcome raised, if it did: then no body and the connection is dropped (never a
        "." for a message whose predecessor is unrecorded), whatever the replies."""
        protocol.send_batch(batch, 3)
        unrecorded = await self.settle()
        try:
            refused = await self._batch_replies(protocol, item)
        except (aiosmtplib.SMTPException, OSError):
            if unrecorded is None:
                raise
            refused = None
        if unrecorded is not None:
            self.drop()  # a 354 may be waiting for the body: it must not come
            return unrecorded
        if refused is not None:
            raise refused
        self.stage = "DATA"
        await send_wire(client, protocol, wire)
        return None

    async def _batch_replies(
        self, protocol: PipeliningProtocol, item: Outgoing
    ) -> aiosmtplib.SMTPResponseException | None:
        """Read the three replies of a pipelined envelope: None when MAIL, RCPT and
        DATA were accepted (a 354 waits for the body); else the exception the first
        refused one raises step by step (``self.stage`` names it), the others read
        to keep the session in step. A 421 ends the session, and so does a 354 after a
        refusal (RFC 2920 wants a 503 or 554 there: the server would take whatever
        comes next as a body). A drop, timeout or unreadable reply ends the session; before
        any refusal it is raised as step by step, after one the refusal decides."""
        refused: aiosmtplib.SMTPResponseException | None = None
        timeout = self.owner.settings.timeout
        for stage in ("MAIL FROM", "RCPT TO", "DATA"):
            if refused is None:
                self.stage = stage
            try:
                reply = await protocol.batch_reply(timeout)
            except aiosmtplib.SMTPException:  # a drop, a timeout, a reply that does not parse
                self.drop()  # the batch cannot be read on: nothing more is said on this connection
                if refused is None:
                    raise
                return refused
            if refused is None:
                refused = refusal(stage, reply, item)
            if reply.code == 421 or (refused is not None and reply.code == 354):
                self.drop()
                break
        return refused

    async def close(self) -> None:
        client, self.client = self.client, None
        if client is not None and isinstance(client.protocol, PipeliningProtocol) and client.protocol.outstanding:
            client.close()  # cancelled in the middle of a pipelined envelope: no QUIT reply to wait for
        elif client is not None and client.is_connected:
            try:
                await asyncio.wait_for(client.quit(), timeout=min(5.0, self.owner.settings.timeout))
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                client.close()


# An address aiosmtplib's quote_address gives back as "<address>": dot-atoms of ASCII
# letters, digits and "_+-" (what email.utils.parseaddr returns unchanged and its
# injection check lets through); any other address goes through aiosmtplib itself
_PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")


def envelope_address(address: str) -> bytes | None:
    """``<address>`` as aiosmtplib's ``mail()``/``rcpt()`` put it in the command for a
    plain address, without its parse (``email.utils.parseaddr``: 0.07 ms an address,
    two a message; tests/test_delivery_smtp.py compares the two); None for any other."""
    if _PLAIN_ADDRESS.fullmatch(address):
        return b"<" + address.encode("ascii") + b">"
    return None


async def envelope(client: aiosmtplib.SMTP, verb: bytes, address: str) -> None:
    """``client.mail(address)`` (``verb`` MAIL) or ``client.rcpt(address)`` (RCPT): the
    same command and the same errors, the address written directly when plain (an
    internationalised domain as its A-labels: :func:`wire_address`)."""
    address = wire_address(address)
    quoted = envelope_address(address)
    if quoted is None or (client.last_ehlo_response is None and client.last_helo_response is None):
        await (client.mail(address) if verb == b"MAIL" else client.rcpt(address))
        return
    if verb == b"MAIL":
        reply = await client.execute_command(b"MAIL", b"FROM:" + quoted)
        if reply.code != 250:
            raise aiosmtplib.SMTPSenderRefused(reply.code, reply.message, address)
        return
    reply = await client.execute_command(b"RCPT", b"TO:" + quoted)
    if reply.code not in (250, 251):
        raise aiosmtplib.SMTPRecipientRefused(reply.code, reply.message, address)


def wire_data(message: bytes, *, crlf: bool = False) -> bytes | None:
    """What goes on the wire after DATA for a message whose lines all end in CRLF (ours
    do): dot-stuffed, ended by ``.``; None for any other message. The very bytes
    aiosmtplib's ``data()`` would send, without its two regular-expression passes over
    the whole message (0.6 ms for 38 KB, half of what a bare aiosmtplib loop spends on a
    message): a few C scans instead (tests/test_delivery_smtp.py compares the two).
    ``crlf``: :func:`~newsletter.base.wire.crlf_lines` said so where the message was
    made, so the line breaks are not scanned again here (tests/test_base_wire.py)."""
    if not (crlf or crlf_lines(message)):
        return None  # a lone CR or LF: aiosmtplib's own path normalises it
    stuffed = message.replace(b"\r\n.", b"\r\n..")
    if stuffed.startswith(b"."):
        stuffed = b"." + stuffed
    if not stuffed.endswith(b"\r\n"):
        stuffed += b"\r\n"
    return stuffed + b".\r\n"


async def send_data(client: aiosmtplib.SMTP, message: bytes, *, crlf: bool = False) -> None:
    """``client.data(message)``, with the message prepared by :func:`wire_data` when it
    can be (``crlf``: see there): DATA, the 354, the prepared bytes, the 250 (what
    aiosmtplib does, through its protocol's ``write`` and ``read_response``)."""
    wire = wire_data(message, crlf=crlf)
    protocol = client.protocol
    if wire is None or protocol is None:
        await client.data(message)
        return
    start = await client.execute_command(b"DATA")
    if start.code != 354:
        raise aiosmtplib.SMTPDataError(start.code, start.message)
    await send_wire(client, protocol, wire)


async def send_wire(client: aiosmtplib.SMTP, protocol: SMTPProtocol, wire: bytes) -> None:
    """The message bytes after a 354 (:func:`wire_data`), and the 250 for them."""
    try:
        protocol.write(wire)
        reply = await protocol.read_response(timeout=client.timeout)
    except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError):
        client.close()
        raise
    if reply.code != 250:
        raise aiosmtplib.SMTPDataError(reply.code, reply.message)


def pipelined_parts(client: aiosmtplib.SMTP, item: Outgoing) -> tuple[PipeliningProtocol, bytes, bytes] | None:
    """What a pipelined transaction of ``item`` needs: the protocol (the server offers
    PIPELINING), the envelope's commands (both addresses plain) and the body's bytes
    (dot-stuffed, line breaks made CRLF); None for any other: step by step."""
    protocol = batch_protocol(client)
    if protocol is None:
        return None
    sender, recipient = envelope_address(item.sender), envelope_address(item.recipient)
    if sender is None or recipient is None:
        return None
    wire = wire_data(item.message, crlf=item.crlf)
    if wire is None:  # a lone CR or LF: what aiosmtplib's data() would send
        wire = PERIOD_REGEX.sub(b"..", normalize_message_line_endings(item.message)) + b".\r\n"
    return protocol, envelope_batch(sender, recipient), wire


def refusal(stage: str, reply: SMTPResponse, item: Outgoing) -> aiosmtplib.SMTPResponseException | None:
    """What aiosmtplib raises step by step for ``reply`` to the command of ``stage`` (a
    pipelined envelope); None when the command was accepted."""
    if stage == "MAIL FROM":
        return None if reply.code == 250 else aiosmtplib.SMTPSenderRefused(reply.code, reply.message, item.sender)
    if stage == "RCPT TO":
        return (
            None
            if reply.code in (250, 251)
            else aiosmtplib.SMTPRecipientRefused(reply.code, reply.message, item.recipient)
        )
    return None if reply.code == 354 else aiosmtplib.SMTPDataError(reply.code, reply.message)


def _taken(future: asyncio.Future[None]) -> None:
    """A done callback: what the future raised is taken (never "exception was never retrieved")."""
    if not future.cancelled():
        future.exception()
