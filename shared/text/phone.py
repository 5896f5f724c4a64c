"""Phone numbers: one rule for what intake accepts and what the SMS gateway is given.

A number is a valid number (by libphonenumber's metadata) written with or without spaces,
dashes, dots or brackets, with ``+`` or ``00`` and a country code, or as a Danish 8-digit number
without one; it is stored and sent in E.164 (``+4520304050``).
"""

from __future__ import annotations

import re

import phonenumbers

DEFAULT_REGION = "DK"
_SEPARATORS = re.compile(r"[\s\-().]")


def normalize_phone(raw: str, region: str = DEFAULT_REGION) -> str:
    """``raw`` in E.164 ("20 30 40 50" → "+4520304050"); raises ``ValueError`` if it is not a valid number."""
    compact = _SEPARATORS.sub("", raw)
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if not re.fullmatch(r"\+?\d{6,15}", compact):
        raise ValueError("not a phone number")
    try:
        number = phonenumbers.parse(compact, region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError("not a phone number") from exc
    if not phonenumbers.is_valid_number(number):
        raise ValueError("not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def country_of(e164: str) -> str | None:
    """The region code ("DK", "SE", …) of an E.164 number, or None if it does not parse."""
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(e164))
    except phonenumbers.NumberParseException:
        return None


def format_phone(number: str, region: str = DEFAULT_REGION) -> str:
    """A number for people to read ("+4520304050" → "+45 20 30 40 50"); unchanged when it does not parse."""
    try:
        parsed = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException:
        return number
    if not phonenumbers.is_valid_number(parsed):
        return number
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
