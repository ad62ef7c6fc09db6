"""One CLI: serve, keys, accounts, extensions, db. An operator's mistake is one line (ConfigError
or a domain error), never a traceback."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import click

from callbridge import __version__
from callbridge.accounts.extensions import ExtensionService
from callbridge.accounts.service import AccountService
from callbridge.accounts.store import AccountStore, ExtensionStore
from callbridge.audit.service import AuditTrail, cli_actor
from callbridge.audit.store import AuditStore
from callbridge.contacts.service import ContactService
from callbridge.db import Db, database_for, database_shown, is_postgres_url
from callbridge.db.migrate import available_migrations
from callbridge.errors import DomainError
from callbridge.logs import setup_logging
from callbridge.scopes import ACCOUNT_SCOPES, PRESETS
from callbridge.settings import ConfigError, Settings, env_name, load_settings
from callbridge.timeutil import utc_now_iso

CONTEXT = {"help_option_names": ["-h", "--help"]}


def _settings(ctx: click.Context) -> Settings:
    return ctx.obj["settings"]


PLAIN_PROGRESS_SECONDS = 5.0  # off a terminal (a service's log, a pipe): a progress line so often


def _run(coro):
    try:
        return asyncio.run(coro)
    except DomainError as exc:
        raise click.ClickException(exc.message or exc.error) from None
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:  # a file the command was given: one line, no traceback
        where = exc.filename if exc.filename is not None else ""
        raise click.ClickException(f"{where}: {exc.strerror or exc}" if where else str(exc)) \
            from None


async def _with_db(settings: Settings, fn):
    """fn(db) on the configured database, which must exist: a data command run from another
    folder, or with a misspelt CALLBRIDGE_DATABASE, would otherwise fill a new, empty database
    the service never reads. Says on stderr which database it uses."""
    db = database_for(settings.database, default_region=settings.region,
                      pool_size=settings.database_pool_size)
    await db.open(create=False)
    click.echo(f"callbridge: database {database_shown(settings.database)}", err=True)
    try:
        return await fn(db)
    finally:
        await db.close()


def _audit(db: Db) -> AuditTrail:
    return AuditTrail(AuditStore(db))


def _accounts(db: Db) -> AccountService:
    return AccountService(AccountStore(db), _audit(db))


async def _with_accounts(settings: Settings, fn):
    return await _with_db(settings, lambda db: fn(_accounts(db)))


async def _with_extensions(settings: Settings, fn):
    return await _with_db(settings,
                          lambda db: fn(ExtensionService(ExtensionStore(db), _accounts(db),
                                                         [n.name for n in settings.nodes()])))


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, "--version", "-V", prog_name="callbridge")
@click.option("--config", type=click.Path(path_type=Path), default=None,
              help="TOML file with settings (environment variables CALLBRIDGE_* win over it).")
@click.pass_context
def main(ctx: click.Context, config: Path | None) -> None:
    """callbridge: click-to-dial, call log and contacts beside Asterisk.

    Every setting is an environment variable or a TOML key: `callbridge serve --help` lists them.
    """
    try:
        settings = load_settings(config)
    except ConfigError as exc:  # an operator error: one line, no traceback
        raise click.ClickException(str(exc)) from None
    setup_logging(settings.log_level)
    ctx.obj = {"settings": settings}


def _settings_help() -> str:
    """Every setting with its variable, TOML key and default: the serve command's epilog."""
    lines = ["\b", "Settings (environment variable, or the TOML key in --config FILE):"]
    for name, field in Settings.model_fields.items():
        default = field.default
        default = default.get_secret_value() if hasattr(default, "get_secret_value") else default
        shown = "(none)" if default in (None, "") else default
        lines.append(f"  {env_name(name):<34} {name} = {shown}")
        lines.append(f"      {field.description}")
    return "\n".join(lines)


