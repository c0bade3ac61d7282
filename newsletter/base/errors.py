"""The one exception root of the package.

Every error a user can cause derives from :class:`NewsletterError`; the CLI turns
it into one line (``str(err)``) and an exit code (``err.exit_code``).
"""

from __future__ import annotations


class NewsletterError(Exception):
    """Root of every error the tool reports to a user."""

    exit_code = 1

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.line = line

    def __str__(self) -> str:
        where = ""
        if self.path is not None:
            path = printable(self.path)  # a file name may hold a line break: never a forged line
            where = f"{path}:{self.line}: " if self.line is not None else f"{path}: "
        return f"{where}{self.message}"


def printable(text: str) -> str:
    """``text`` with every character that is not printable (line breaks, ESC, NUL,
    U+2028...) shown escaped as Python writes it (``\\n``, ``\\x1b``): a file name
    or a value in a message or a log line can never start a line of its own."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


class ConfigError(NewsletterError):
    """The configuration (or a profile, or a template directory) is invalid.

    ``key`` is the dotted key path (``subscribers[0].email``) where one applies.
    ``problems`` holds every individual problem when several were found at once.
    """

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        key: str | None = None,
        problems: tuple[ConfigError, ...] = (),
    ) -> None:
        super().__init__(message, path=path, line=line)
        self.key = key
        self.problems = problems

    def __str__(self) -> str:
        if self.problems:
            return "\n".join(str(p) for p in self.problems)
        text = super().__str__()
        if self.key:
            prefix = text[: len(text) - len(self.message)]
            return f"{prefix}{printable(self.key)}: {self.message}"
        return text


class OutputError(NewsletterError):
    """A file or directory named for output (``preview --out``, ``init DIR``, ``subscribers
    export FILE``) cannot be written there: a file where a directory belongs, no
    permission, a read-only file system. One line naming the path; exit 2 (bad usage)."""

    exit_code = 2


class DigestParseError(NewsletterError):
    """A digest file could not be parsed; names the file and, where known, the line."""


class RenderError(NewsletterError):
    """A template failed to compile or render; names the template and line."""


class DeliveryError(NewsletterError):
    """An SMTP delivery failed; carries the server's reply code where there was one."""

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        permanent: bool = False,
        path: str | None = None,
    ) -> None:
        super().__init__(message, path=path)
        self.code = code
        self.permanent = permanent


class LedgerError(NewsletterError):
    """The ledger cannot be used as it is: not a ledger, damaged, newer, read-only,
    locked by another program. One line naming the file and what to do; exit 2
    (a state problem the operator fixes, nothing was sent)."""

    exit_code = 2


class LedgerFullError(LedgerError):
    """The disk holding the ledger is full. Work was under way: exit 1. Nothing is
    lost: what was not recorded ``sent`` is still pending or not planned yet."""

    exit_code = 1

    def __str__(self) -> str:
        return f"ledger disk full: {super().__str__()}"


class LedgerBusyError(LedgerError):
    """Another newsletter process holds the ledger lock (``send`` and ``run`` refuse
    to run at once on one ledger)."""


class LedgerConnectionLost(LedgerError):
    """The connection to a PostgreSQL ledger broke during a call (the server went
    away, the network to it was cut, it restarted). What that call wrote may or may
    not be committed; nothing is lost either way (a delivery not recorded ``sent``
    is sent again, with the same Message-ID, by this or another sender). A sender
    stops starting SMTP transactions on it; the ledger reconnects at its next call.
    Work was under way: exit 1."""

    exit_code = 1
