"""Shipped examples for ``newsletter init --example``: the sample digests (``*.txt``) and
``config.example.yaml``: symlinks to the repository's ``seeds/`` and its ``config.example.yaml``
(one copy of each in the repository; the wheel holds the files themselves)."""
