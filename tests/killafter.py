"""``python -m tests.killafter ARGS``: ``python -m newsletter ARGS`` that SIGKILLs itself
right after the ledger commits its first batch of new deliveries (the fault of a
machine that dies there: no ``finally``, no flush, nothing after the commit runs).

The fault is at the ledger's one write path, :meth:`Ledger.record` (whatever the
backend), so it holds for any code behind it: what that transaction did not commit
is lost, as a real crash loses it."""

from __future__ import annotations

import os
import signal
from collections.abc import Sequence
from typing import Any

from newsletter.cli import main
from newsletter.store.postgres import PostgresLedger
from newsletter.store.sqlite import SqliteLedger


def _killing(record: Any) -> Any:
    def record_then_die(self: Any, new_batches: Sequence[Any] = (), outcomes: Sequence[Any] = ()) -> Any:
        ids = record(self, new_batches, outcomes)
        if any(len(items) for items, _ in new_batches):
            os.kill(os.getpid(), signal.SIGKILL)
        return ids

    return record_then_die


if __name__ == "__main__":
    for cls in (SqliteLedger, PostgresLedger):
        cls.record = _killing(cls.record)  # type: ignore[method-assign]
    main()
