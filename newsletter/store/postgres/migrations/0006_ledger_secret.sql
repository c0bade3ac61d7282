-- Version 6: the secret the ledger keeps (newsletter/store/postgres/secret.py), for hosts
-- whose environment names none (sender.unsubscribe.secret_env): unsubscribe tokens,
-- feedback links, VERP addresses, archive paths and Message-IDs are HMACs under it. One
-- row, made with this version (32 random bytes, hex) by the host that migrates; every host
-- of the ledger reads the same one. `path_secret_until`: the last day the links of the
-- path-derived secret are still accepted, on a ledger that was there before this version
-- (its mail carries them); NULL on a new ledger, which never accepts them.

CREATE TABLE ledger_secret (
    one               boolean PRIMARY KEY DEFAULT true CHECK (one),
    secret            text NOT NULL CHECK (secret ~ '^[0-9a-f]{64}$'),
    created           date NOT NULL,
    path_secret_until date
);
