"""A stand-in for the ``docker`` command that the compose-equivalent test puts first on PATH, so that the
README's compose section runs verbatim without a Docker engine.

Understood: ``docker compose up -d [--build] [--wait]``, ``docker compose run [--rm] [-T] SERVICE CMD…``,
``docker compose exec [-T] SERVICE CMD…`` and ``docker compose down``. Anything else fails loudly.

``up`` reads docker-compose.yml with the caller's environment (a required variable that is not set fails
as compose fails) and starts every service in dependency order: each service of our image as a process
with exactly its compose ``command`` and ``environment``; PostgreSQL, Kafka and Mailpit are stand-ins the
test started (embedded PostgreSQL, the Tansu broker, an aiosmtpd server) that get what compose gives the
containers (the postgres role and database, Mailpit's TLS and login settings). A one-shot that others wait
for must exit 0; a service others wait for must pass its healthcheck, run as compose runs it; ``--wait``
waits for every healthcheck. The state (ports, pids, logs, volumes) lives in ``$CXC_DEPLOY_STATE``.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import smtplib
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.deploy import compose  # noqa: E402

STATE = Path(os.environ.get("CXC_DEPLOY_STATE", "."))
RUNTIME = Path(__file__).resolve().parent / "runtime"
# Where the image's `python` and `cxc` come from: this interpreter's environment, or one built like the
# image (requirements/runtime.lock, then the project with --no-deps) named by CXC_DEPLOY_IMAGE_BIN.
IMAGE_BIN = os.environ.get("CXC_DEPLOY_IMAGE_BIN") or str(Path(sys.executable).parent)


def _infra() -> dict:
    return json.loads((STATE / "infra.json").read_text())


def say(text: str) -> None:
    print(f"[docker stand-in] {text}", file=sys.stderr, flush=True)


def _seconds(text, default: float) -> float:
    if text is None:
        return default
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", str(text)):
        total += float(number) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]
    return total


def _volume_dirs(service: compose.Service) -> list[tuple[str, str]]:
    """(container path, host directory) of the service's named volumes."""
    pairs = []
    for source, target in service.volumes:
        if source.startswith((".", "/")):
            raise compose.ComposeError(f"{service.name}: bind mounts are not emulated ({source})")
        host = STATE / "volumes" / source
        host.mkdir(parents=True, exist_ok=True)
        pairs.append((target.rstrip("/"), str(host)))
    return pairs


def _translate(value: str, volumes: list[tuple[str, str]]) -> str:
    for target, host in volumes:
        if value == target or value.startswith(target + "/"):
            return host + value[len(target):]
    return value


def _hosts(found: dict[str, compose.Service]) -> dict[str, dict[str, int]]:
    infra = _infra()
    hosts: dict[str, dict[str, int]] = {name: {} for name in found}  # our services: same port on loopback
    for name, service in found.items():
        if service.image.startswith("postgres:"):
            hosts[name] = {"5432": infra["postgres_port"]}
        elif service.image.startswith("apache/kafka"):
            hosts[name] = {"*": infra["kafka_port"]}
        elif service.image.startswith("axllent/mailpit"):
            hosts[name] = {"1025": infra["smtp_port"]}
    return hosts


def process_env(service: compose.Service, found: dict[str, compose.Service]) -> dict[str, str]:
    """Exactly the service's compose environment, plus what the image and the network provide."""
    volumes = _volume_dirs(service)
    home = STATE / "home"
    home.mkdir(exist_ok=True)
    env = {k: _translate(v, volumes) for k, v in service.environment.items()}
    env.update(
        PATH=f"{IMAGE_BIN}:/usr/local/bin:/usr/bin:/bin", HOME=str(home),
        PYTHONPATH=str(RUNTIME), PYTHONUNBUFFERED="1", PYTHONDONTWRITEBYTECODE="1",
        CXC_DEPLOY_HOSTS=json.dumps(_hosts(found)),
    )
    return env


