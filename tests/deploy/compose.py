"""docker-compose.yml as data: interpolation as compose does it, services, dependency order, healthchecks.

Shared by the compose-equivalent stack (tests/deploy/docker.py) and the cheap checks in
tests/unit/test_compose.py, so both read the file the same way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"

# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?message}, ${VAR?message}; "$$" is a literal "$".
_INTERPOLATION = re.compile(r"\$\{(?P<var>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


class ComposeError(RuntimeError):
    """What `docker compose` would refuse with (e.g. a required variable that is not set)."""


def interpolate(value, env: Mapping[str, str]) -> str:
    def substitute(match: re.Match) -> str:
        var, op, arg = match.group("var"), match.group("op"), match.group("arg")
        value = env.get(var)
        if op == ":?" and not value or op == "?" and value is None:
            raise ComposeError(f"required variable {var} is missing a value: {arg}")
        if op == ":-" and not value or op == "-" and value is None:
            return arg
        return value or ""

    text = str(value).replace("$$", "\0")
    return _INTERPOLATION.sub(substitute, text).replace("\0", "$")


def as_mapping(value) -> dict[str, str]:
    """``environment`` may be a mapping or a list of ``KEY=VALUE``."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return {str(k): "" if v is None else str(v) for k, v in value.items()}
    return dict(item.split("=", 1) if "=" in item else (item, "") for item in value)


def load(path: Path = COMPOSE_FILE) -> dict:
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict) or not isinstance(data.get("services"), dict):
        raise ComposeError(f"{path} has no services mapping")
    return data


@dataclass
class Service:
    name: str
    spec: dict
    environment: dict[str, str] = field(default_factory=dict)  # interpolated

    @property
    def image(self) -> str:
        return str(self.spec.get("image", ""))

    @property
    def builds_our_image(self) -> bool:
        return "build" in self.spec

    @property
    def command(self) -> list[str]:
        command = self.spec.get("command") or []
        return command.split() if isinstance(command, str) else [str(c) for c in command]

    @property
    def depends_on(self) -> dict[str, str]:
        deps = self.spec.get("depends_on") or {}
        if isinstance(deps, list):
            return dict.fromkeys(deps, "service_started")
        return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}

    @property
    def healthcheck(self) -> list[str] | None:
        """The healthcheck as an argv (``CMD-SHELL`` becomes ``sh -c``), or None."""
        test = (self.spec.get("healthcheck") or {}).get("test")
        if not test:
            return None
        if isinstance(test, str):
            return ["sh", "-c", test]
        kind, *rest = test
        if kind == "CMD":
            return [str(a) for a in rest]
        if kind == "CMD-SHELL":
            return ["sh", "-c", " ".join(rest)]
        return None

    @property
    def volumes(self) -> list[tuple[str, str]]:
        """(volume name or host path, container path) pairs."""
        pairs = []
        for entry in self.spec.get("volumes") or []:
            source, target = (entry["source"], entry["target"]) if isinstance(entry, dict) else entry.split(":")[:2]
            pairs.append((source, target))
        return pairs


def services(data: dict, env: Mapping[str, str], profiles: set[str] = frozenset()) -> dict[str, Service]:
    """The services compose would start (those without a profile, or with an active one), interpolated."""
    found = {}
    for name, spec in data["services"].items():
        if spec.get("profiles") and not set(spec["profiles"]) & set(profiles):
            continue
        environment = {k: interpolate(v, env) for k, v in as_mapping(spec.get("environment")).items()}
        found[name] = Service(name, spec, environment)
    return found


def start_order(found: Mapping[str, Service]) -> list[str]:
    """Dependencies first (depth-first topological order, ties in file order); a cycle is an error."""
    order: list[str] = []
    state: dict[str, str] = {}

    def visit(name: str, path: tuple[str, ...]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            raise ComposeError(f"dependency cycle: {' -> '.join((*path, name))}")
        if name not in found:
            raise ComposeError(f"{path[-1]} depends on {name}, which is not a service")
        state[name] = "visiting"
        for dep in found[name].depends_on:
            visit(dep, (*path, name))
        state[name] = "done"
        order.append(name)

    for name in found:
        visit(name, ())
    return order


def one_shots(found: Mapping[str, Service]) -> set[str]:
    """Services some other service waits for to *complete*: they run once and must exit 0."""
    return {dep for s in found.values() for dep, cond in s.depends_on.items()
            if cond == "service_completed_successfully"}


def readme_compose_block(text: str) -> str:
    """The first ```sh block of the README's docker-compose section."""
    section = text.split("## docker-compose", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert match, "the README's docker-compose section has no ```sh block"
    return match.group(1)
