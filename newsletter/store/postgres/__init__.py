"""The PostgreSQL ledger (SPEC 6d): :class:`PostgresLedger` and the claim API of several
senders (:mod:`newsletter.store.postgres.claims`). Needs psycopg 3, the ``postgresql``
extra (``pip install 'paper-digest[postgresql]'``)."""

from newsletter.store.claiming import (
    LEASE_SECONDS,
    Claim,
    ClaimLedger,
    ClaimStatus,
    FencedOutcome,
    Holder,
    PassPlan,
    PassRef,
    Recorded,
    Refused,
    Renewal,
    owner_id,
)
from newsletter.store.postgres.ledger import SCHEMA_VERSION, PostgresLedger, ledger_secret

__all__ = [
    "LEASE_SECONDS",
    "SCHEMA_VERSION",
    "Claim",
    "ClaimLedger",
    "ClaimStatus",
    "FencedOutcome",
    "Holder",
    "PassPlan",
    "PassRef",
    "PostgresLedger",
    "Recorded",
    "Refused",
    "Renewal",
    "ledger_secret",
    "owner_id",
]
