"""Chat channels (SPEC 2.5 "Channels"): a delivery's papers also (or only) posted to the
subscriber's Slack, Discord, Matrix or webhook channels, on the same ledger as email.

- :mod:`.compose`: a planned delivery -> its message parts per channel (the formats are
  :mod:`newsletter.render.chat`'s pure functions, from the email's own paper views);
- :mod:`.post`: one part posted over HTTP (httpx), retried with backoff on network
  errors, 5xx and 429 (``Retry-After``, Discord's ``retry_after``, Matrix's
  ``retry_after_ms``); any other 4xx is ``failed``;
- :mod:`.stage`: the channel stage of a send pass (:class:`ChannelStage`).
"""

from newsletter.delivery.channels.stage import ChannelStage, ChannelSummary

__all__ = ["ChannelStage", "ChannelSummary"]
