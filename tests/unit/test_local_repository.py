"""The local CPU repository must look exactly like production to a client."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from google.protobuf import text_format  # type: ignore[import-untyped]
from tritonclient.grpc import model_config_pb2

from model_repository import faces, local, mesonet


def test_production_config_is_the_gpu_contract() -> None:
    config = local.load_production_config()
    assert (config.name, config.backend, config.max_batch_size) == (
        "deepfake_detector",
        "onnxruntime",
        64,
    )
    assert [(g.count, g.kind) for g in config.instance_group] == [
        (2, model_config_pb2.ModelInstanceGroup.KIND_GPU)
    ]
    batching = config.dynamic_batching
    assert list(batching.preferred_batch_size) == [8, 16, 32, 64]
    assert max(batching.preferred_batch_size) <= config.max_batch_size
    assert batching.max_queue_delay_microseconds == 2000
    assert config.version_policy.latest.num_versions == 1
    assert not config.HasField("optimization")  # CUDA by default; TensorRT is added on demand


@pytest.mark.parametrize("config", [local.load_production_config(), faces.load_config()])
def test_warmup_samples_fit_the_inputs(config: model_config_pb2.ModelConfig) -> None:
    (tensor,) = config.input
    assert [sample.batch_size for sample in config.model_warmup] == [1, config.max_batch_size]
    for sample in config.model_warmup:
        assert list(sample.inputs) == [tensor.name]
        warm = sample.inputs[tensor.name]
        assert (warm.data_type, list(warm.dims)) == (tensor.data_type, list(tensor.dims))


def test_detector_config_resizes_the_warmup_with_the_input() -> None:
    config = local.detector_config("vit", input_size=224)
    assert {tuple(s.inputs["image"].dims) for s in config.model_warmup} == {(224, 224, 3)}


def test_constants_come_from_the_config() -> None:
    assert (local.MODEL_NAME, local.INPUT_NAME, local.OUTPUT_NAME) == (
        "deepfake_detector",
        "image",
        "fake_prob",
    )
    config = local.load_production_config()
    assert list(config.input[0].dims) == [local.INPUT_SIZE, local.INPUT_SIZE, 3]
    assert config.input[0].data_type == model_config_pb2.TYPE_UINT8
    assert list(config.output[0].dims) == [1]
    assert config.output[0].data_type == model_config_pb2.TYPE_FP32
    assert local.INPUT_SIZE == mesonet.INPUT_SIZE == 256


def test_local_config_changes_only_backend_and_instances() -> None:
    production = local.load_production_config()
    derived = local.local_config(instances=3)
    assert derived.backend == "python"
    assert [(g.count, g.kind) for g in derived.instance_group] == [
        (3, model_config_pb2.ModelInstanceGroup.KIND_CPU)
    ]
    assert derived.name == production.name
    assert derived.input == production.input
    assert derived.output == production.output
    assert derived.max_batch_size == production.max_batch_size
    assert derived.dynamic_batching == production.dynamic_batching
    assert derived.version_policy == production.version_policy
    assert not derived.model_warmup  # GPU start-up costs only; it would slow every local start
    assert _without_placement(derived) == _without_placement(production)
    assert production.backend == "onnxruntime"  # the cached production config is untouched


def _tuned_for_gpu() -> model_config_pb2.ModelConfig:
    config = model_config_pb2.ModelConfig()
    config.CopyFrom(local.load_production_config())
    config.optimization.cuda.graphs = True
    config.optimization.execution_accelerators.gpu_execution_accelerator.add(name="tensorrt")
    config.optimization.execution_accelerators.cpu_execution_accelerator.add(name="openvino")
    config.optimization.input_pinned_memory.enable = True
    config.parameters["source"].string_value = "some/checkpoint"
    return config


def test_cpu_config_drops_only_gpu_settings() -> None:
    derived = local.cpu_config(1, base=_tuned_for_gpu())
    assert derived.backend == "onnxruntime"
    assert [(g.count, g.kind) for g in derived.instance_group] == [
        (1, model_config_pb2.ModelInstanceGroup.KIND_CPU)
    ]
    assert not derived.optimization.HasField("cuda")
    accelerators = derived.optimization.execution_accelerators
    assert not accelerators.gpu_execution_accelerator
    assert [a.name for a in accelerators.cpu_execution_accelerator] == ["openvino"]
    assert derived.optimization.input_pinned_memory.enable
    assert derived.model_warmup == local.load_production_config().model_warmup
    assert not local.cpu_config(1).HasField("optimization")  # none in production: none here


def test_python_backend_drops_every_onnx_runtime_setting() -> None:
    derived = local.local_config(base=_tuned_for_gpu())
    assert not derived.HasField("optimization")
    assert not derived.model_warmup
    assert derived.parameters["source"].string_value == "some/checkpoint"  # provenance kept


def test_build_local_repository_writes_a_loadable_layout(tmp_path: Path) -> None:
    source = tmp_path / "production"
    local.write_config(source / "deepfake_detector", local.load_production_config())
    local.write_config(source / "other", local.detector_config("other", input_size=224))
    onnx_path = source / "deepfake_detector" / "1" / "model.onnx"
    onnx_path.parent.mkdir()
    onnx_path.write_bytes(b"stand-in for model.onnx")
    dest = tmp_path / "repo"
    for _ in range(2):  # rebuilding over an existing repository must work too
        assert local.build_local_repository(dest, source, instances=4) == dest
    model_dir = dest / "deepfake_detector"
    written = text_format.Parse(
        (model_dir / "config.pbtxt").read_text(), model_config_pb2.ModelConfig()
    )
    assert written == local.local_config(instances=4)
    other = local.read_config(dest / "other" / "config.pbtxt")
    assert other.name == "other"
    assert list(other.input[0].dims) == [224, 224, 3]
    assert other.backend == "python"
    assert (model_dir / "1" / "model.py").read_text() == local.LOCAL_BACKEND.read_text()
    assert (model_dir / "1" / "model.onnx").read_bytes() == onnx_path.read_bytes()
    assert os.path.samefile(model_dir / "1" / "model.onnx", onnx_path)  # hard link, no copy
    assert sorted(p.name for p in (model_dir / "1").iterdir()) == ["model.onnx", "model.py"]


def _without_placement(config: model_config_pb2.ModelConfig) -> model_config_pb2.ModelConfig:
    stripped = model_config_pb2.ModelConfig()
    stripped.CopyFrom(config)
    stripped.ClearField("backend")
    stripped.ClearField("instance_group")
    stripped.ClearField("model_warmup")
    stripped.parameters.pop("execution_provider", None)  # the local backend's choice
    return stripped
