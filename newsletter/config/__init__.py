"""Configuration: the YAML of SPEC 3, validated into typed, frozen models at load.

Validation uses pydantic (unknown keys rejected, types checked); every problem is
reported with its key path and the line of the YAML file it comes from, all at
once, as one :class:`~newsletter.base.errors.ConfigError` (exit code 2). Relative paths
resolve against the config file's directory. Secrets never live in the file:
``smtp.password_env`` and ``sender.unsubscribe.secret_env`` name environment
variables.

Subscribers come from ``subscribers`` and from ``subscribers_dir`` (one YAML file
per subscriber, ``*.yaml``/``*.yml`` in name order), inline ones first. Every key of
``defaults`` can be set on a subscriber; :class:`Subscriber` holds the merged,
effective settings.

The package, by concept (everything is imported from here):

- :mod:`.schema`: the models of the YAML, section by section (:mod:`.fields`: their base);
- :mod:`.sources`: the sources of ``newsletter fetch`` and the files it writes;
- :mod:`.records`: :class:`Config`, :class:`Subscriber`, :class:`LeftOut` (what the
  program reads);
- :mod:`.secrets`: the environment variables a configuration needs;
- :mod:`.load`: :func:`load_config` (YAML, line numbers, the alias guard, merging);
- :mod:`.messages`: problems in plain words, with their lines.

The configuration imports nothing of the program above :mod:`newsletter.base`.
"""

from __future__ import annotations

from newsletter.base.addresses import (
    MAX_NAME,
    Mailbox,
    check_address,
    check_display_name,
    check_name,
    parse_mailbox,
)
from newsletter.config.fields import Loc, Model, check_env_name
from newsletter.config.load import (
    DEFAULT_CONFIG,
    FREEZE_FROM,
    MAX_EXPANDED_NODES,
    load_config,
    load_off_loop,
)
from newsletter.config.messages import in_line_order, yaml_problem
from newsletter.config.records import Config, LeftOut, Subscriber, select_subscribers
from newsletter.config.schema import (
    Archive,
    Bounces,
    ConfigModel,
    Defaults,
    Digests,
    Dkim,
    Feedback,
    Imap,
    LedgerSettings,
    Links,
    Schedule,
    Sender,
    Similarity,
    Smtp,
    SubscriberModel,
    Unsubscribe,
    parse_listen,
)
from newsletter.config.secrets import (
    ledger_password_missing,
    missing_secrets,
    require_secrets,
)
from newsletter.config.sources import (
    ARXIV_RSS,
    DIGEST_PATTERNS,
    FETCHED_PATTERNS,
    HF_DAILY_PAPERS,
    ArxivSource,
    BiorxivSource,
    FeedSource,
    Fetch,
    HuggingFaceSource,
    OpenReviewSource,
    Source,
    fetched_file,
)

__all__ = [
    "ARXIV_RSS",
    "DEFAULT_CONFIG",
    "DIGEST_PATTERNS",
    "FETCHED_PATTERNS",
    "FREEZE_FROM",
    "HF_DAILY_PAPERS",
    "MAX_EXPANDED_NODES",
    "MAX_NAME",
    "Archive",
    "ArxivSource",
    "BiorxivSource",
    "Bounces",
    "Config",
    "ConfigModel",
    "Defaults",
    "Digests",
    "Dkim",
    "FeedSource",
    "Feedback",
    "Fetch",
    "HuggingFaceSource",
    "Imap",
    "LedgerSettings",
    "LeftOut",
    "Links",
    "Loc",
    "Mailbox",
    "Model",
    "OpenReviewSource",
    "Schedule",
    "Sender",
    "Similarity",
    "Smtp",
    "Source",
    "Subscriber",
    "SubscriberModel",
    "Unsubscribe",
    "check_address",
    "check_display_name",
    "check_env_name",
    "check_name",
    "fetched_file",
    "in_line_order",
    "ledger_password_missing",
    "load_config",
    "load_off_loop",
    "missing_secrets",
    "parse_listen",
    "parse_mailbox",
    "require_secrets",
    "select_subscribers",
    "yaml_problem",
]
