"""`evcharge serve | db | stations | tokens` (also `python -m central_system ...`)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from central_system.domain.authorization import REGISTRY_STATUSES, AuthorizationStatus
from central_system.domain.clock import parse_timestamp
from central_system.domain.stations import RegistrationStatus, SecurityProfile

Command = Callable[[argparse.Namespace], int]


def configure_logging() -> None:
    logging.basicConfig(
        level=os.environ.get("EVCHARGE_LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    logging.getLogger("websockets").setLevel(logging.WARNING)


async def _until_signalled(coroutine: Awaitable[Any]) -> Any:
    """Run `coroutine`; SIGTERM or SIGINT cancels it so that it shuts down cleanly."""
    task = asyncio.ensure_future(coroutine)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, task.cancel)
    try:
        return await task
    except asyncio.CancelledError:
        return None
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


def run_until_signalled(
    coroutine: Awaitable[Any],
    *,
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None,
) -> Any:
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(_until_signalled(coroutine))


def _run(coroutine: Awaitable[Any]) -> Any:
    return asyncio.run(coroutine)  # type: ignore[arg-type]


def serve(args: argparse.Namespace) -> int:
    from central_system.api.runtime import ApiConfigurationError
    from central_system.app import CentralSystem, DatabaseOutOfDate
    from central_system.process import event_loop_factory, tune_garbage_collector
    from central_system.settings import Settings

    configure_logging()
    try:
        settings = Settings()
        system = CentralSystem(settings)
        tune_garbage_collector()
        run_until_signalled(system.run(), loop_factory=event_loop_factory(settings.uvloop))
    except DatabaseOutOfDate as error:
        print(f"evcharge: {error}", file=sys.stderr)
        return 2
    except ApiConfigurationError as error:
        print(f"evcharge: {error}", file=sys.stderr)
        return 2
    return 0


def db_upgrade(args: argparse.Namespace) -> int:
    from central_system.persistence.migrate import current_revision, head_revision, upgrade
    from central_system.settings import Settings

    configure_logging()
    settings = Settings()
    _run(upgrade(settings.database_url, args.revision))
    # what the database is at, not what was asked for: an older revision is not gone back to
    revision = _run(current_revision(settings.database_url))
    head = " (head)" if revision == head_revision(settings.database_url) else ""
    print(f"database schema is at {revision}{head}")
    return 0


async def _with_services(action: Callable[[Any], Awaitable[Any]]) -> Any:
    from central_system.app import CentralSystem, prepare_database
    from central_system.settings import Settings

    settings = Settings()
    await prepare_database(settings.database_url)
    system = CentralSystem(settings)
    try:
        return await action(system.services)
    finally:
        await system.engine.dispose()


def stations_add(args: argparse.Namespace) -> int:
    profile = SecurityProfile(args.security_profile) if args.security_profile is not None else None

    async def add(services: Any) -> Any:
        return await services.stations.register(
            args.station_id,
            password=args.password,
            security_profile=profile,
            registration_status=RegistrationStatus(args.status),
        )

    try:
        record = _run(_with_services(add))
    except ValueError as error:
        print(f"evcharge: {error}", file=sys.stderr)
        return 2
    print(
        f"station {record.id}: {record.registration_status.value}, "
        f"security profile {int(record.security_profile)}"
    )
    return 0


def tokens_add(args: argparse.Namespace) -> int:
    expires: datetime | None = None
    if args.expires:
        try:
            expires = parse_timestamp(args.expires)
        except ValueError:
            print(f"evcharge: --expires {args.expires!r} is not an ISO 8601 time", file=sys.stderr)
            return 2

    async def add(services: Any) -> Any:
        return await services.authorization.add_token(
            args.token,
            status=AuthorizationStatus(args.status),
            token_type=args.type,
            expires_at=expires,
            group_id=args.group,
        )

    try:
        record = _run(_with_services(add))
    except ValueError as error:
        print(f"evcharge: {error}", file=sys.stderr)
        return 2
    print(f"token {record.value}: {record.status.value}")
    return 0


def users_add(args: argparse.Namespace) -> int:
    """Create an account (the first admin, typically) or set an existing one's password/role."""
    from central_system.domain.accounts import Role
    from central_system.services.errors import ServiceError

    password = args.password or os.environ.get("EVCHARGE_USER_PASSWORD")
    if not password:
        print("evcharge: give --password or set EVCHARGE_USER_PASSWORD", file=sys.stderr)
        return 2
    role = Role(args.role)

    async def add(system: Any) -> Any:
        return await system.api.accounts.set_or_create(args.email, password, role)

    try:
        account = _run(_with_system(add))
    except ServiceError as error:
        print(f"evcharge: {error.detail}", file=sys.stderr)
        return 2
    print(f"user {account.email}: {account.role.value} ({account.id})")
    return 0


