"""The base layer: what every other layer may use, and which imports nothing of ours.

:mod:`errors` (the one root :class:`~newsletter.base.errors.NewsletterError`),
:mod:`addresses` (``address_key``, strict address parsing), :mod:`fsutil` (atomic
writes), :mod:`resources` (files shipped in the package), :mod:`logs`, :mod:`wording`,
:mod:`cron` (cron expressions), :mod:`urls` (database URLs shown without their
password), :mod:`tls` (the one TLS client policy), :mod:`keywords` (the keyword
language, shared by the configuration's validation and the matching engine).
"""
