"""Named admin accounts for the back office: a name and an argon2 hash of the password, in the
``admins`` collection. The admin creates, lists, disables and enables them from the command line
(``python -m services.booking.admins``); nobody can create one from the web.

Hashes are argon2id with ``argon2-cffi``'s default parameters (RFC 9106's low-memory choice); a hash made
with older parameters is replaced at the next good sign-in. Verifying takes tens of milliseconds of
CPU, so it runs in a worker thread, and an unknown name is checked against a dummy hash: the answer
takes as long as for a known one.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from shared.infra.mongo import Document

COLLECTION = "admins"
NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,39}$")
MIN_PASSWORD = 12
MAX_PASSWORD = 1000


class AccountExists(Exception):
    """An admin account with that name exists already."""


@dataclass(frozen=True)
class Account:
    name: str
    active: bool
    created_at: datetime
    last_sign_in_at: datetime | None = None


def name_problem(name: str) -> str | None:
    if not NAME.match(name):
        return "a name is 2 to 40 of a-z, 0-9, '.', '_', '-', starting with a letter or digit"
    return None


def password_problem(password: str) -> str | None:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        return f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters"
    return None


@cache
def hasher() -> PasswordHasher:
    return PasswordHasher()


@cache
def _dummy_hash() -> str:
    return hasher().hash("not anybody's password")


def _verify(stored_hash: str, password: str) -> bool:
    try:
        return hasher().verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


class MongoAccounts:
    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self._admins = collection

    async def add(self, name: str, password: str, now: datetime | None = None) -> Account:
        digest = await asyncio.to_thread(hasher().hash, password)
        account = Account(name, True, now or datetime.now(UTC))
        try:
            await self._admins.insert_one(
                {"_id": name, "hash": digest, "active": True, "created_at": account.created_at}
            )
        except DuplicateKeyError:
            raise AccountExists(name) from None
        return account

    async def set_password(self, name: str, password: str) -> bool:
        digest = await asyncio.to_thread(hasher().hash, password)
        return (await self._admins.update_one({"_id": name}, {"$set": {"hash": digest}})).matched_count == 1

    async def set_active(self, name: str, active: bool) -> bool:
        return (await self._admins.update_one({"_id": name}, {"$set": {"active": active}})).matched_count == 1

    async def list(self) -> list[Account]:
        return [_account(doc) async for doc in self._admins.find({}).sort("_id", 1)]

    async def get(self, name: str) -> Account | None:
        doc = await self._admins.find_one({"_id": name})
        return _account(doc) if doc else None

    async def any_active(self) -> bool:
        return await self._admins.find_one({"active": True}, {"_id": 1}) is not None

    async def check(self, name: str, password: str, now: datetime) -> Account | None:
        """The active account if the password is its own; None otherwise (in about the same time)."""
        doc = await self._admins.find_one({"_id": name}) if NAME.match(name) else None
        stored_hash = doc["hash"] if doc else _dummy_hash()
        good = await asyncio.to_thread(_verify, stored_hash, password)
        if not (good and doc and doc.get("active")):
            return None
        update: Document = {"last_sign_in_at": now}
        if hasher().check_needs_rehash(stored_hash):
            update["hash"] = await asyncio.to_thread(hasher().hash, password)
        await self._admins.update_one({"_id": name}, {"$set": update})
        return _account({**doc, **update})


def _account(doc: Document) -> Account:
    return Account(doc["_id"], bool(doc.get("active")), doc["created_at"], doc.get("last_sign_in_at"))
