"""Which servers a test session runs against, decided once from the environment.

`DEEPFAKE_TEST_SERVERS`: `local` (devstack's stand-ins), `containers` (the production images
through testcontainers; an error without a Docker engine, never a silent fallback), or `auto`
(the default: containers when a Docker engine answers, else local).
"""

import os
import shutil
import subprocess
from collections.abc import Callable, Mapping
from enum import StrEnum
from pathlib import Path

SERVERS_ENV = "DEEPFAKE_TEST_SERVERS"
# An engine that does not answer within this long is treated as absent by `auto`.
ENGINE_TIMEOUT_S = 3


class ServerKind(StrEnum):
    LOCAL = "local"
    CONTAINERS = "containers"


class ServerSelectionError(RuntimeError):
    """The environment asks for servers this machine cannot provide."""


def select_servers(environ: Mapping[str, str], engine_answers: Callable[[], bool]) -> ServerKind:
    """The kind of servers to start; asks `engine_answers` only when the choice depends on it."""
    choice = environ.get(SERVERS_ENV, "").strip().lower() or "auto"
    if choice == ServerKind.LOCAL:
        return ServerKind.LOCAL
    if choice == ServerKind.CONTAINERS:
        if not engine_answers():
            raise ServerSelectionError(
                f"{SERVERS_ENV}=containers, but no Docker engine answers "
                f"(DOCKER_HOST={environ.get('DOCKER_HOST', '<unset>')}); start one, or unset "
                f"{SERVERS_ENV} to run against the local stand-ins"
            )
        return ServerKind.CONTAINERS
    if choice == "auto":
        return ServerKind.CONTAINERS if engine_answers() else ServerKind.LOCAL
    raise ServerSelectionError(
        f"{SERVERS_ENV}={environ[SERVERS_ENV]!r}: expected local, containers or auto"
    )


def engine_sockets(environ: Mapping[str, str]) -> list[Path]:
    """Where a local Docker engine listens when DOCKER_HOST does not say (docker-py's default,
    Docker Desktop's and rootless Docker's)."""
    candidates = [Path("/var/run/docker.sock"), Path.home() / ".docker" / "run" / "docker.sock"]
    if environ.get("XDG_RUNTIME_DIR"):
        candidates.append(Path(environ["XDG_RUNTIME_DIR"]) / "docker.sock")
    return candidates


def docker_engine_answers(
    environ: Mapping[str, str] | None = None,
    connect: Callable[[Mapping[str, str]], bool] | None = None,
) -> bool:
    """Whether a Docker engine answers a ping within ENGINE_TIMEOUT_S.

    With neither DOCKER_HOST nor a socket file there is nothing to ask: False at once, without
    importing the Docker SDK, so a machine without Docker pays nothing for the check.
    """
    environ = os.environ if environ is None else environ
    if not environ.get("DOCKER_HOST") and not any(
        socket.exists() for socket in engine_sockets(environ)
    ):
        return False
    return (connect or _ping)(environ)


def _ping(environ: Mapping[str, str]) -> bool:
    # testcontainers' client: the engine it finds (DOCKER_HOST, its own properties file) is
    # the one the fixtures would use. Imported here: a machine without Docker never loads it.
    from testcontainers.core.docker_client import DockerClient

    try:
        client = DockerClient(timeout=ENGINE_TIMEOUT_S, environment=environ)
    # Anything at all (a refused or missing socket, a bad DOCKER_HOST, unreadable TLS files):
    # no engine to use.
    except Exception:
        return False
    try:
        return bool(client.client.ping())
    except Exception:
        return False
    finally:
        client.client.close()


def gpu_visible(run: Callable[[list[str]], str] | None = None) -> bool:
    """Whether `nvidia-smi -L` lists a GPU: Triton's container then gets every GPU."""
    if run is None:
        if shutil.which("nvidia-smi") is None:
            return False
        run = _output
    try:
        return any(line.startswith("GPU ") for line in run(["nvidia-smi", "-L"]).splitlines())
    except (OSError, subprocess.SubprocessError):
        return False


def _output(command: list[str]) -> str:
    return subprocess.run(command, capture_output=True, text=True, check=True, timeout=10).stdout