@main.command(epilog=_settings_help(), context_settings=CONTEXT)
@click.pass_context
def serve(ctx: click.Context) -> None:
    """Run the HTTP service (creates and migrates the database first)."""
    from aiohttp.web_runner import GracefulExit

    from callbridge.app import run

    try:
        asyncio.run(run(_settings(ctx)))
    except (GracefulExit, KeyboardInterrupt):
        pass
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


@main.group()
def db() -> None:
    """Database maintenance."""


@db.command("init")
@click.pass_context
def db_init(ctx: click.Context) -> None:
    """Create the database (or bring an existing one's schema up to date), then exit. The
    service creates it on its first start too; no other command creates one."""
    settings = _settings(ctx)

    async def init() -> bool:
        db = database_for(settings.database, default_region=settings.region, pool_size=1)
        try:
            return await db.open(create=True)
        finally:
            await db.close()
    created = _run(init())
    where = database_shown(settings.database)
    click.echo(f"{where}: {'created' if created else 'exists'}, schema version"
               f" {_schema_version(settings)}")


@db.command("migrate")
@click.pass_context
def db_migrate(ctx: click.Context) -> None:
    """Upgrade an existing database's schema, then exit (`db init` creates one)."""
    settings = _settings(ctx)
    _run(_with_db(settings, lambda db: asyncio.sleep(0)))  # opening migrates
    click.echo(f"schema version {_schema_version(settings)}")


def _schema_version(settings: Settings) -> int:
    """The newest migration this release has: what an opened database is at."""
    package = "callbridge.db.migrations_pg" if settings.postgres else "callbridge.db.migrations"
    return available_migrations(package)[-1][0]


