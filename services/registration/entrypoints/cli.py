"""``cxc keys …``: API keys are issued by the registration service."""

from __future__ import annotations

import asyncio
import csv
import sys
from contextlib import asynccontextmanager


@asynccontextmanager
async def registration_pool():
    from services.registration.settings import RegistrationSettings
    from shared.db import create_pool, migrate

    s = RegistrationSettings()
    pool = await create_pool(s.database_url, s.db_schema, max_size=2)
    try:
        await migrate(pool, s.db_schema, "services.registration.migrations")
        yield pool
    finally:
        await pool.close()


@asynccontextmanager
async def registration_db():
    async with registration_pool() as pool, pool.acquire() as conn:
        yield conn


def cmd_keys_create(args) -> int:
    from services.registration.adapters import repository
    from services.registration.handlers import SOURCE
    from shared import auth

    async def go() -> int:
        async with registration_db() as conn, conn.transaction():
            if not await repository.cluster_exists(conn, args.cluster):
                print(f"error: no cluster {args.cluster!r} (see GET /v1/clusters)", file=sys.stderr)
                return 2
            key_id, key = await auth.issue_key(conn, args.cluster, args.role, args.label, source=SOURCE)
        print(key)
        print(f"key {key_id} ({args.role} for {args.cluster}); store it now: it is shown only once.", file=sys.stderr)
        return 0

    return asyncio.run(go())


def cmd_keys_list(args) -> int:
    from shared import auth

    async def go() -> int:
        async with registration_db() as conn:
            rows = await auth.list_keys(conn, args.cluster)
        for r in rows:
            state = f"revoked {r['revoked_at']:%Y-%m-%d}" if r["revoked_at"] else "active"
            print(f"{r['id']}  {r['prefix']}…  {r['role']:11} {r['cluster_id']:22} {state:18} {r['label'] or ''}")
        return 0

    return asyncio.run(go())


def cmd_keys_keypair(args) -> int:
    """Printed as env lines; the private one goes to registration only (a secret store, not the repo)."""
    from shared import keysigning

    private, public = keysigning.generate_keypair()
    if args.pem:
        private, public = keysigning.private_key_pem(private), keysigning.public_key_pem(public)
        print(f"{keysigning.PRIVATE_KEY_VAR}:\n{private}\n{keysigning.PUBLIC_KEY_VAR}:\n{public}")
    else:
        print(f"{keysigning.PRIVATE_KEY_VAR}={private}\n{keysigning.PUBLIC_KEY_VAR}={public}")
    print("Give the private key to registration only; every service gets the public key.", file=sys.stderr)
    return 0


def cmd_keys_resign(args) -> int:
    from services.registration.handlers import SOURCE
    from shared import auth

    async def go() -> int:
        async with registration_db() as conn, conn.transaction():
            n = await auth.resign_keys(conn, source=SOURCE)
        print(f"published {n} keys again as signed events")
        return 0

    return asyncio.run(go())


def cmd_keys_revoke(args) -> int:
    from services.registration.handlers import SOURCE
    from shared import auth

    async def go() -> int:
        async with registration_db() as conn, conn.transaction():
            if not await auth.revoke_key(conn, args.key_id, source=SOURCE):
                print(f"error: no active key {args.key_id}", file=sys.stderr)
                return 2
        print(f"revoked {args.key_id}")
        return 0

    return asyncio.run(go())


def _problem_or_invalid(exc) -> str:
    """One readable line for a refused admin command (a domain error or a pydantic ValidationError)."""
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'input'}: {e['msg']}"
                         for e in exc.errors(include_url=False))
    return str(exc)


def cmd_keys_rotate(args) -> int:
    from services.registration import admin
    from shared.errors import DomainError

    async def go() -> int:
        try:
            async with registration_db() as conn, conn.transaction():
                reply = await admin.rotate_key(conn, args.key_id)
        except DomainError as exc:
            print(f"error: {exc.detail}", file=sys.stderr)
            return 2
        new = reply.body
        print(new["key"])
        print(f"key {new['id']} ({new['role']} for {new['cluster_id']}) replaces {args.key_id}, which is revoked; "
              "store the new key now: it is shown only once.", file=sys.stderr)
        return 0

    return asyncio.run(go())


