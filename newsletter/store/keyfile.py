"""The secret kept beside a SQLite ledger, for a configuration whose environment does
not name one (``sender.unsubscribe.secret_env``, default ``NEWSLETTER_UNSUBSCRIBE_SECRET``).

Unsubscribe tokens, feedback links, VERP addresses, archive paths and Message-IDs are
HMACs under that secret. Before, an unset variable meant a secret derived from the
configuration file's path: anyone who could guess the path (``/etc/paper-digest/config.yaml``)
could forge an unsubscribe or a feedback click for any address. Now the first run that
needs it writes 32 random bytes beside the ledger, ``<ledger>.secret`` (mode 0600, where
the ledger already lives: the same files the program must be able to write, and kept
with the ledger when it is backed up or moved). Every process of that ledger (``send``,
``serve``, the daemon, ``bounces``) reads the same file.

The file is made once, atomically: written under a temporary name, then hard-linked to
its name, so two processes starting together both end up with the winner's secret and
nobody ever reads half a file. When the ledger existed before it (an install upgraded:
mail may be out there with links under the path-derived secret), the file also says until
when those links are accepted, :data:`LEGACY_DAYS` days after it was made
(:mod:`newsletter.render.links.tokens`); a new install never accepts them.

A PostgreSQL ledger keeps its secret in a table instead
(:mod:`newsletter.store.postgres.secret`); ``ledger copy`` carries it between the two
(:func:`write_secret`). No file is made (``None``: the caller falls back to the
path-derived secret and warns as before) when the ledger's directory does not exist
yet or cannot be written (a ``preview`` before the first ``send``). A file that exists
but cannot be read, or is not one we wrote, is a :class:`~newsletter.base.errors.LedgerError`
naming it (exit 2): silently making another secret would break every link already sent.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from newsletter.base.errors import LedgerError

__all__ = ["LEGACY_DAYS", "KeptSecret", "can_keep", "kept_secret", "secret_path", "write_secret"]

#: Days after the kept secret was made during which the path-derived one is still accepted.
LEGACY_DAYS = 30
_MAGIC = "paper-digest secret 1"
_DAY = r"\d{4}-\d{2}-\d{2}"
_FORMAT = re.compile(
    rf"{_MAGIC}\ncreated (?P<created>{_DAY})\npath-secret-until (?P<until>{_DAY}|none)\n(?P<key>[0-9a-f]{{64}})\n?"
)
_MAX = 4096


@dataclass(frozen=True, slots=True)
class KeptSecret:
    value: str
    created: dt.date
    where: str  # where it is kept: the file, or the database and its table
    legacy_until: dt.date | None  # the last day links under the path-derived secret are accepted


def secret_path(ledger_path: Path) -> Path:
    """``newsletter.sqlite3`` -> ``newsletter.sqlite3.secret`` (beside it)."""
    return ledger_path.with_name(f"{ledger_path.name}.secret")


def can_keep(ledger_path: Path) -> bool:
    """Whether a secret is kept beside the ledger, or would be made there (nothing written)."""
    path = secret_path(ledger_path)
    return path.exists() or (path.parent.is_dir() and os.access(path.parent, os.W_OK | os.X_OK))


def kept_secret(ledger_path: Path, *, today: dt.date | None = None) -> KeptSecret | None:
    """The secret kept beside the SQLite ledger at ``ledger_path``, made now if there is
    none and the directory can be written (None: it cannot)."""
    path = secret_path(ledger_path)
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    if not _make(path, today or dt.datetime.now(dt.UTC).date(), upgraded=ledger_path.exists()):
        return None
    try:
        return _read(path)
    except FileNotFoundError:
        return None


def _read(path: Path) -> KeptSecret:
    try:
        with path.open("rb") as f:
            data = f.read(_MAX + 1)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise LedgerError(
            f"cannot read the secret kept beside the ledger: {exc.strerror or exc}", path=str(path)
        ) from None
    m = _FORMAT.fullmatch(data.decode("ascii", "replace")) if len(data) <= _MAX else None
    if m is None:
        raise LedgerError(
            "not a secret this program wrote (set NEWSLETTER_UNSUBSCRIBE_SECRET, or move the file away to make a new "
            "one: links in mail already sent then stop working)",
            path=str(path),
        )
    try:
        created = dt.date.fromisoformat(m["created"])
        until = None if m["until"] == "none" else dt.date.fromisoformat(m["until"])
    except ValueError:
        raise LedgerError("the secret's dates are not dates", path=str(path)) from None
    return KeptSecret(m["key"], created, str(path), until)


def _text(value: str, created: dt.date, until: dt.date | None) -> str:
    return (
        f"{_MAGIC}\ncreated {created.isoformat()}\npath-secret-until {until.isoformat() if until else 'none'}\n"
        f"{value}\n"
    )


def _write_temp(path: Path, text: str) -> Path | None:
    """``text`` in a new file beside ``path`` (mode 0600, synced); None: cannot be written."""
    temp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError:
        return None  # read-only or not ours: the caller falls back
    try:
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp


def _make(path: Path, today: dt.date, *, upgraded: bool) -> bool:
    """Write a new secret to ``path`` unless one is there (False: the directory cannot
    be written, or does not exist). ``upgraded``: the ledger was there before it."""
    if not path.parent.is_dir():
        return False
    until = today + dt.timedelta(days=LEGACY_DAYS) if upgraded else None
    temp = _write_temp(path, _text(secrets.token_hex(32), today, until))
    if temp is None:
        return False
    try:
        os.link(temp, path)  # fails if another process made it first: theirs is kept
    except FileExistsError:
        pass
    except OSError:
        return False
    finally:
        temp.unlink(missing_ok=True)
    return True


def write_secret(ledger_path: Path, kept: KeptSecret) -> None:
    """Replace the secret kept beside the SQLite ledger at ``ledger_path`` with ``kept``
    (``ledger copy`` into an empty ledger: the links of the mail sent from the source
    stay valid), atomically (renamed into place)."""
    path = secret_path(ledger_path)
    if _FORMAT.fullmatch(_text(kept.value, kept.created, kept.legacy_until)) is None:
        raise LedgerError(f"the secret of {kept.where} is not one this program writes", path=str(path))
    temp = _write_temp(path, _text(kept.value, kept.created, kept.legacy_until))
    if temp is None:
        raise LedgerError("cannot write the secret kept beside the ledger", path=str(path))
    try:
        os.replace(temp, path)
    except OSError as exc:
        raise LedgerError(
            f"cannot write the secret kept beside the ledger: {exc.strerror or exc}", path=str(path)
        ) from None
    finally:
        temp.unlink(missing_ok=True)
