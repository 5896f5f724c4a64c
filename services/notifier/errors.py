"""Delivery failures, shared by the e-mail and SMS senders.

``TransientDeliveryError``: try again later (connection refused or timed out, SMTP 4xx, HTTP 5xx or 429).
``PermanentDeliveryError``: retrying will not help (SMTP 5xx for the recipient, HTTP 4xx, invalid number);
record the delivery as failed with ``reason``.
"""

from __future__ import annotations


class DeliveryError(Exception):
    """A message could not be delivered; ``reason`` says why, in words fit for a log or an admin page."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TransientDeliveryError(DeliveryError):
    """The delivery may succeed later: retry with a growing delay."""


class PermanentDeliveryError(DeliveryError):
    """The delivery will not succeed by retrying: record it as failed."""