def _cluster_args(args) -> list[dict]:
    import json
    from pathlib import Path

    clusters = []
    if args.clusters_file:
        path = Path(args.clusters_file)
        text = path.read_text(encoding="utf-8")
        if path.suffix.lower() == ".json":
            clusters.extend(json.loads(text))
        else:
            clusters.extend(dict(row) for row in csv.DictReader(text.splitlines()))
    for cid, name, country, city in args.cluster or []:
        clusters.append({"id": cid, "name": name, "country": country, "city": city})
    return clusters


def cmd_admin_init(args) -> int:
    from pydantic import ValidationError

    from services.registration import admin
    from services.registration.domain.programme import ProgrammeIn
    from shared.errors import DomainError

    try:
        body = ProgrammeIn(name=args.programme, coordinator_cluster=args.coordinator_cluster,
                           clusters=_cluster_args(args))
    except (OSError, ValueError, csv.Error) as exc:
        why = _problem_or_invalid(exc) if isinstance(exc, ValidationError) else str(exc)
        print(f"error: {why}", file=sys.stderr)
        return 2

    async def go() -> int:
        try:
            async with registration_db() as conn, conn.transaction():
                result = await admin.init_programme(conn, body)
        except DomainError as exc:
            print(f"error: {exc.detail}", file=sys.stderr)
            return 2
        print(f"programme {body.name!r}: {result.programme}", file=sys.stderr)
        for cid, what in result.clusters.items():
            print(f"cluster {cid}: {what}", file=sys.stderr)
        if result.key is not None:
            print(result.key["key"])
            print(f"first coordinator key {result.key['id']} for {result.key['cluster_id']}: store it now, it is "
                  "shown only this once.", file=sys.stderr)
            return 0
        ids = ", ".join(f"{k['id']} ({k['prefix']}…, {k['cluster_id']})" for k in result.existing_coordinator_keys)
        print(f"a coordinator key already exists: {ids}; no new key was issued. To replace one: "
              "cxc keys rotate KEY_ID (or POST /v1/keys/KEY_ID/rotate with a coordinator key).", file=sys.stderr)
        return 0

    return asyncio.run(go())


def cmd_admin_smtp_cert(args) -> int:
    from pathlib import Path

    from cxc.certs import server_certificate

    written, paths = server_certificate(Path(args.dir), args.host)
    state = "wrote" if written else "kept the valid"
    print(f"{state} certificate for {args.host}: {paths['cert']} (key {paths['key']}, CA {paths['ca']})")
    return 0


def cmd_import_participants(args) -> int:
    from pathlib import Path

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from services.registration.adapters import repository
    from services.registration.entrypoints.csv_import import import_participants, read_rows

    err = Console(stderr=True)
    path = Path(args.file)
    try:
        rows = read_rows(path)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        err.print(f"[red]error:[/red] cannot read {path}: {exc}")
        return 2

    async def go() -> int:
        async with registration_pool() as pool:
            async with pool.acquire() as conn:
                if not await repository.cluster_exists(conn, args.cluster):
                    err.print(f"[red]error:[/red] no cluster {args.cluster!r} (see GET /v1/clusters)")
                    return 2
            columns = (TextColumn("importing {task.description}"), BarColumn(), MofNCompleteColumn(),
                       TimeRemainingColumn())
            with Progress(*columns, console=err, transient=False) as bar:
                task = bar.add_task(path.name, total=len(rows))
                report = await import_participants(pool, rows, args.cluster, lambda n: bar.advance(task, n))
        for line, why in report.failed:
            err.print(f"{path.name}:{line}: {why}", markup=False, highlight=False)
        print(f"{report.created} created, {report.existing} already registered, {len(report.failed)} refused")
        return 1 if report.failed else 0

    return asyncio.run(go())


