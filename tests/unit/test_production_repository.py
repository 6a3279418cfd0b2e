"""The repository written for Triton in containers: configs from the package, ONNX kept."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest
from tritonclient.grpc import model_config_pb2

from model_repository import faces, local, production

GPU = model_config_pb2.ModelInstanceGroup.KIND_GPU
CPU = model_config_pb2.ModelInstanceGroup.KIND_CPU
SERVED = [*production.MESONET_MODELS, "face_detector"]


@pytest.fixture
def exported(tmp_path: Path) -> Path:
    """A repository whose graphs are already there (as after a first start): no download."""
    for name in SERVED:
        onnx_path = tmp_path / "models" / name / "1" / "model.onnx"
        onnx_path.parent.mkdir(parents=True)
        onnx_path.write_bytes(b"stand-in for " + name.encode())
    return tmp_path / "models"


def _configs(repository: Path) -> dict[str, model_config_pb2.ModelConfig]:
    return {p.parent.name: local.read_config(p) for p in repository.glob("*/config.pbtxt")}


def test_gpu_repository_serves_the_committed_configs(exported: Path, tmp_path: Path) -> None:
    stale = exported / "face_detector" / "config.pbtxt"
    stale.write_text('name: "face_detector"\nmax_batch_size: 1\n')  # from an older image
    written = production.prepare_repository(exported, tmp_path / "cache")
    assert sorted(p.name for p in written) == sorted(SERVED)
    configs = _configs(exported)
    assert configs[local.MODEL_NAME] == local.load_production_config()
    assert configs["meso4_df"] == local.detector_config("meso4_df")
    assert configs["face_detector"] == faces.load_config()
    for name in SERVED:  # the graphs were kept, not exported again
        assert (exported / name / "1" / "model.onnx").read_bytes() == b"stand-in for " + (
            name.encode()
        )
    assert not (tmp_path / "cache").exists()


def test_cpu_repository_keeps_the_onnxruntime_backend(exported: Path, tmp_path: Path) -> None:
    production.prepare_repository(exported, tmp_path / "cache", device="cpu")
    for config in _configs(exported).values():
        assert config.backend == "onnxruntime"
        assert [(g.count, g.kind) for g in config.instance_group] == [(1, CPU)]
        assert not config.HasField("optimization")


def test_tensorrt_caches_engines_per_model_for_every_batch_size(
    exported: Path, tmp_path: Path
) -> None:
    production.prepare_repository(
        exported,
        tmp_path / "cache",
        accelerator="tensorrt",
        engine_cache_dir=PurePosixPath("/engine-cache"),
    )
    configs = _configs(exported)
    for name, config in configs.items():
        assert [(g.count, g.kind) for g in config.instance_group] == [(2, GPU)]
        (trt,) = config.optimization.execution_accelerators.gpu_execution_accelerator
        assert trt.name == "tensorrt"
        assert trt.parameters["precision_mode"] == "FP16"
        assert trt.parameters["trt_engine_cache_enable"] == "1"
        assert trt.parameters["trt_engine_cache_path"] == f"/engine-cache/{name}"
    (detector,) = configs[
        local.MODEL_NAME
    ].optimization.execution_accelerators.gpu_execution_accelerator
    assert detector.parameters["trt_profile_min_shapes"] == "image:1x256x256x3"
    assert detector.parameters["trt_profile_opt_shapes"] == "image:64x256x256x3"
    assert detector.parameters["trt_profile_max_shapes"] == "image:64x256x256x3"
    (face,) = configs["face_detector"].optimization.execution_accelerators.gpu_execution_accelerator
    assert face.parameters["trt_profile_max_shapes"] == "image:16x384x384x3"
    # The local CPU repository derived from a TensorRT config loses the GPU-only block.
    assert not local.local_config(base=configs["face_detector"]).HasField("optimization")


def test_cli_writes_the_repository(exported: Path, tmp_path: Path) -> None:
    production.main(["--output-dir", str(exported), "--cache-dir", str(tmp_path / "c")])
    assert sorted(_configs(exported)) == sorted(SERVED)