async def _with_system(action: Callable[[Any], Awaitable[Any]]) -> Any:
    from central_system.app import CentralSystem, prepare_database
    from central_system.settings import Settings

    settings = Settings()
    await prepare_database(settings.database_url)
    system = CentralSystem(settings)
    try:
        return await action(system)
    finally:
        await system.engine.dispose()


def register(commands: Any) -> None:
    """Add this component's commands to an argparse subparsers object."""
    serve_parser = commands.add_parser(
        "serve", help="run the central system (OCPP server, API, bridge)"
    )
    serve_parser.set_defaults(func=serve)

    db = commands.add_parser("db", help="database schema").add_subparsers(
        dest="db_command", required=True
    )
    db_upgrade_parser = db.add_parser("upgrade", help="apply the schema migrations")
    db_upgrade_parser.add_argument("--revision", default="head")
    db_upgrade_parser.set_defaults(func=db_upgrade)

    stations = commands.add_parser("stations", help="station registry").add_subparsers(
        dest="stations_command", required=True
    )
    add_station = stations.add_parser("add", help="register a station or change its credentials")
    add_station.add_argument("station_id")
    add_station.add_argument("--password", help="HTTP Basic-auth password (profiles 1 and 2)")
    add_station.add_argument(
        "--security-profile",
        type=int,
        choices=[int(p) for p in SecurityProfile],
        help="0 none, 1 Basic auth, 2 TLS + Basic auth, 3 TLS client certificate "
        "(default: 1 with a password, else 0)",
    )
    add_station.add_argument(
        "--status",
        default=RegistrationStatus.ACCEPTED.value,
        choices=[s.value for s in RegistrationStatus],
        help="answer to the station's BootNotification",
    )
    add_station.set_defaults(func=stations_add)

    tokens = commands.add_parser("tokens", help="id tokens (RFID cards, keys)").add_subparsers(
        dest="tokens_command", required=True
    )
    add_token = tokens.add_parser("add", help="add a token or change its status")
    add_token.add_argument("token")
    add_token.add_argument(
        "--status",
        default=AuthorizationStatus.ACCEPTED.value,
        choices=[s.value for s in REGISTRY_STATUSES],
    )
    add_token.add_argument("--expires", help="expiry time, ISO 8601 (UTC if no offset)")
    add_token.add_argument("--group", help="group id (1.6 parent id tag)")
    add_token.add_argument("--type", help="2.0.1 token type, e.g. ISO14443")
    add_token.set_defaults(func=tokens_add)

    users = commands.add_parser("users", help="API accounts (drivers, owners, admins)")
    users_commands = users.add_subparsers(dest="users_command", required=True)
    add_user = users_commands.add_parser(
        "add", help="create an account, or set the password and role of an existing one"
    )
    add_user.add_argument("email")
    add_user.add_argument("--role", default="driver", choices=["driver", "owner", "admin"])
    add_user.add_argument(
        "--password", help="at least 10 characters (or set EVCHARGE_USER_PASSWORD)"
    )
    add_user.set_defaults(func=users_add)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m central_system")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result
