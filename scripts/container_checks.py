"""Checks of what runs in each container, the same for every deployment form.

Each takes `deploy_facts.Container`s and returns error strings (empty: fine).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from deploy_facts import (
    SERVICE_OF_TARGET,
    Container,
    image_target,
    images,
    module_exists,
    required_settings,
)

CELERY_SUBCOMMANDS = frozenset(
    {"worker", "beat", "inspect", "control", "events", "status", "call", "purge", "result"}
)
_CELERY_VALUE_OPTIONS = frozenset({"-A", "--app", "-b", "--broker", "--result-backend"})
_CELERY_VALUE_OPTIONS |= {"--loader", "--config", "--workdir"}
# The main process (consumer, metrics server) next to the pool processes.
MAIN_PROCESS_MB = 300
CREDENTIAL_KEY = re.compile(r"PASSWORD|SECRET|TOKEN|ACCESS_KEY|ADMIN_KEY|_AUTH\b")
URL_PASSWORD = re.compile(r"^[a-z+]+://(?:\$\{[^}]*\}|[^/@:])*:([^/@]+)@")


def effective_command(container: Container) -> list[str] | None:
    """argv as the runtime starts it: `command` replaces ENTRYPOINT, `args` replaces CMD (and
    a `command` without `args` drops the image's CMD). None for images not built here."""
    target = image_target(container.image)
    if target is None:
        return None
    image = images()[target]
    if container.command is not None:
        return [*container.command, *(container.args or [])]
    return [*image.entrypoint, *(image.cmd if container.args is None else container.args)]


def full_env(container: Container) -> dict[str, str | None]:
    target = image_target(container.image)
    image_env: dict[str, str | None] = dict(images()[target].env) if target else {}
    return image_env | container.env


def _option(argv: list[str], *names: str) -> str | None:
    for index, token in enumerate(argv):
        for name in names:
            if token == name and index + 1 < len(argv):
                return argv[index + 1]
            if token.startswith(f"{name}="):
                return token.split("=", 1)[1]
    return None


def _celery_subcommand(argv: list[str]) -> str | None:
    index = 1
    while index < len(argv) and argv[index].startswith("-"):
        index += 1 if "=" in argv[index] or argv[index] not in _CELERY_VALUE_OPTIONS else 2
    return argv[index] if index < len(argv) else None


def command_errors(container: Container) -> list[str]:
    argv = effective_command(container)
    if argv is None:
        return []
    if not argv:
        return ["no command: neither the image nor the container gives one"]
    image = images()[image_target(container.image) or ""]
    executable = argv[0].rsplit("/", 1)[-1]
    if executable not in image.executables:
        return [f"runs {argv[0]!r}, which image {image.target} does not provide"]
    env = full_env(container)
    if executable == "celery":
        app = _option(argv, "-A", "--app") or env.get("CELERY_APP")
        if not app or not module_exists(app.split(":")[0]):
            return [f"celery app {app!r} is not a module of the repository"]
        subcommand = _celery_subcommand(argv)
        if subcommand not in CELERY_SUBCOMMANDS:
            return [f"celery has no subcommand {subcommand!r} ({' '.join(argv)})"]
    elif executable == "uvicorn":
        apps = [token for token in argv[1:] if ":" in token and not token.startswith("-")]
        if not apps or not module_exists(apps[0].split(":")[0]):
            return [f"uvicorn app {apps[:1]} is not a module of the repository"]
    elif executable.startswith("python") and "-m" in argv:
        module = argv[argv.index("-m") + 1]
        if not module_exists(module):
            return [f"python -m {module}: no such module in the repository"]
    return []


def runs_celery(container: Container, subcommand: str) -> bool:
    argv = effective_command(container) or []
    return bool(argv) and argv[0].endswith("celery") and _celery_subcommand(argv) == subcommand


def settings_errors(container: Container) -> list[str]:
    service = SERVICE_OF_TARGET.get(image_target(container.image) or "")
    if service is None or container.init:
        return []
    env = full_env(container)
    errors = []
    for name, why in required_settings(service).items():
        if name not in env:
            errors.append(f"{name} is not set ({why})")
        elif env[name] is not None and any(
            local in (env[name] or "") for local in ("127.0.0.1", "localhost")
        ):
            errors.append(f"{name}={env[name]} points at the container itself")
    # Only the gateway may hold the bootstrap admin key (it can create every other key).
    if service != "GATEWAY":
        errors += [f"{key} reaches a non-gateway container" for key in env if "ADMIN_KEY" in key]
    trusted = env.get("FORWARDED_ALLOW_IPS") or ""
    argv = effective_command(container) or []
    trusted = _option(argv, "--forwarded-allow-ips") or trusted
    if "*" in trusted.split(","):
        errors.append("trusts X-Forwarded-* headers from any address (forwarded-allow-ips *)")
    return errors


def _int(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None


def memory_errors(container: Container) -> list[str]:
    """Pool processes x their address-space limit + the main process fit the container."""
    if not runs_celery(container, "worker"):
        return []
    env = full_env(container)
    argv = effective_command(container) or []
    processes = _int(_option(argv, "-c", "--concurrency") or env.get("CELERY_WORKER_CONCURRENCY"))
    per_process = _int(env.get("WORKER_MEMORY_LIMIT_MB"))
    if processes is None:
        return ["the worker's concurrency is not set explicitly (--concurrency)"]
    if per_process is None:
        return ["WORKER_MEMORY_LIMIT_MB is not set explicitly"]
    if container.memory_limit_mb is None:
        return ["the worker has no memory limit"]
    needed = processes * per_process + MAIN_PROCESS_MB
    if needed > container.memory_limit_mb:
        return [
            f"{processes} processes x {per_process} MB + {MAIN_PROCESS_MB} MB = {needed} MB "
            f"exceed its memory limit of {container.memory_limit_mb:.0f} MB"
        ]
    return []


def worker_queues(container: Container) -> list[str]:
    argv = effective_command(container) or []
    value = _option(argv, "-Q", "--queues") or full_env(container).get("CELERY_WORKER_QUEUES")
    return [queue.strip() for queue in (value or "").split(",") if queue.strip()]


def queue_errors(form: str, containers: Iterable[Container], queues: Iterable[str]) -> list[str]:
    """Every queue has a consumer; webhook deliveries run on workers of their own."""
    consumers = {c.workload: worker_queues(c) for c in containers if runs_celery(c, "worker")}
    taken = {queue for names in consumers.values() for queue in names}
    errors = [f"{form}: no worker consumes queue {q!r}" for q in queues if q not in taken]
    for workload, names in consumers.items():
        if "webhooks" in names and names != ["webhooks"]:
            errors.append(f"{form}: {workload} takes webhook deliveries next to {names}")
    if not any(names == ["webhooks"] for names in consumers.values()):
        errors.append(f"{form}: no worker consumes only the webhooks queue")
    return errors


def credential_errors(key: str, value: str | None, where: str) -> list[str]:
    """A literal credential: a credential-named key or a URL with a password, not a
    placeholder (empty, an all-caps word such as PASSWORD, or REPLACE_...)."""
    if not value:
        return []
    secret = value
    match = URL_PASSWORD.match(value)
    if match:
        secret = match.group(1)
    elif not CREDENTIAL_KEY.search(key):
        return []
    if re.fullmatch(r"[A-Z][A-Z0-9_]*", secret) or secret.startswith("${"):
        return []
    return [f"{where}: {key} holds a literal credential"]


def container_errors(container: Container) -> list[str]:
    errors = command_errors(container) + settings_errors(container) + memory_errors(container)
    return [f"{container.where}: {error}" for error in errors]
