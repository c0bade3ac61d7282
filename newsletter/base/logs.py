"""Logging set-up for the commands: text lines or JSON lines, on stderr.

Every command logs WARNING and above by default (quiet under cron: a good pass
writes nothing), ``--log-level`` lowers it; ``--debug`` shows DEBUG. Times carry
their offset (ISO 8601: ``2026-11-17T07:00:02.123+01:00``, the host's zone), so a
log line read on another machine or after a DST change still says when it was.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from newsletter.base.errors import printable

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class TextFormatter(logging.Formatter):
    """``TIME LEVEL LOGGER: message`` with the time in ISO 8601 with its UTC offset; the
    message on that one line (:meth:`formatMessage`)."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="milliseconds")

    def formatMessage(self, record: logging.LogRecord) -> str:
        """One record, one line: line breaks and other control characters of the
        message (a file name, a server's reply) escaped; a traceback follows as is."""
        return printable(super().formatMessage(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (+ exception)."""

    def format(self, record: logging.LogRecord) -> str:
        data = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


def configure(level: str = "warning", fmt: str = "text") -> None:
    """Replace the root handlers: ``fmt`` is ``text`` or ``json``; logs go to stderr.
    The libraries' own loggers (aiosmtpd's ``mail.log``, APScheduler) say only
    warnings, unless ``debug`` asks for all of their chatter."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    chatter = logging.NOTSET if root.level <= logging.DEBUG else max(logging.WARNING, root.level)
    for name in ("apscheduler", "mail.log"):
        logging.getLogger(name).setLevel(chatter)
