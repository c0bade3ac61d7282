"""``newsletter run``: the daemon (:mod:`.daemon`), its schedule policy
(:mod:`.schedule`), the digests folder watcher (:mod:`.watch`) and the one-process-per-ledger
lock (:mod:`.lock`, also taken by ``send``)."""
