"""Real servers for the integration and e2e tiers, started once per session on free ports."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.servers import MongoServer, RedisServer, S3Server, TritonServer
from devstack.stack import REPO_ROOT, prepare_model_repository
from model_repository.huggingface import export_huggingface
from model_repository.local import MODEL_NAME
from tests.factories import save_vit

HF_MODEL = "tiny_vit"
WEIGHTS_DIR = Path(
    os.environ.get("MESONET_WEIGHTS_DIR", REPO_ROOT.parent / "shared" / "models" / "mesonet")
)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(scope="session")
def mongo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MongoServer]:
    with MongoServer(tmp_path_factory.mktemp("mongo")) as server:
        yield server


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with S3Server(tmp_path_factory.mktemp("s3")) as server:
        yield server


@pytest.fixture(scope="session")
def triton_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TritonServer]:
    if not (WEIGHTS_DIR / "MesoInception_DF.h5").is_file():
        # The exporter would try to download them instead; tests stay offline.
        pytest.fail(f"MesoNet weights not found in {WEIGHTS_DIR}; set MESONET_WEIGHTS_DIR")
    root = tmp_path_factory.mktemp("triton")
    # A tiny Hugging Face classifier, exported offline, served next to MesoNet.
    export_huggingface(str(save_vit(root / "tiny_vit_checkpoint")), root / "models", HF_MODEL, "1")
    repository = prepare_model_repository(root, WEIGHTS_DIR)
    with TritonServer(repository, root, model_name=MODEL_NAME) as server:
        yield server


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    """The four MesoNet sample face crops: `df/*.jpg` (deepfakes) and `real/*.jpg`."""
    return WEIGHTS_DIR / "samples"
