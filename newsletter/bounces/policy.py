"""When bounces suppress an address (SPEC 3, ``bounces: {hard, soft}``): after ``hard``
hard bounces, or ``soft`` consecutive soft ones (a delivery that went through in
between starts the count again). The ledger counts, inside the transaction that
records the bounce (so two readers of the mailbox never count one report twice); this
says what the counts mean, and the ledger suppresses the address (keeping a user's own
unsubscribe) when it says why."""

from __future__ import annotations

from dataclasses import dataclass

from newsletter.config import Config


@dataclass(frozen=True, slots=True)
class BouncePolicy:
    hard: int = 1
    soft: int = 5

    @classmethod
    def of(cls, config: Config) -> BouncePolicy:
        return cls(config.bounces.hard, config.bounces.soft)

    def reason(self, hard: int, soft: int) -> str | None:
        """Why ``hard`` hard and ``soft`` consecutive soft bounces suppress the address, or None."""
        if hard >= self.hard:
            return f"{hard} hard bounce{'s' if hard != 1 else ''}"
        if soft >= self.soft:
            return f"{soft} consecutive soft bounces"
        return None
