"""The back office's admin accounts, from the command line (the web cannot create one):

    python -m services.booking.admins add NAME        # asks for the password twice
    python -m services.booking.admins password NAME   # a new password
    python -m services.booking.admins list
    python -m services.booking.admins disable NAME    # signs the account out at its next request
    python -m services.booking.admins enable NAME

It reads ``MONGODB_URL`` and ``MONGODB_DB`` like the services. With Compose:
``docker compose exec booking python -m services.booking.admins add mette``.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys

from services.booking.backoffice.accounts import (
    COLLECTION,
    AccountExists,
    MongoAccounts,
    name_problem,
    password_problem,
)
from shared.infra.mongo import create_client
from shared.infra.settings import Settings


def ask_password() -> str:
    while True:
        password = getpass.getpass("Password: ")
        if problem := password_problem(password):
            print(problem, file=sys.stderr)
            continue
        if getpass.getpass("Again: ") == password:
            return password
        print("the two passwords differ; try again", file=sys.stderr)


async def run(command: str, name: str | None, settings: Settings) -> int:
    client = create_client(settings)
    try:
        accounts = MongoAccounts(client[settings.mongodb_db][COLLECTION])
        if command == "list":
            for account in await accounts.list():
                state = "active" if account.active else "disabled"
                last = account.last_sign_in_at
                last_text = f", last signed in {last:%Y-%m-%d %H:%M} UTC" if last else ""
                print(f"{account.name}\t{state}\tcreated {account.created_at:%Y-%m-%d}{last_text}")
            return 0
        assert name is not None
        if command == "add":
            if problem := name_problem(name):
                print(problem, file=sys.stderr)
                return 2
            try:
                await accounts.add(name, ask_password())
            except AccountExists:
                print(f"{name} exists already", file=sys.stderr)
                return 1
            print(f"{name} added: sign in at /admin")
            return 0
        if command == "password":
            done = await accounts.set_password(name, ask_password())
        else:
            done = await accounts.set_active(name, command == "enable")
        if not done:
            print(f"no account {name}", file=sys.stderr)
            return 1
        print(f"{name}: {command} done")
        return 0
    finally:
        await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m services.booking.admins", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["add", "password", "list", "disable", "enable"])
    parser.add_argument("name", nargs="?")
    args = parser.parse_args()
    if args.command != "list" and not args.name:
        parser.error(f"{args.command} needs a NAME")
    raise SystemExit(asyncio.run(run(args.command, args.name, Settings())))


if __name__ == "__main__":
    main()
