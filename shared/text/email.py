"""E-mail addresses: one check for every place that takes one (syntax only; no DNS lookup)."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email


def normalize_email(value: str) -> str:
    """The address in its normal form (domain lower-cased, IDNA); raises ``ValueError`` if it is not one."""
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(f"not a valid e-mail address: {exc}") from None