@db.command("copy")
@click.argument("source", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("url")
def db_copy(source: Path, url: str) -> None:
    """Move an installation from the SQLite file SOURCE to the empty PostgreSQL database URL
    (postgresql://user:password@host/db): every table in one transaction, with progress, and
    each table's row count checked on both sides. Stop callbridge first; then point
    CALLBRIDGE_DATABASE at URL."""
    import asyncpg

    from callbridge.db.copy import CopyError, copy_sqlite_to_pg, source_counts

    if not is_postgres_url(url):
        raise click.ClickException(f"{url!r} is not a postgresql:// URL")
    if not source.exists():
        raise click.ClickException(f"no SQLite database at {source}")
    totals = source_counts(source)
    done: dict[str, int] = {}
    with click.progressbar(length=sum(totals.values()) or 1, label=f"copying {source.name}",
                           file=sys.stderr) as bar:
        def progress(table: str, rows: int) -> None:
            bar.update(rows - done.get(table, 0))
            done[table] = rows

        try:
            counts = _run(copy_sqlite_to_pg(source, url, progress))
        except CopyError as exc:
            raise click.ClickException(f"nothing copied: {exc}") from None
        except (OSError, asyncpg.PostgresError) as exc:
            raise click.ClickException(f"cannot copy to {database_shown(url)}: {exc}") from None
    for table, rows in counts.items():
        if rows:
            click.echo(f"  {table:<20} {rows:>10,} rows")
    click.echo(f"copied {sum(counts.values()):,} rows from {source.resolve()} to"
               f" {database_shown(url)}; counts match")


@db.command("backup")
@click.argument("destination", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def db_backup(ctx: click.Context, destination: Path) -> None:
    """Copy the database to DESTINATION while callbridge runs (SQLite's online backup: a
    consistent copy, writers wait only for each step), then check the copy's integrity."""
    import sqlite3

    settings = _settings(ctx)
    if settings.postgres:
        raise click.ClickException("db backup copies a SQLite file; back up PostgreSQL with"
                                   " pg_dump (docs/scale-out.md)")
    source = Path(settings.database)
    if not source.exists():
        raise click.ClickException(f"{env_name('database')}: no database at {source.resolve()}")
    if destination.exists():
        raise click.ClickException(f"{destination} exists: choose a new file")
    try:  # created first, 0600: a copy of every account's data is as private as the database
        os.close(os.open(destination, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except OSError as exc:
        raise click.ClickException(f"{destination}: {exc.strerror}") from None
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(destination)
    try:
        pages = src.execute("PRAGMA page_count").fetchone()[0]
        with click.progressbar(length=pages, label=f"backing up {source.name}",
                               file=sys.stderr) as bar:
            src.backup(dst, pages=1024, progress=lambda status, remaining, total:
                       bar.update(total - remaining - bar.pos))
        ok = dst.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        src.close()
        dst.close()
    if ok != "ok":
        raise click.ClickException(f"the copy failed its integrity check: {ok}")
    click.echo(f"backed up {source.resolve()} to {destination.resolve()}"
               f" ({destination.stat().st_size / 2**20:.1f} MiB, integrity ok)")


@main.group()
def keys() -> None:
    """API keys: create, list, revoke."""


@keys.command("create")
@click.option("--account", default=None, help="Account name (created if it doesn't exist).")
@click.option("--admin", is_flag=True, help="An admin key: manages accounts, keys and extensions"
              " over /admin/…, reads no account's data.")
@click.option("--scope", default=None, metavar="A,B,…",
              help="What the key may do: " + ", ".join(sorted(ACCOUNT_SCOPES))
              + " (default: all of them, or the preset's).")
@click.option("--preset", type=click.Choice(sorted(PRESETS)), default=None,
              help="Scopes for a common client: receptionist (the screen-pop page), crm-sync,"
                   " reporting, full (docs/operator.md, \"Keys\").")
@click.option("--expires", default=None, metavar="WHEN",
              help="When the key stops working: a span (90d, 12h, 4w) or a date (2027-03-31);"
                   " default: never.")
@click.pass_context
def keys_create(ctx: click.Context, account: str | None, admin: bool, scope: str | None,
                preset: str | None, expires: str | None) -> None:
    """Create an API key; the key is printed once, alone on the last line."""
    if admin == (account is not None):
        raise click.UsageError("give --account NAME, or --admin")
    if admin:
        if scope is not None or preset is not None:
            raise click.UsageError("an admin key's scope is admin: no --scope or --preset")
        key_id, key = _run(_with_accounts(
            _settings(ctx), lambda s: s.create_admin_key(expires, cli_actor())))
        click.echo(f"created admin key {key_id} (shown once, store it now):")
        click.echo(key)
        return
    assert account is not None
    try:
        scopes = AccountService.scopes_from(scope, preset)
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    info, key = _run(_with_accounts(
        _settings(ctx), lambda s: s.create_key(account, scopes, expires, cli_actor())))
    click.echo(f"created key {info.id} for account {info.account}, scopes"
               f" {' '.join(sorted(info.scopes))}"
               + (f", expires {info.expires_at}" if info.expires_at else "")
               + " (shown once, store it now):")
    click.echo(key)


@keys.command("list")
@click.option("--account", default=None)
@click.pass_context
def keys_list(ctx: click.Context, account: str | None) -> None:
    """List keys: id, account, scopes, created, expires, last used (to within a minute), and
    status (keys themselves are never stored)."""
    rows = _run(_with_accounts(_settings(ctx), lambda s: s.list_keys(account)))
    now = utc_now_iso()
    click.echo(f"{'KEY ID':<14} {'ACCOUNT':<16} {'SCOPES':<48} {'CREATED':<25} {'EXPIRES':<25}"
               f" {'LAST USED':<25} STATUS")
    for k in rows:
        if k.revoked_at:
            status = f"revoked {k.revoked_at}"
        elif k.expires_at and k.expires_at <= now:
            status = "expired"
        else:
            status = "active"
        shown = "all" if k.scopes == ACCOUNT_SCOPES else ",".join(sorted(k.scopes))
        click.echo(f"{k.id:<14} {k.account:<16} {shown:<48} {k.created_at:<25}"
                   f" {k.expires_at or 'never':<25} {k.last_used_at or '-':<25} {status}")


@keys.command("revoke")
@click.argument("key_id")
@click.pass_context
def keys_revoke(ctx: click.Context, key_id: str) -> None:
    """Revoke a key by its id (takes effect on a running service within 5 s)."""
    _run(_with_accounts(_settings(ctx), lambda s: s.revoke_key(key_id, cli_actor())))
    click.echo(f"revoked {key_id}")


@main.group()
def extensions() -> None:
    """PBX extensions of each account (what click-to-dial may ring)."""


@extensions.command("add")
@click.option("--account", required=True, help="An existing account's name (accounts add).")
@click.argument("extension")
@click.option("--mobile", default=None, help="Mobile number rung together with the devices.")
@click.option("--name", default=None, help="Display name of the extension's user.")
@click.option("--did", default=None, help="Its direct number, shown in the call log.")
@click.option("--node", default=None, help="The Asterisk node serving it (a name in"
              " CALLBRIDGE_AMI); default: the first.")
@click.pass_context
def extensions_add(ctx, account: str, extension: str, mobile: str | None, name: str | None,
                   did: str | None, node: str | None) -> None:
    """Give EXTENSION to an account."""
    async def add(service):
        await service.accounts.get_account(account)  # a misspelt name creates nothing
        return await service.add(account, extension, mobile, name, did, node, cli_actor())
    ext = _run(_with_extensions(_settings(ctx), add))
    click.echo(f"extension {ext.extension} -> account {ext.account}"
               + (f", mobile {ext.mobile}" if ext.mobile else "")
               + (f", node {ext.node}" if ext.node else ""))


@extensions.command("list")
@click.option("--account", default=None)
@click.pass_context
def extensions_list(ctx, account: str | None) -> None:
    """List extensions."""
    rows = _run(_with_extensions(_settings(ctx), lambda s: s.list(account)))
    click.echo(f"{'EXTENSION':<10} {'ACCOUNT':<20} {'MOBILE':<16} NAME")
    for e in rows:
        click.echo(f"{e.extension:<10} {e.account:<20} {e.mobile or '-':<16} {e.name or ''}")


@extensions.command("remove")
@click.argument("extension")
@click.pass_context
def extensions_remove(ctx, extension: str) -> None:
    """Take EXTENSION away from its account."""
    _run(_with_extensions(_settings(ctx), lambda s: s.remove(extension, cli_actor())))
    click.echo(f"removed {extension}")


@main.group()
def contacts() -> None:
    """Contacts files: import and export (CSV with the WebFones field names, or vCard)."""


def _format_of(path: Path, given: str | None) -> str:
    if given:
        return given
    return "vcf" if path.suffix.lower() in (".vcf", ".vcard") else "csv"


@contacts.command("import")
@click.option("--account", required=True, help="An existing account's name (accounts add).")
@click.option("--format", "fmt", type=click.Choice(["csv", "vcf"]), default=None,
              help="Default: from the file name (.vcf/.vcard: vCard, else CSV).")
@click.option("--rejects", type=click.Path(path_type=Path), default=None,
              help="Where rejected records go, with their line and reason"
                   " (default: FILE.rejects.csv).")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
def contacts_import(ctx, account: str, fmt: str | None, rejects: Path | None, file: Path) -> None:
    """Import FILE into ACCOUNT: new contacts are created, those whose external_id (a vCard's
    UID) exists are updated; a rejected record never stops the rest."""
    import csv as csvlib

    from callbridge.contacts import transfer
    fmt = _format_of(file, fmt)
    rejects = rejects or file.with_name(file.name + ".rejects.csv")
    total = file.stat().st_size

    async def run(db):
        acct = await _accounts(db).get_account(account)  # a misspelt name creates nothing
        with file.open(encoding="utf-8-sig", newline="") as text, \
                rejects.open("w", newline="") as out, \
                click.progressbar(length=total, label=f"importing {file.name}",
                                  file=sys.stderr) as bar:  # a bar only on a terminal
            writer = csvlib.writer(out)
            writer.writerow(["line", "reason"])
            done = 0

            plain = not sys.stderr.isatty()  # click draws no bar there: a line now and then
            said = time.monotonic()

            def advance() -> None:
                nonlocal done, said
                position = text.buffer.tell()
                bar.update(position - done)
                done = position
                if plain and time.monotonic() - said >= PLAIN_PROGRESS_SECONDS:
                    said = time.monotonic()
                    click.echo(f"importing {file.name}: {100 * position // max(total, 1)}%"
                               f" ({position // 2**20} of {total // 2**20} MiB)", err=True)

            return await transfer.import_records(
                ContactService(db), acct, transfer.records_of(fmt, text),
                on_reject=lambda line, reason: writer.writerow([line, reason]),
                on_batch=advance, audit=_audit(db), actor=cli_actor(), fmt=fmt,
                batch_size=transfer.CLI_BATCH)

    try:
        report = _run(_with_db(_settings(ctx), run))
    except UnicodeDecodeError as exc:
        raise click.ClickException(f"{file} is not UTF-8: {exc}") from None
    click.echo(f"{file.name}: {report.created} created, {report.updated} updated,"
               f" {report.unchanged} unchanged,"
               f" {report.rejected} rejected" + (f" (see {rejects})" if report.rejected else ""))
    if not report.rejected:
        rejects.unlink(missing_ok=True)


@contacts.command("export")
@click.option("--account", required=True)
@click.option("--format", "fmt", type=click.Choice(["csv", "vcf"]), default="csv")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Default: standard output.")
@click.pass_context
def contacts_export(ctx, account: str, fmt: str, output: Path | None) -> None:
    """Write every contact of ACCOUNT as CSV or vCard 3.0."""
    from callbridge.contacts import transfer

    async def run(db):
        acct = await _accounts(db).get_account(account)
        out = output.open("wb") if output else sys.stdout.buffer
        try:
            async with ContactService(db).export_batches(acct) as batches:
                async for part in transfer.export_parts(batches, fmt):
                    out.write(part)
        finally:
            if output:
                out.close()

    _run(_with_db(_settings(ctx), run))


@main.group("accounts", invoke_without_command=True)
@click.pass_context
def accounts(ctx: click.Context) -> None:
    """Accounts: list them (no subcommand), set a home region."""
    if ctx.invoked_subcommand is None:
        rows = _run(_with_accounts(_settings(ctx), lambda s: s.list_accounts()))
        click.echo(f"{'ACCOUNT':<24} {'REGION':<7} ORGANIZATION ID (x-organization-id)")
        for a in rows:
            click.echo(f"{a.name:<24} {a.region:<7} {a.uuid}")


@accounts.command("add")
@click.argument("account")
@click.option("--region", default=None, help="Its home region (default: CALLBRIDGE_REGION).")
@click.pass_context
def accounts_add(ctx: click.Context, account: str, region: str | None) -> None:
    """Create ACCOUNT (keys create makes one too): the other commands never create accounts,
    so a misspelt --account is an error, not a second account."""
    made = _run(_with_accounts(_settings(ctx), lambda s: s.create_account(account, region,
                                                                           cli_actor())))
    click.echo(f"{made.name}: created, region {made.region}")


@accounts.command("set-region")
@click.argument("account")
@click.argument("region")
@click.pass_context
def accounts_set_region(ctx: click.Context, account: str, region: str) -> None:
    """Set ACCOUNT's home REGION (ISO 3166 code: US, DK, GB, DE …): how its numbers are read
    ("71999999" is +4571999999 for DK). Stored numbers are re-keyed in the same transaction."""
    _run(_with_accounts(_settings(ctx), lambda s: s.set_region(account, region, cli_actor())))
    click.echo(f"{account}: region {region.upper()}")


if __name__ == "__main__":
    sys.exit(main())
