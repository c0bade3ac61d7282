"""Suppressions, bounces, feedback and fetch state, in PostgreSQL: the same public
methods as the SQLite ledger's (feedback as methods here: the SQLite ledger has them
as module functions too).

Several hosts may read the same bounce mailbox: a report is recorded once
(``report_id`` is unique, the second insert does nothing), and the suppression
policy of one address is decided under a transaction-level advisory lock on it, so
two hosts never both count the same bounces.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from typing import Any

from newsletter.base.addresses import Suppressions, address_key
from newsletter.store import FeedbackRow, FetchState, Suppression, iso
from newsletter.store.postgres.base import Cursor, PgStore
from newsletter.store.postgres.connection import BOUNCE_LOCKS
from newsletter.store.postgres.digests import LAST_DIGEST
from newsletter.store.protocol import SuppressionPolicy

_ACTIVE = "(until IS NULL OR until > %s)"


def _active(row: tuple[Any, ...] | None, now: float) -> bool:
    return row is not None and (row[0] is None or row[0] > now)


def bounce_counts(cur: Cursor, key: str) -> tuple[int, int]:
    """(hard bounces, consecutive soft bounces) of an address since its last
    resubscribe; soft bounces are consecutive when no delivery between them went
    through without bouncing, and count once per delivery."""
    cur.execute("SELECT delivery_id, kind FROM bounces WHERE email = %s AND NOT cleared ORDER BY id", (key,))
    rows = cur.fetchall()
    hard = sum(1 for _, kind in rows if kind == "hard")
    kinds: dict[int, str] = {}
    for delivery, kind in rows:
        if delivery is not None and kinds.get(delivery) != "hard":
            kinds[delivery] = kind
    soft = 0
    if kinds:
        cur.execute(
            "SELECT id FROM deliveries WHERE email_key = %s AND id <= %s AND status IN ('sent', 'failed') "
            "ORDER BY id DESC",
            (key, max(kinds)),
        )
        for (delivery,) in cur.fetchall():
            if kinds.get(delivery) != "soft":
                break
            soft += 1
    return hard, soft


def _reason(hard: int, soft: int) -> str:
    return f"{hard} hard bounce{'s' if hard != 1 else ''}" if hard else f"{soft} consecutive soft bounces"


class Suppress(PgStore):
    """Items 7 (suppressions), 8 (bounces), 9 (fetch state) and 12 (feedback)."""

    # ------------------------------------------------------------------ suppressions

    def suppress(self, email: str, *, source: str, until: float | None = None) -> bool:
        """Suppress ``email`` (for good, or until ``until`` for a pause); a pause never
        shortens an unsubscribe for good. True when it was not suppressed before."""
        key, now = address_key(email), time.time()
        with self._tx() as cur:
            cur.execute("SELECT until FROM suppressions WHERE email = %s FOR UPDATE", (key,))
            row = cur.fetchone()
            active = _active(row, now)
            if active and row is not None and row[0] is None and until is not None:
                return False  # unsubscribed for good: a pause does not lift that
            cur.execute(
                "INSERT INTO suppressions(email, created_at, source, until) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (email) DO UPDATE SET created_at = excluded.created_at, source = excluded.source, "
                "until = excluded.until",
                (key, now, source, until),
            )
            return not active

    def unsuppress(self, email: str, *, horizon: bool = True) -> bool:
        """Lift an active suppression; True when there was one. With ``horizon`` the
        address starts again from the digests picked up from now on."""
        key, now = address_key(email), time.time()
        with self._tx() as cur:
            cur.execute("DELETE FROM suppressions WHERE email = %s RETURNING until", (key,))
            active = _active(cur.fetchone(), now)
            cur.execute("UPDATE bounces SET cleared = true WHERE email = %s", (key,))  # a fresh start
            if active and horizon:
                cur.execute(
                    f"UPDATE subscribers SET horizon = GREATEST(horizon, ({LAST_DIGEST})) WHERE email = %s", (key,)
                )
            return active

    def suppression(self, email: str, *, now: float | None = None) -> Suppression | None:
        """The active suppression of ``email``, if any."""
        clock = time.time() if now is None else now
        row = self._one(
            f"SELECT email, created_at, source, until FROM suppressions WHERE email = %s AND {_ACTIVE}",
            (address_key(email), clock),
        )
        return None if row is None else Suppression(row[0], float(row[1]), row[2], row[3])

    def suppressions(self, *, now: float | None = None) -> Suppressions:
        """The actively suppressed addresses as one value."""
        return Suppressions(frozenset(self.suppressed(now=now)))

    def suppressed(self, *, now: float | None = None) -> set[str]:
        """Every actively suppressed address (its key)."""
        clock = time.time() if now is None else now
        return {r[0] for r in self._all(f"SELECT email FROM suppressions WHERE {_ACTIVE}", (clock,))}

    def suppression_counts(self, *, now: float | None = None) -> dict[str, int]:
        """``{"suppressed": active suppressions, "paused": those of them that end}``."""
        clock = time.time() if now is None else now
        row = self._one(f"SELECT COUNT(*), COUNT(until) FROM suppressions WHERE {_ACTIVE}", (clock,))
        assert row is not None
        return {"suppressed": int(row[0]), "paused": int(row[1])}

    # ------------------------------------------------------------------ bounces

    def has_report(self, report_id: str) -> bool:
        return self._one("SELECT 1 FROM bounces WHERE report_id = %s", (report_id,)) is not None

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
        """Record a bounce and apply ``policy`` in one commit (see the SQLite ledger's).
        Returns why the address was suppressed now, or None (also for a report already
        recorded, by this host or another)."""
        key = address_key(email)
        with self._tx() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (BOUNCE_LOCKS, key))
            cur.execute(
                "INSERT INTO bounces(email, delivery_id, kind, source, status, diagnostic, report_id, created_at) "
                "VALUES (%s,%s,%s,%s,%s,%s,%s,%s) ON CONFLICT (report_id) DO NOTHING RETURNING id",
                (key, delivery_id, kind, source, status, diagnostic, report_id, time.time()),
            )
            if cur.fetchone() is None:
                return None
            reason = policy.reason(*bounce_counts(cur, key))
            if reason is None:
                return None
            now = time.time()
            cur.execute("SELECT until FROM suppressions WHERE email = %s", (key,))
            if _active(cur.fetchone(), now):
                return None  # unsubscribed already: keep the user's own reason
            cur.execute(
                "INSERT INTO suppressions(email, created_at, source, until) VALUES (%s, %s, 'bounced', NULL) "
                "ON CONFLICT (email) DO UPDATE SET created_at = excluded.created_at, source = 'bounced', until = NULL",
                (key, now),
            )
            return reason

    def bounced(self) -> list[dict[str, Any]]:
        """Addresses suppressed for bouncing, with why: ``{email, reason, kind, source,
        hard, soft, status, diagnostic, since}``."""
        out: list[dict[str, Any]] = []
        with self.conn.cursor() as cur:
            cur.execute(
                "SELECT email, created_at FROM suppressions WHERE source = 'bounced' AND until IS NULL ORDER BY email"
            )
            for email, since in cur.fetchall():
                hard, soft = bounce_counts(cur, email)
                cur.execute(
                    "SELECT kind, source, status, diagnostic FROM bounces WHERE email = %s AND NOT cleared "
                    "ORDER BY id DESC LIMIT 1",
                    (email,),
                )
                kind, source, status, diagnostic = cur.fetchone() or (None, None, None, None)
                reason = _reason(hard, soft)
                if status or diagnostic:
                    reason += f" (last: {' '.join(x for x in (status, diagnostic) if x)})"
                out.append(
                    {"email": email, "reason": reason, "kind": kind, "source": source, "hard": hard, "soft": soft}
                    | {"status": status, "diagnostic": diagnostic, "since": iso(since)}
                )
        return out

    # ------------------------------------------------------------------ mail set aside

    def record_set_aside(self, message: str, *, kind: str, reason: str, detail: str | None = None) -> bool:
        """Record a bounce report ignored (``kind`` ``ignored``) or a message quarantined
        (``quarantined``), once per ``message``; True when it was not recorded before."""
        row = self._one(
            "INSERT INTO mail_set_aside(message, kind, reason, detail, created_at) VALUES (%s,%s,%s,%s,%s) "
            "ON CONFLICT (message) DO NOTHING RETURNING 1",
            (message, kind, reason, detail, time.time()),
        )
        return row is not None

    def set_aside(self, kind: str) -> list[dict[str, Any]]:
        """The mail recorded by :meth:`record_set_aside` of one ``kind``, oldest first:
        ``{message, reason, detail, at}``."""
        rows = self._all(
            "SELECT message, reason, detail, created_at FROM mail_set_aside WHERE kind = %s ORDER BY id", (kind,)
        )
        return [{"message": m, "reason": r, "detail": d, "at": iso(t)} for m, r, d, t in rows]

    def mailbox_mark(self, mailbox: str, uidvalidity: int, judge: str) -> int:
        """The highest UID of the IMAP folder ``mailbox`` (as numbered under
        ``uidvalidity``) up to which every message was judged with ``judge``, by any
        host; 0: none."""
        row = self._one(
            "SELECT uid FROM mailbox_marks WHERE mailbox = %s AND uidvalidity = %s AND judge = %s",
            (mailbox, uidvalidity, judge),
        )
        return 0 if row is None else int(row[0])

    def raise_mailbox_mark(self, mailbox: str, uidvalidity: int, judge: str, uid: int) -> None:
        """Every message of ``mailbox`` up to ``uid`` was judged: the mark only grows
        (several hosts reading the same folder each raise it to what they finished, in
        any order: GREATEST); marks of another UIDVALIDITY of the folder are dropped."""
        with self._tx() as cur:
            cur.execute("DELETE FROM mailbox_marks WHERE mailbox = %s AND uidvalidity <> %s", (mailbox, uidvalidity))
            cur.execute(
                "INSERT INTO mailbox_marks(mailbox, uidvalidity, judge, uid, updated_at) VALUES (%s,%s,%s,%s,%s) "
                "ON CONFLICT (mailbox, uidvalidity, judge) DO UPDATE "
                "SET uid = GREATEST(mailbox_marks.uid, excluded.uid), updated_at = excluded.updated_at",
                (mailbox, uidvalidity, judge, uid, time.time()),
            )

    def known_mail(self, mailbox: str, judge: str) -> set[str]:
        """The names of the messages of the Maildir ``mailbox`` judged (with ``judge``)
        and left in it in an earlier pass."""
        rows = self._all("SELECT name FROM mailbox_known WHERE mailbox = %s AND judge = %s", (mailbox, judge))
        return {str(name) for (name,) in rows}

    def remember_known_mail(self, mailbox: str, judge: str, *, add: Collection[str], gone: Collection[str]) -> None:
        """Names judged and left (``add``), names no longer in the Maildir (``gone``);
        what another judge remembered of it is dropped (it decided differently)."""
        now = time.time()
        with self._tx() as cur:
            cur.execute("DELETE FROM mailbox_known WHERE mailbox = %s AND judge <> %s", (mailbox, judge))
            if add:
                cur.execute(
                    "INSERT INTO mailbox_known(mailbox, judge, name, seen_at) "
                    "SELECT %s, %s, unnest(%s::text[]), %s ON CONFLICT DO NOTHING",
                    (mailbox, judge, list(add), now),
                )
            if gone:
                cur.execute(
                    "DELETE FROM mailbox_known WHERE mailbox = %s AND judge = %s AND name = ANY(%s)",
                    (mailbox, judge, list(gone)),
                )

    # ------------------------------------------------------------------ fetch sources

    def fetch_states(self) -> dict[str, FetchState]:
        """Every source's fetch state by source key."""
        rows = self._all(
            "SELECT source, url, etag, last_modified, checked_at, outcome, detail, http_status, ok_at "
            "FROM fetch_sources ORDER BY source"
        )
        return {row[0]: FetchState(*row) for row in rows}

    def record_fetch(self, state: FetchState) -> None:
        """Store a source's latest fetch (replacing the previous one)."""
        self.conn.execute(
            "INSERT INTO fetch_sources(source, url, etag, last_modified, checked_at, outcome, detail, http_status, "
            "ok_at) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s) ON CONFLICT (source) DO UPDATE SET url = excluded.url, "
            "etag = excluded.etag, last_modified = excluded.last_modified, checked_at = excluded.checked_at, "
            "outcome = excluded.outcome, detail = excluded.detail, http_status = excluded.http_status, "
            "ok_at = excluded.ok_at",
            (
                state.source,
                state.url,
                state.etag,
                state.last_modified,
                state.checked_at,
                state.outcome,
                state.detail,
                state.http_status,
                state.ok_at,
            ),
        )

    # ------------------------------------------------------------------ feedback (issue 17)

    def record_feedback(self, email: str, paper_id: str, action: str, *, title: str, source: str) -> bool:
        """Record ``action`` ("like"/"dislike") of ``paper_id`` for ``email``; True when it changed."""
        if action not in ("like", "dislike"):
            raise ValueError(f"action must be like or dislike, not {action!r}")
        row = self._one(
            "INSERT INTO feedback(email, paper_id, action, title, source, created_at) VALUES (%s,%s,%s,%s,%s,%s) "
            "ON CONFLICT (email, paper_id) DO UPDATE SET action = excluded.action, title = excluded.title, "
            "source = excluded.source, created_at = excluded.created_at WHERE feedback.action <> excluded.action "
            "RETURNING 1",
            (address_key(email), paper_id, action, title, source, time.time()),
        )
        return row is not None

    def forget_feedback(self, email: str, paper_id: str) -> bool:
        """Drop the like/dislike of ``paper_id`` for ``email``; True when there was one."""
        cur = self.conn.execute(
            "DELETE FROM feedback WHERE email = %s AND paper_id = %s", (address_key(email), paper_id)
        )
        return bool(cur.rowcount)

    def feedback_rows(self, email: str | None = None) -> list[FeedbackRow]:
        """Every recorded like/dislike (of ``email`` only, when given), oldest first."""
        sql = "SELECT email, paper_id, action, title, source, created_at FROM feedback"
        args: tuple[str, ...] = ()
        if email is not None:
            sql += " WHERE email = %s"
            args = (address_key(email),)
        return [FeedbackRow(*row) for row in self._all(sql + " ORDER BY created_at, paper_id", args)]
