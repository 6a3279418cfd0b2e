"""Real servers for the integration and e2e tiers, started once per session on free ports:
devstack's local stand-ins, or the production images in containers (tests/servers)."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.stack import REPO_ROOT
from model_repository.huggingface import export_huggingface
from tests.factories import save_vit
from tests.servers.factory import (
    MongoEndpoint,
    RedisEndpoint,
    S3Endpoint,
    Servers,
    TritonEndpoint,
    servers_for,
)
from tests.servers.selection import docker_engine_answers, select_servers

HF_MODEL = "tiny_vit"
WEIGHTS_DIR = Path(
    os.environ.get("MESONET_WEIGHTS_DIR", REPO_ROOT.parent / "shared" / "models" / "mesonet")
)


@pytest.fixture(scope="session")
def test_servers() -> Servers:
    """Which servers this session runs against (DEEPFAKE_TEST_SERVERS; local by default
    unless a Docker engine answers)."""
    return servers_for(select_servers(os.environ, docker_engine_answers))


@pytest.fixture(scope="session")
def redis_server(
    test_servers: Servers, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RedisEndpoint]:
    with test_servers.redis(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(scope="session")
def mongo_server(
    test_servers: Servers, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MongoEndpoint]:
    with test_servers.mongo(tmp_path_factory.mktemp("mongo")) as server:
        yield server


@pytest.fixture(scope="session")
def s3_server(
    test_servers: Servers, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[S3Endpoint]:
    with test_servers.s3(tmp_path_factory.mktemp("s3")) as server:
        yield server


@pytest.fixture(scope="session")
def triton_server(
    test_servers: Servers, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TritonEndpoint]:
    if not (WEIGHTS_DIR / "MesoInception_DF.h5").is_file():
        # The exporter would try to download them instead; tests stay offline.
        pytest.fail(f"MesoNet weights not found in {WEIGHTS_DIR}; set MESONET_WEIGHTS_DIR")
    root = tmp_path_factory.mktemp("triton")
    # A tiny Hugging Face classifier, exported offline, served next to MesoNet.
    export_huggingface(str(save_vit(root / "tiny_vit_checkpoint")), root / "models", HF_MODEL, "1")
    repository = test_servers.model_repository(root, WEIGHTS_DIR)
    with test_servers.triton(repository, root) as server:
        yield server


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    """The four MesoNet sample face crops: `df/*.jpg` (deepfakes) and `real/*.jpg`."""
    return WEIGHTS_DIR / "samples"
