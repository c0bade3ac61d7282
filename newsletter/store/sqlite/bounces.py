"""Bounces tied to deliveries, and the mail of the bounce mailbox set aside."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Collection
from typing import Any

from newsletter.base.addresses import address_key
from newsletter.store.protocol import SuppressionPolicy
from newsletter.store.records import DeliveryRef, iso
from newsletter.store.sqlite.connection import SqliteStore, requires
from newsletter.store.sqlite.queries import load

Q = load("bounces")


class Bounces(SqliteStore):
    """Bounces tied to deliveries, and the mail of the bounce mailbox set aside."""

    def delivery_for(self, message_id: str) -> DeliveryRef | None:
        """(delivery id, email) of the delivery with this Message-ID (angle brackets optional)."""
        mid = message_id.strip()
        if not mid.startswith("<"):
            mid = f"<{mid}>"
        row = self.conn.execute(Q["delivery-for"], (mid,)).fetchone()
        return None if row is None else DeliveryRef(int(row[0]), str(row[1]))

    def delivery_by_sender(self, sender: str) -> DeliveryRef | None:
        """(delivery id, email) of the delivery sent with this envelope sender (a VERP
        return path is unique per delivery)."""
        row = self.conn.execute(Q["delivery-by-sender"], (address_key(sender),)).fetchone()
        return None if row is None else DeliveryRef(int(row[0]), str(row[1]))

    def last_delivery_to(self, email: str) -> int | None:
        """The newest delivery sent (or refused) to ``email``: a report naming only the
        recipient is tied to it."""
        row = self.conn.execute(
            Q["last-delivery-to"],
            (address_key(email),),
        ).fetchone()
        return None if row[0] is None else int(row[0])

    def has_report(self, report_id: str) -> bool:
        return self.conn.execute(Q["has-report"], (report_id,)).fetchone() is not None

    def record_bounce(
        self,
        email: str,
        *,
        kind: str,
        source: str,
        delivery_id: int | None,
        status: str | None = None,
        diagnostic: str | None = None,
        report_id: str | None = None,
        policy: SuppressionPolicy,
    ) -> str | None:
        """Record a bounce and apply ``policy`` in one commit: the address is suppressed
        (source ``bounced``) when the policy says why, given its hard and consecutive
        soft bounces. Returns why it was suppressed now, or None (also for a report
        already recorded, and for an address unsubscribed already: its own reason stays)."""
        key = address_key(email)
        with self.transaction() as cur:
            if report_id is not None and cur.execute(Q["report-seen"], (report_id,)).fetchone():
                return None
            cur.execute(
                Q["insert-bounce"],
                (key, delivery_id, kind, source, status, diagnostic, report_id, time.time()),
            )
            reason = policy.reason(*self._bounce_counts(cur, key))
            if reason is None:
                return None
            now = time.time()
            row = cur.execute(Q["suppression-until"], (key,)).fetchone()
            if row is not None and (row[0] is None or row[0] > now):
                return None  # unsubscribed already: keep the user's own reason
            cur.execute(
                Q["suppress-bounced"],
                (key, now),
            )
            return reason

    def _bounce_counts(self, cur: sqlite3.Cursor, key: str) -> tuple[int, int]:
        """(hard bounces, consecutive soft bounces) of an address since its last resubscribe.
        Soft bounces are consecutive when no delivery between them went through without
        bouncing; they count once per delivery."""
        rows = cur.execute(Q["bounces-since-resubscribe"], (key,)).fetchall()
        hard = sum(1 for _, kind in rows if kind == "hard")
        kinds: dict[int, str] = {}
        for delivery, kind in rows:
            if delivery is not None and kinds.get(delivery) != "hard":
                kinds[delivery] = kind
        soft = 0
        if kinds:
            for (delivery,) in self._tried_newest_first(cur, key, max(kinds)):
                if kinds.get(delivery) != "soft":
                    break
                soft += 1
        return hard, soft

    @requires(12, lambda ledger, cur, key, upto: cur.execute(Q["tried-deliveries-before-12"], (key, upto)))
    def _tried_newest_first(self, cur: sqlite3.Cursor, key: str, upto: int) -> sqlite3.Cursor:
        """The deliveries tried to an address up to ``upto``, newest first."""
        return cur.execute(Q["tried-deliveries-newest-first"], (key, upto))

    @requires(6, lambda *_, **__: [])
    def bounced(self) -> list[dict[str, Any]]:
        """Addresses suppressed for bouncing, with why: ``{email, reason, hard, soft,
        status, diagnostic, since}`` (``status``/``diagnostic`` of the last bounce)."""
        out: list[dict[str, Any]] = []
        rows = self.conn.execute(Q["bounced-addresses"]).fetchall()
        cur = self.conn.cursor()
        for email, since in rows:
            hard, soft = self._bounce_counts(cur, email)
            last = cur.execute(
                Q["last-bounce"],
                (email,),
            ).fetchone()
            kind, source, status, diagnostic = last if last is not None else (None, None, None, None)
            reason = f"{hard} hard bounce{'s' if hard != 1 else ''}" if hard else f"{soft} consecutive soft bounces"
            if status or diagnostic:
                reason += f" (last: {' '.join(x for x in (status, diagnostic) if x)})"
            out.append(
                {
                    "email": email,
                    "reason": reason,
                    "kind": kind,
                    "source": source,
                    "hard": hard,
                    "soft": soft,
                    "status": status,
                    "diagnostic": diagnostic,
                    "since": iso(since),
                }
            )
        return out

    def record_set_aside(self, message: str, *, kind: str, reason: str, detail: str | None = None) -> bool:
        """Record a bounce report ignored (``kind`` ``ignored``) or a message quarantined
        (``quarantined``), once per ``message``; True when it was not recorded before."""
        with self.transaction() as cur:
            cur.execute(
                Q["record-set-aside"],
                (message, kind, reason, detail, time.time()),
            )
            return cur.rowcount > 0

    @requires(9, lambda *_, **__: [])
    def set_aside(self, kind: str) -> list[dict[str, Any]]:
        """The mail recorded by :meth:`record_set_aside` of one ``kind``, oldest first:
        ``{message, reason, detail, at}``."""
        rows = self.conn.execute(Q["set-aside"], (kind,))
        return [{"message": m, "reason": r, "detail": d, "at": iso(t)} for m, r, d, t in rows]

    @requires(16, lambda *_, **__: 0)
    def mailbox_mark(self, mailbox: str, uidvalidity: int, judge: str) -> int:
        """The highest UID of the IMAP folder ``mailbox`` (as numbered under
        ``uidvalidity``) up to which every message was judged with ``judge``; 0: none."""
        row = self.conn.execute(Q["mailbox-mark"], (mailbox, uidvalidity, judge)).fetchone()
        return 0 if row is None else int(row[0])

    def raise_mailbox_mark(self, mailbox: str, uidvalidity: int, judge: str, uid: int) -> None:
        """Every message of ``mailbox`` up to ``uid`` was judged: the mark only grows (two
        readers each raise it to what they finished); marks of another UIDVALIDITY of the
        same folder (numbered anew: they say nothing any more) are dropped."""
        with self.transaction() as cur:
            cur.execute(Q["forget-other-uidvalidity"], (mailbox, uidvalidity))
            cur.execute(Q["raise-mailbox-mark"], (mailbox, uidvalidity, judge, uid, time.time()))

    @requires(16, lambda *_, **__: set())
    def known_mail(self, mailbox: str, judge: str) -> set[str]:
        """The names of the messages of the Maildir ``mailbox`` judged (with ``judge``)
        and left in it in an earlier pass."""
        return {str(name) for (name,) in self.conn.execute(Q["known-mail"], (mailbox, judge))}

    def remember_known_mail(self, mailbox: str, judge: str, *, add: Collection[str], gone: Collection[str]) -> None:
        """Names judged and left (``add``), names no longer in the Maildir (``gone``);
        what another judge remembered of it is dropped (it decided differently)."""
        now = time.time()
        with self.transaction() as cur:
            cur.execute(Q["forget-other-judges"], (mailbox, judge))
            cur.executemany(Q["remember-known-mail"], ((mailbox, judge, name, now) for name in add))
            cur.executemany(Q["forget-known-mail"], ((mailbox, judge, name) for name in gone))
