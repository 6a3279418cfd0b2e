"""Which servers a session picks, and that the container servers run what compose runs."""

import importlib
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from devstack.stack import REPO_ROOT
from tests.servers.containers import MINIO_IMAGE, MONGO_IMAGE, REDIS_IMAGE
from tests.servers.factory import ContainerServers, LocalServers, servers_for
from tests.servers.selection import (
    ENGINE_TIMEOUT_S,
    SERVERS_ENV,
    ServerKind,
    ServerSelectionError,
    docker_engine_answers,
    gpu_visible,
    select_servers,
)
from tests.servers.triton import SHM_SIZE, STACK_BYTES, TRITON_COMMAND, TRITON_IMAGE, run_options


def _engine(answers: bool, asked: list[bool]) -> Any:
    def engine_answers() -> bool:
        asked.append(True)
        return answers

    return engine_answers


@pytest.mark.parametrize("value", ["local", "LOCAL", " local "])
@pytest.mark.parametrize("engine", [True, False])
def test_local_never_asks_for_an_engine(value: str, engine: bool) -> None:
    asked: list[bool] = []
    assert select_servers({SERVERS_ENV: value}, _engine(engine, asked)) is ServerKind.LOCAL
    assert asked == []


@pytest.mark.parametrize("environ", [{}, {SERVERS_ENV: ""}, {SERVERS_ENV: "auto"}])
@pytest.mark.parametrize(
    ("engine", "kind"), [(True, ServerKind.CONTAINERS), (False, ServerKind.LOCAL)]
)
def test_auto_follows_the_engine(environ: dict[str, str], engine: bool, kind: ServerKind) -> None:
    asked: list[bool] = []
    assert select_servers(environ, _engine(engine, asked)) is kind
    assert asked == [True]


def test_containers_with_an_engine() -> None:
    environ = {SERVERS_ENV: "containers"}
    assert select_servers(environ, _engine(True, [])) is ServerKind.CONTAINERS


def test_containers_without_an_engine_fail_instead_of_falling_back() -> None:
    with pytest.raises(ServerSelectionError, match="no Docker engine answers"):
        select_servers({SERVERS_ENV: "containers"}, _engine(False, []))


def test_an_unknown_choice_is_refused() -> None:
    with pytest.raises(ServerSelectionError, match="expected local, containers or auto"):
        select_servers({SERVERS_ENV: "docker"}, _engine(True, []))


def test_each_kind_has_its_servers() -> None:
    assert isinstance(servers_for(ServerKind.LOCAL), LocalServers)
    assert isinstance(servers_for(ServerKind.CONTAINERS), ContainerServers)


def _must_not_connect(_environ: object) -> bool:
    raise AssertionError("asked an engine that has no address")


def test_no_address_means_no_engine_without_asking(tmp_path: Path) -> None:
    environ = {"HOME": str(tmp_path), "XDG_RUNTIME_DIR": str(tmp_path)}
    if Path("/var/run/docker.sock").exists():
        pytest.fail("this test assumes no engine socket at /var/run/docker.sock")
    assert docker_engine_answers(environ, connect=_must_not_connect) is False


@pytest.mark.parametrize("answer", [True, False])
def test_a_socket_or_docker_host_is_asked(tmp_path: Path, answer: bool) -> None:
    (tmp_path / "docker.sock").touch()
    asked: list[object] = []

    def connect(environ: object) -> bool:
        asked.append(environ)
        return answer

    assert docker_engine_answers({"XDG_RUNTIME_DIR": str(tmp_path)}, connect) is answer
    assert docker_engine_answers({"DOCKER_HOST": "tcp://127.0.0.1:1"}, connect) is answer
    assert len(asked) == 2


def test_an_engine_that_does_not_answer_is_absent_soon(tmp_path: Path) -> None:
    # The real client, through testcontainers, against a socket nothing listens on.
    environ = {"DOCKER_HOST": f"unix://{tmp_path / 'missing.sock'}"}
    started = time.monotonic()
    assert docker_engine_answers(environ) is False
    assert time.monotonic() - started < ENGINE_TIMEOUT_S


@pytest.mark.parametrize(
    ("output", "visible"),
    [("GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-1)\n", True), ("", False), ("No devices\n", False)],
)
def test_a_gpu_is_visible_when_nvidia_smi_lists_one(output: str, visible: bool) -> None:
    assert gpu_visible(lambda _command: output) is visible


def test_a_failing_nvidia_smi_means_no_gpu() -> None:
    def run(_command: list[str]) -> str:
        raise OSError("nvidia-smi: no driver")

    assert gpu_visible(run) is False


def _compose_services() -> dict[str, Any]:
    compose = yaml.safe_load((REPO_ROOT / "compose.yaml").read_text())
    services: dict[str, Any] = compose["services"]
    return services


def test_the_containers_are_the_production_images() -> None:
    services = _compose_services()
    assert services["mongo"]["image"] == MONGO_IMAGE
    assert services["redis"]["image"] == REDIS_IMAGE
    assert services["minio"]["image"] == MINIO_IMAGE
    assert services["triton"]["image"] == TRITON_IMAGE


def test_triton_runs_as_compose_runs_it() -> None:
    triton = _compose_services()["triton"]
    assert triton["command"] == TRITON_COMMAND
    assert triton["shm_size"] == SHM_SIZE
    assert triton["ulimits"] == {"memlock": -1, "stack": STACK_BYTES}
    assert "deploy" in triton  # compose reserves every GPU; the GPU options do the same


@pytest.mark.parametrize("gpu", [True, False])
def test_triton_options_are_what_docker_py_accepts(gpu: bool) -> None:
    # docker-py's own HostConfig, built offline from the options as containers.create would.
    docker_types: Any = importlib.import_module("docker.types")
    host_config = docker_types.HostConfig(version="1.44", **run_options(gpu=gpu))
    assert host_config["ShmSize"] == 1 << 30
    assert {limit["Name"]: limit["Soft"] for limit in host_config["Ulimits"]} == {
        "memlock": -1,
        "stack": STACK_BYTES,
    }
    requests = host_config.get("DeviceRequests", [])
    assert requests == (
        [{"Driver": "", "Count": -1, "DeviceIDs": [], "Capabilities": [["gpu"]], "Options": {}}]
        if gpu
        else []
    )