def register(sub) -> None:
    from cxc.ops import examples

    keys = sub.add_parser("keys", help="API keys").add_subparsers(dest="keys_command", required=True)
    create = keys.add_parser("create", help="create a key and print it once", epilog=examples(
        "cxc keys create --cluster gaia --role partner --label 'GAIA portal'"))
    create.add_argument("--cluster", required=True, help="the cluster the key acts for")
    create.add_argument("--role", required=True, choices=["partner", "coordinator", "ops"],
                        help="partner: its own cluster; coordinator: the programme; ops: operations read access")
    create.add_argument("--label", help="a name to recognise the key by in keys list")
    create.set_defaults(fn=cmd_keys_create)
    listing = keys.add_parser("list", help="list keys (never the secrets)",
                              epilog=examples("cxc keys list", "cxc keys list --cluster gaia"))
    listing.add_argument("--cluster", help="only this cluster's keys")
    listing.set_defaults(fn=cmd_keys_list)
    revoke = keys.add_parser("revoke", help="revoke a key by id", epilog=examples("cxc keys revoke KEY_ID"))
    revoke.add_argument("key_id", metavar="KEY_ID", help="the id keys list prints (not the secret)")
    revoke.set_defaults(fn=cmd_keys_revoke)
    rotate = keys.add_parser("rotate", help="issue a new key like KEY_ID (cluster, role, label), revoke KEY_ID",
                            epilog=examples("cxc keys rotate KEY_ID"))
    rotate.add_argument("key_id", metavar="KEY_ID", help="the id of the key to replace")
    rotate.set_defaults(fn=cmd_keys_rotate)
    keypair = keys.add_parser("keypair", help="generate the Ed25519 pair that signs API-key events "
                              "(CXC_KEY_SIGNING_PRIVATE_KEY for registration, CXC_KEY_SIGNING_PUBLIC_KEY for all)",
                              epilog=examples("cxc keys keypair", "cxc keys keypair --pem"))
    keypair.add_argument("--pem", action="store_true", help="PEM instead of one-line base64")
    keypair.set_defaults(fn=cmd_keys_keypair)
    resign = keys.add_parser("resign", help="publish every key again as a signed event (after upgrading "
                             "from unsigned key events, or when a replica's schema was rebuilt)",
                             epilog=examples("cxc keys resign"))
    resign.set_defaults(fn=cmd_keys_resign)

    admin = sub.add_parser("admin", help="operator commands").add_subparsers(dest="admin_command", required=True)
    init = admin.add_parser(
        "init", help="bootstrap a fresh deployment: migrations, clusters, the first coordinator key",
        description="Idempotent. Applies registration's migrations, creates or updates the given clusters, and "
                    "prints the first coordinator key on stdout (messages go to stderr). Run again, it changes "
                    "only what differs and issues no second key: rotate keys with 'cxc keys rotate'.",
        epilog=examples("cxc admin init --programme EXCITE --coordinator-cluster silicon-saxony \\\n"
                        "    --cluster gaia GAIA ES 'San Sebastián'",
                        "cxc admin init --programme EXCITE --coordinator-cluster silicon-saxony --clusters clusters.csv"))
    init.add_argument("--programme", required=True, help="the programme's name")
    init.add_argument("--coordinator-cluster", required=True, metavar="ID",
                      help="the cluster the programme coordinators belong to")
    init.add_argument("--cluster", action="append", nargs=4, metavar=("ID", "NAME", "COUNTRY", "CITY"),
                      help="a partner cluster (repeat the option for each)")
    init.add_argument("--clusters", dest="clusters_file", metavar="FILE",
                      help="clusters from a CSV file with columns id,name,country,city (or a .json list)")
    init.set_defaults(fn=cmd_admin_init)
    cert = admin.add_parser(
        "smtp-cert", help="a private CA and a certificate for the bundled SMTP catcher (kept if still valid)",
        epilog=examples("cxc admin smtp-cert --dir /smtp-tls --host mailpit"))
    cert.add_argument("--dir", required=True, help="where ca.pem, HOST.pem and HOST-key.pem go")
    cert.add_argument("--host", required=True, help="the name notifications connects to (e.g. mailpit)")
    cert.set_defaults(fn=cmd_admin_smtp_cert)

    imports = sub.add_parser("import", help="bulk imports").add_subparsers(dest="import_command", required=True)
    participants = imports.add_parser(
        "participants", help="register participants from a CSV file",
        description="Columns: kind, name, country, city, employees, website, sectors, keywords, offers, requests, "
                    "contact_name, contact_email, contact_phone, contact_language, data_processing_consent, "
                    "marketing_consent, external_ref. Lists are ';'-separated; offers/requests as 'type: text'. "
                    "Re-running a file creates no duplicates. Exit status 1 if some rows were refused.",
        epilog=examples("cxc import participants participants.csv --cluster gaia"))
    participants.add_argument("file", help="CSV with a header row")
    participants.add_argument("--cluster", required=True, help="the cluster the participants belong to")
    participants.set_defaults(fn=cmd_import_participants)
