"""CalDAV passwords sealed with ``CALENDAR_KEY`` before they are stored.

``CALENDAR_KEY`` holds one or more Fernet keys separated by commas: the first seals, every one of
them opens, so a key can be rotated by putting the new one first and re-saving the consultants.
Make a key with ``python -m services.scheduler.calendars.credentials``.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class CredentialsUnreadable(Exception):
    """A sealed password that none of the configured keys opens (the key was changed or lost)."""


class CredentialCipher:
    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ValueError("CALENDAR_KEY: at least one key is needed")
        try:
            self._fernet = MultiFernet([Fernet(key.encode("ascii")) for key in keys])
        except (ValueError, UnicodeEncodeError):
            raise ValueError(
                "CALENDAR_KEY: each key must be 32 url-safe base64-encoded bytes "
                "(make one with python -m services.scheduler.calendars.credentials)"
            ) from None

    @classmethod
    def from_setting(cls, value: str | None) -> CredentialCipher | None:
        """The cipher for a ``CALENDAR_KEY`` value, or None when it is unset or empty."""
        keys = [key.strip() for key in (value or "").split(",") if key.strip()]
        return cls(keys) if keys else None

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode("utf-8")).decode("ascii")

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            raise CredentialsUnreadable("the stored calendar password cannot be opened with CALENDAR_KEY") from None


if __name__ == "__main__":
    print(Fernet.generate_key().decode("ascii"))