def process_argv(argv: list[str], service: compose.Service) -> list[str]:
    volumes = _volume_dirs(service)
    return [_translate(a, volumes) for a in argv]


# --- stand-ins for the infrastructure images -------------------------------------------------------


async def _postgres_up(service: compose.Service) -> None:
    """What the postgres image does on first start: the POSTGRES_USER role and POSTGRES_DB database."""
    import asyncpg

    env = service.environment
    user, password = env.get("POSTGRES_USER", "postgres"), env["POSTGRES_PASSWORD"]
    db = env.get("POSTGRES_DB", user)
    conn = await asyncpg.connect(_infra()["postgres_admin_dsn"])
    try:
        literal = "'" + password.replace("'", "''") + "'"
        if not await conn.fetchval("SELECT true FROM pg_roles WHERE rolname = $1", user):
            await conn.execute(f'CREATE ROLE "{user}" LOGIN PASSWORD {literal}')
        if not await conn.fetchval("SELECT true FROM pg_database WHERE datname = $1", db):
            await conn.execute(f'CREATE DATABASE "{db}" OWNER "{user}"')
    finally:
        await conn.close()


async def _postgres_healthy(service: compose.Service) -> bool:
    """pg_isready -U user -d db, with the password (the stand-in checks it: scram over TCP)."""
    import asyncpg

    env = service.environment
    user = env.get("POSTGRES_USER", "postgres")
    try:
        conn = await asyncpg.connect(host="127.0.0.1", port=_infra()["postgres_port"], user=user,
                                     password=env["POSTGRES_PASSWORD"], database=env.get("POSTGRES_DB", user),
                                     timeout=5)
    except Exception:
        return False
    await conn.close()
    return True


def _kafka_healthy() -> bool:
    from shared.messaging.kafka import broker_reachable

    return asyncio.run(broker_reachable(f"127.0.0.1:{_infra()['kafka_port']}", 5))


def _mailpit_up(service: compose.Service) -> None:
    volumes = _volume_dirs(service)
    config = {k: _translate(v, volumes) for k, v in service.environment.items() if k.startswith("MP_")}
    log = open(STATE / "logs" / f"{service.name}.log", "ab")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("mailpit_standin.py")), str(_infra()["smtp_port"]),
         str(STATE / "mail")], stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    proc.stdin.write(json.dumps(config).encode())
    proc.stdin.close()
    _record(service.name, proc.pid)


def _mailpit_healthy() -> bool:
    try:
        with smtplib.SMTP("127.0.0.1", _infra()["smtp_port"], timeout=5) as smtp:
            return smtp.ehlo()[0] == 250
    except OSError:
        return False


# --- our image ---------------------------------------------------------------------------------------


def _record(name: str, pid: int) -> None:
    with open(STATE / "pids", "a") as f:
        f.write(f"{name} {pid}\n")


