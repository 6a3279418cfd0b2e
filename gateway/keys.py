"""Manage API keys: `python -m gateway.keys create|list|revoke` (MongoDB from GATEWAY_ settings).

    python -m gateway.keys create --tenant acme --scope submit --scope read --name moderation
    python -m gateway.keys list [--tenant acme]
    python -m gateway.keys revoke 1a2b3c4d

`create` prints the key once; only its hash is stored. Revocation takes effect on every
gateway within `GATEWAY_AUTH__CACHE_S` seconds.
"""

import argparse
import asyncio
import sys
from collections.abc import Sequence

from gateway.settings import get_settings
from storage.api_key_repository import ApiKey, ApiKeyRepository, Scope, new_key, valid_tenant
from storage.job_repository import create_mongo_client


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="python -m gateway.keys",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = root.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="create a key and print it once")
    create.add_argument("--tenant", required=True, help="the tenant the key acts for")
    create.add_argument(
        "--scope",
        action="append",
        choices=[s.value for s in Scope],
        required=True,
        help="repeat for several; admin implies the others",
    )
    create.add_argument("--name", default="", help="what the key is for")
    create.add_argument("--rate", type=float, help="requests per second (default: the service's)")
    create.add_argument("--burst", type=int, help="bucket size (default: the service's)")
    listing = commands.add_parser("list", help="list keys (never their secrets)")
    listing.add_argument("--tenant")
    revoke = commands.add_parser("revoke", help="revoke a key by its id (the 8-digit prefix)")
    revoke.add_argument("key_id")
    return root


def _describe(key: ApiKey) -> str:
    state = "revoked" if key.revoked_at is not None else "active"
    scopes = ",".join(s.value for s in key.scopes)
    created = key.created_at.strftime("%Y-%m-%d %H:%M")
    return f"{key.id}  {key.tenant_id:<20} {scopes:<18} {state:<8} {created}  {key.name}"


async def run(args: argparse.Namespace) -> int:
    settings = get_settings()
    client = create_mongo_client(settings.mongo)
    try:
        keys = ApiKeyRepository(client[settings.mongo.database])
        await keys.ensure_indexes()
        if args.command == "create":
            if not valid_tenant(args.tenant):
                print(f"invalid tenant {args.tenant!r}", file=sys.stderr)
                return 2
            raw_key, record = new_key(
                args.tenant,
                [Scope(s) for s in args.scope],
                args.name,
                requests_per_s=args.rate,
                burst=args.burst,
            )
            await keys.insert(record)
            print(f"id:     {record.id}\ntenant: {record.tenant_id}\nkey:    {raw_key}")
            print("Store the key now: it is not shown again.", file=sys.stderr)
        elif args.command == "list":
            for key in await keys.list_keys(args.tenant):
                print(_describe(key))
        elif not await keys.revoke(args.key_id):
            print(f"no active key {args.key_id!r}", file=sys.stderr)
            return 1
        else:
            print(f"revoked {args.key_id}")
        return 0
    finally:
        await client.close()


def main(argv: Sequence[str] | None = None) -> int:
    return asyncio.run(run(parser().parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
