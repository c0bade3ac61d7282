"""``state:`` as a database URL (SPEC 6d): what counts as one, and how it is shown.

A libpq URL (``postgresql://USER@HOST:PORT/DB``, also ``postgres://``) names a
PostgreSQL ledger; anything else is the path of a SQLite ledger. A URL is shown
(in errors, ``check``, ``status``) as ``postgresql://USER@HOST:PORT/DB``: never with
a password, never with the query parameters (which may hold one).
"""

from __future__ import annotations

from urllib.parse import SplitResult, urlsplit

SCHEMES = ("postgresql", "postgres")


def is_database_url(value: object) -> bool:
    """True when ``value`` (a ``state:`` value, or the path made of one) is a
    PostgreSQL URL rather than a SQLite path."""
    text = str(value)
    # pathlib folds "postgresql://" into "postgresql:/": both are a URL, never a file
    return any(text.startswith(f"{scheme}:/") for scheme in SCHEMES)


def _parts(url: str) -> SplitResult:
    return urlsplit(url.strip())


def url_password(url: str) -> bool:
    """True when the URL carries a password (``user:pw@`` or ``?password=``)."""
    parts = _parts(url)
    try:
        in_query = any(p.split("=", 1)[0].strip().lower() == "password" for p in parts.query.split("&") if p)
        return parts.password is not None or in_query
    except ValueError:
        return False


def redact_url(url: str) -> str:
    """The URL as shown to the operator: scheme, user, host, port and database only."""
    parts = _parts(url)
    try:
        user = parts.username
        host = parts.hostname or ""
        port = parts.port
    except ValueError:  # a port that is not a number: show what can be shown safely
        user, host, port = None, "", None
    if not host:
        for item in parts.query.split("&"):
            key, _, value = item.partition("=")
            if key == "host":
                host = value
    where = f"{user}@" if user else ""
    where += host or "localhost"
    if port:
        where += f":{port}"
    return f"{parts.scheme}://{where}{parts.path}"


def sqlite_only(path: object) -> None:
    """Refuse a PostgreSQL URL where only a SQLite ledger can be opened (the SQLite
    ledger and its lock file are handed ``config.ledger_path``, which for a URL only
    names the database): one line, exit 2, never a file made from the URL."""
    if is_database_url(path):
        from newsletter.base.errors import LedgerError

        raise LedgerError(
            "state: names a PostgreSQL ledger, which this command does not use yet (it works on a SQLite "
            "ledger only); run it with a configuration whose state: is a SQLite file",
            path=str(path).replace(":/", "://", 1),
        )
