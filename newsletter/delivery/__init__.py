"""Delivery, one module per stage: ``pickup`` (digest files read one way), ``plan``
(who gets which papers), ``commit`` (the group committer), ``smtp`` (the pooled async
SMTP sender), ``ledger`` (SQLite), and ``service``, the ``send`` pass that runs them
in order (rendering lives in :mod:`newsletter.render`, its worker pool in
:mod:`newsletter.render.pool`)."""
