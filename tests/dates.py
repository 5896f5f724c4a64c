"""Dates for tests that book relative to today: a talk is never held on a weekend, a Danish public
holiday or one of the default closing days, so tests choose their days as the services would."""

from __future__ import annotations

from datetime import date, datetime

from shared.contracts.closed_days import DENMARK


def closed(day: date) -> bool:
    """No talks on ``day`` (a date, or the date of a datetime) with the default settings."""
    on = day.date() if isinstance(day, datetime) else day
    return on.weekday() >= 5 or DENMARK.is_closed(on)
