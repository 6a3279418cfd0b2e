"""The local Triton model repository derived from the production config.

The bundled tritonserver (nvidia-pytriton) ships the Python backend but not the onnxruntime
one. So the local repository serves the same model.onnx through a small Python-backend model
that runs ONNX Runtime: on CPU instances, the session itself on the CPU or, with ONNX
Runtime's CUDA build and a GPU, on CUDA (the config parameter `execution_provider`, see
model_repository/local_backend/providers.py). Everything a client sees (name, tensors,
batching) comes unchanged from the production config.
"""

from __future__ import annotations

import os
import shutil
from functools import cache
from pathlib import Path

from google.protobuf import text_format  # type: ignore[import-untyped]  # no stubs installed
from tritonclient.grpc import model_config_pb2

from model_repository.files import write_atomic
from model_repository.local_backend import providers

PRODUCTION_CONFIG = Path(__file__).resolve().parent / "deepfake_detector" / "config.pbtxt"
LOCAL_BACKEND = Path(__file__).resolve().parent / "local_backend" / "model.py"


@cache
def load_production_config() -> model_config_pb2.ModelConfig:
    """Parse the production config.pbtxt (cached: treat the result as read-only)."""
    config = model_config_pb2.ModelConfig()
    text_format.Parse(PRODUCTION_CONFIG.read_text(), config)
    return config


def _single_tensor_name(tensors: list[model_config_pb2.ModelInput]) -> str:
    (tensor,) = tensors  # The client contract is one input and one output.
    name: str = tensor.name
    return name


MODEL_NAME: str = load_production_config().name
INPUT_NAME = _single_tensor_name(list(load_production_config().input))
OUTPUT_NAME = _single_tensor_name(list(load_production_config().output))
INPUT_SIZE: int = load_production_config().input[0].dims[0]
MAX_BATCH_SIZE: int = load_production_config().max_batch_size


def cpu_config(
    instances: int, *, base: model_config_pb2.ModelConfig | None = None
) -> model_config_pb2.ModelConfig:
    """The production config (or `base`) placed on CPU instances, backend unchanged.

    GPU-only settings (TensorRT/CUDA accelerators, CUDA graphs) would make loading fail on a
    machine without a GPU; CPU accelerators (OpenVINO) and everything else are kept.
    """
    config = model_config_pb2.ModelConfig()
    config.CopyFrom(base or load_production_config())
    del config.instance_group[:]
    config.instance_group.add(count=instances, kind=model_config_pb2.ModelInstanceGroup.KIND_CPU)
    config.optimization.execution_accelerators.ClearField("gpu_execution_accelerator")
    config.optimization.ClearField("cuda")
    if not config.optimization.execution_accelerators.ListFields():
        config.optimization.ClearField("execution_accelerators")
    if not config.optimization.ListFields():
        config.ClearField("optimization")
    return config


def local_config(
    instances: int = 2,
    *,
    base: model_config_pb2.ModelConfig | None = None,
    provider: str = providers.CPU,
) -> model_config_pb2.ModelConfig:
    """The production config (or `base`) served by the Python backend, its ONNX Runtime
    session on `provider` (the parameter `execution_provider`).

    Name, tensors, batching, version policy and parameters are kept. The `optimization` block
    configures ONNX Runtime (graph level, accelerators) and GPU copies, none of which the Python
    backend reads; warmup exists for GPU start-up costs and would only slow every local start.
    Triton's instances stay CPU instances either way: the session, not Triton, holds the GPU.
    """
    providers.session_providers(provider)  # Refuses an unknown provider here, not at load.
    config = cpu_config(instances, base=base)
    config.backend = "python"
    config.ClearField("optimization")
    config.ClearField("model_warmup")
    config.parameters[providers.PARAMETER].string_value = provider
    if provider != providers.CPU and "images_per_run" not in config.parameters:
        # A GPU runs a batch at once far faster than its images one by one (the CPU's slices
        # of one image are the backend's default).
        config.parameters["images_per_run"].string_value = str(max(1, config.max_batch_size))
    return config


def detector_config(name: str, *, input_size: int | None = None) -> model_config_pb2.ModelConfig:
    """The production config for another detector: same tensors and batching, new name.

    Every detector the service serves keeps the one contract (uint8 RGB in, `fake_prob`
    out); only the square input size may differ.
    """
    config = model_config_pb2.ModelConfig()
    config.CopyFrom(load_production_config())
    config.name = name
    if input_size is not None:
        dims = [input_size, input_size, 3]
        config.input[0].dims[:] = dims
        # Warmup samples must have the input's shape, or Triton refuses to load the model.
        for sample in config.model_warmup:
            sample.inputs[config.input[0].name].dims[:] = dims
    return config


def read_config(path: Path) -> model_config_pb2.ModelConfig:
    config = model_config_pb2.ModelConfig()
    text_format.Parse(path.read_text(), config)
    return config


def write_config(model_dir: Path, config: model_config_pb2.ModelConfig) -> Path:
    model_dir.mkdir(parents=True, exist_ok=True)
    path = model_dir / "config.pbtxt"
    write_atomic(path, text_format.MessageToString(config).encode())
    return path


def build_local_repository(
    dest: Path, source: Path, *, instances: int = 2, provider: str = providers.CPU
) -> Path:
    """Derive the local repository in `dest` from the production-layout repository `source`.

    For every `source/<model>/config.pbtxt` with versions `source/<model>/<n>/model.onnx`,
    writes `dest/<model>/config.pbtxt` (backend, instances and execution provider set) and,
    per version, `model.py` and a link to `model.onnx`. Returns `dest`.
    """
    for config_path in sorted(source.glob("*/config.pbtxt")):
        config = local_config(instances, base=read_config(config_path), provider=provider)
        model_dir = dest / config.name
        write_config(model_dir, config)
        for onnx_path in sorted(config_path.parent.glob("[0-9]*/model.onnx")):
            version_dir = model_dir / onnx_path.parent.name
            version_dir.mkdir(parents=True, exist_ok=True)
            write_atomic(version_dir / "model.py", LOCAL_BACKEND.read_bytes())
            _link_or_copy(onnx_path, version_dir / "model.onnx")
    return dest


def _link_or_copy(source: Path, target: Path) -> None:
    """Hard link (no copy of the weights) when on the same filesystem, else copy."""
    if target.exists() and os.path.samefile(source, target):
        return  # Already linked; rename() onto the same inode would leave the tmp link behind.
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(source, tmp)
    except OSError:
        shutil.copyfile(source, tmp)
    tmp.replace(target)