def _start(service: compose.Service, found) -> subprocess.Popen:
    log = open(STATE / "logs" / f"{service.name}.log", "ab")  # noqa: SIM115
    proc = subprocess.Popen(process_argv(service.command, service), env=process_env(service, found),
                            cwd=STATE / "home", stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    _record(service.name, proc.pid)
    return proc


def _log_tail(name: str, lines: int = 40) -> str:
    path = STATE / "logs" / f"{name}.log"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


def _healthy(service: compose.Service, found) -> bool:
    if service.image.startswith("postgres:"):
        return asyncio.run(_postgres_healthy(service))
    if service.image.startswith("apache/kafka"):
        return _kafka_healthy()
    if service.image.startswith("axllent/mailpit"):
        return _mailpit_healthy()
    check = service.healthcheck
    done = subprocess.run(process_argv(check, service), env=process_env(service, found), cwd=STATE / "home",
                          capture_output=True, timeout=_seconds(service.spec["healthcheck"].get("timeout"), 30))
    return done.returncode == 0


def _wait_healthy(service: compose.Service, found, proc: subprocess.Popen | None) -> None:
    hc = service.spec.get("healthcheck") or {}
    budget = _seconds(hc.get("start_period"), 0) + _seconds(hc.get("interval"), 30) * int(hc.get("retries", 3))
    deadline = time.monotonic() + max(budget, 30)
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise compose.ComposeError(f"{service.name} exited with {proc.returncode}:\n{_log_tail(service.name)}")
        if _healthy(service, found):
            say(f"{service.name} healthy")
            return
        time.sleep(0.5)
    raise compose.ComposeError(f"{service.name} did not become healthy:\n{_log_tail(service.name)}")


def up(args: list[str]) -> int:
    wait_all = "--wait" in args
    found = compose.services(compose.load(Path.cwd() / "docker-compose.yml"), os.environ)
    (STATE / "logs").mkdir(exist_ok=True)
    one_shots = compose.one_shots(found)
    waited_healthy = {dep for s in found.values() for dep, c in s.depends_on.items() if c == "service_healthy"}
    for name in compose.start_order(found):
        service = found[name]
        for dep, condition in service.depends_on.items():
            if condition == "service_healthy" and not found[dep].spec.get("healthcheck"):
                raise compose.ComposeError(f"{name} waits for {dep} to be healthy, but {dep} has no healthcheck")
        proc = None
        if service.image.startswith("postgres:"):
            asyncio.run(_postgres_up(service))
        elif service.image.startswith("apache/kafka"):
            pass  # the embedded broker is running
        elif service.image.startswith("axllent/mailpit"):
            _mailpit_up(service)
        elif service.builds_our_image:
            if not service.command:
                raise compose.ComposeError(f"{name}: no command")
            proc = _start(service, found)
            if name in one_shots:
                code = proc.wait(120)
                if code != 0:
                    raise compose.ComposeError(f"{name} exited with {code}:\n{_log_tail(name)}")
                say(f"{name} exited 0")
                continue
        else:
            raise compose.ComposeError(f"{name}: no stand-in for image {service.image!r}")
        if service.spec.get("healthcheck") and (wait_all or name in waited_healthy):
            _wait_healthy(service, found, proc)
        else:
            say(f"{name} started")
    return 0


def run(args: list[str], *, exec_: bool) -> int:
    rest = list(args)
    while rest and rest[0].startswith("-"):
        flag = rest.pop(0)
        if flag in ("-e", "--env", "-u", "--user", "-w", "--workdir"):
            raise compose.ComposeError(f"option {flag} is not emulated")
        if flag not in ("--rm", "-T", "--no-deps", "-i", "--interactive", "-t", "--tty"):
            raise compose.ComposeError(f"option {flag} is not emulated")
    if len(rest) < 2:
        raise compose.ComposeError("usage: docker compose run|exec SERVICE COMMAND …")
    name, argv = rest[0], rest[1:]
    found = compose.services(compose.load(Path.cwd() / "docker-compose.yml"), os.environ)
    if name not in found or not found[name].builds_our_image:
        raise compose.ComposeError(f"no service {name!r} of our image")
    service = found[name]
    return subprocess.run(process_argv(argv, service), env=process_env(service, found), cwd=STATE / "home").returncode


def down() -> int:
    path = STATE / "pids"
    for line in (path.read_text().splitlines() if path.exists() else []):
        _name, pid = line.split()
        try:
            os.killpg(int(pid), signal.SIGTERM)
        except ProcessLookupError:
            pass
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] != ["compose"] or len(argv) < 2:
        say(f"only 'docker compose …' is emulated, not: docker {' '.join(argv)}")
        return 2
    verb, args = argv[1], argv[2:]
    try:
        if verb == "up":
            return up(args)
        if verb in ("run", "exec"):
            return run(args, exec_=verb == "exec")
        if verb == "down":
            return down()
        say(f"'docker compose {verb}' is not emulated")
        return 2
    except compose.ComposeError as exc:
        say(f"error: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
