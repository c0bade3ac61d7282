"""Delivery: the SQLite ledger (``ledger``), the pooled async SMTP sender (``smtp``)
and the ``send`` pass that ties digests, matching, rendering and both together
(``service``)."""
