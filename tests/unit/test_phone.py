"""One rule for phone numbers, at intake and at the SMS gateway: valid numbers, stored in E.164."""

from __future__ import annotations

import pytest

from shared.text.phone import country_of, format_phone, normalize_phone


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("20 30 40 50", "+4520304050"),
        ("20304050", "+4520304050"),
        ("+45 20 30 40 50", "+4520304050"),
        ("0045 20304050", "+4520304050"),
        ("(+45) 20-30.40.50", "+4520304050"),
        ("+46 70 123 45 67", "+46701234567"),
    ],
)
def test_danish_and_international_numbers_are_normalised_to_e164(raw: str, e164: str) -> None:
    assert normalize_phone(raw) == e164


@pytest.mark.parametrize("raw", ["", "12", "1234", "123456789", "+45 1234", "ring til mig", "+1 555 0100"])
def test_what_is_not_a_valid_number_is_refused(raw: str) -> None:
    with pytest.raises(ValueError):
        normalize_phone(raw)


def test_country_and_readable_form() -> None:
    assert country_of("+4520304050") == "DK"
    assert country_of("+46701234567") == "SE"
    assert format_phone("+4520304050") == "+45 20 30 40 50"
    assert format_phone("12") == "12"
