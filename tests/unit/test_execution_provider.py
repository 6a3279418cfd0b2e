"""Where the local backend's ONNX Runtime sessions run, and how `/readyz` reports it.

No GPU here: the provider lists are injected, and the CUDA path is checked up to the point
where ONNX Runtime would need a device.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from google.protobuf import json_format  # type: ignore[import-untyped]
from onnx import TensorProto, helper, save_model
from tritonclient.grpc import model_config_pb2

from gateway.api.routes.health import execution_provider
from gateway.readiness import Check, Readiness
from model_repository import local
from model_repository.local_backend import providers
from model_repository.local_backend.providers import CPU, CUDA, ProviderError, choose_provider

WITH_CUDA = ["TensorrtExecutionProvider", CUDA, CPU]
CPU_ONLY = [CPU]


class CudaProbe:
    def __init__(self, works: bool) -> None:
        self.works = works
        self.calls = 0

    def __call__(self) -> bool:
        self.calls += 1
        return self.works


@pytest.mark.parametrize(
    ("available", "requested", "works", "chosen", "probed"),
    [
        (WITH_CUDA, "auto", True, CUDA, 1),
        (WITH_CUDA, "", True, CUDA, 1),
        (WITH_CUDA, "auto", False, CPU, 1),  # the CUDA build on a machine without a GPU
        (CPU_ONLY, "auto", True, CPU, 0),  # the CPU build: nothing to probe
        (WITH_CUDA, "cpu", True, CPU, 0),  # forced: not even probed
        (WITH_CUDA, " CPU ", True, CPU, 0),
        (WITH_CUDA, "cuda", True, CUDA, 1),
    ],
)
def test_the_choice(
    available: list[str], requested: str, works: bool, chosen: str, probed: int
) -> None:
    probe = CudaProbe(works)
    assert choose_provider(available, requested=requested, cuda_works=probe) == chosen
    assert probe.calls == probed


@pytest.mark.parametrize(
    ("available", "works", "message"),
    [(WITH_CUDA, False, "no usable GPU"), (CPU_ONLY, True, "has no CUDA provider")],
)
def test_cuda_asked_for_never_falls_back(available: list[str], works: bool, message: str) -> None:
    with pytest.raises(ProviderError, match=message):
        choose_provider(available, requested="cuda", cuda_works=CudaProbe(works))


def test_an_unknown_request_is_refused() -> None:
    with pytest.raises(ProviderError, match="expected one of auto, cpu, cuda"):
        choose_provider(WITH_CUDA, requested="rocm", cuda_works=CudaProbe(True))


def test_the_environment_decides_here(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(providers.PROVIDER_ENV, "cpu")
    assert providers.provider_from_environment() == CPU
    monkeypatch.setenv(providers.PROVIDER_ENV, "auto")
    monkeypatch.setattr(providers, "_probe_cuda", lambda: pytest.fail("probed"))
    monkeypatch.setattr("onnxruntime.get_available_providers", lambda: CPU_ONLY)
    assert providers.provider_from_environment() == CPU


def test_the_start_up_line_names_the_provider() -> None:
    assert CUDA in providers.describe(CUDA)
    assert "=cpu" in providers.describe(CUDA)
    assert CPU in providers.describe(CPU)
    assert "GPU=1" in providers.describe(CPU)


def test_the_cpu_config_records_its_provider_and_keeps_single_images() -> None:
    config = local.local_config()
    assert config.parameters["execution_provider"].string_value == CPU
    assert "images_per_run" not in config.parameters


def test_the_cuda_config_runs_whole_batches_on_cpu_instances() -> None:
    config = local.local_config(instances=2, provider=CUDA)
    assert config.parameters["execution_provider"].string_value == CUDA
    assert config.parameters["images_per_run"].string_value == str(config.max_batch_size)
    # The session holds the GPU, not Triton: the instances stay CPU instances.
    assert [(g.count, g.kind) for g in config.instance_group] == [
        (2, model_config_pb2.ModelInstanceGroup.KIND_CPU)
    ]
    tuned = model_config_pb2.ModelConfig()
    tuned.CopyFrom(local.load_production_config())
    tuned.parameters["images_per_run"].string_value = "4"
    assert (
        local.local_config(base=tuned, provider=CUDA).parameters["images_per_run"].string_value
        == "4"
    )


def test_an_unknown_provider_is_refused_before_triton_loads_it() -> None:
    with pytest.raises(ProviderError):
        local.local_config(provider="ROCMExecutionProvider")


def test_the_repository_carries_the_choice(tmp_path: Path) -> None:
    source = tmp_path / "production"
    local.write_config(source / "deepfake_detector", local.load_production_config())
    dest = local.build_local_repository(tmp_path / "repo", source, provider=CUDA)
    written = local.read_config(dest / "deepfake_detector" / "config.pbtxt")
    assert written.parameters["execution_provider"].string_value == CUDA


def _as_triton_json(config: model_config_pb2.ModelConfig) -> dict[str, Any]:
    """The config as `get_model_config(..., as_json=True)` gives it."""
    as_json: dict[str, Any] = json_format.MessageToDict(config, preserving_proto_field_name=True)
    return as_json


def _with_accelerator(kind: str, name: str) -> model_config_pb2.ModelConfig:
    config = model_config_pb2.ModelConfig()
    config.CopyFrom(local.load_production_config())
    accelerators = config.optimization.execution_accelerators
    getattr(accelerators, f"{kind}_execution_accelerator").add(name=name)
    return config


@pytest.mark.parametrize(
    ("config", "reported"),
    [
        (local.local_config(), CPU),
        (local.local_config(provider=CUDA), CUDA),
        (local.load_production_config(), CUDA),  # onnxruntime on GPU instances
        (_with_accelerator("gpu", "tensorrt"), "TensorrtExecutionProvider"),
        (local.cpu_config(1), CPU),  # compose.cpu.yaml: onnxruntime on CPU instances
        (
            local.cpu_config(1, base=_with_accelerator("cpu", "openvino")),
            "OpenVINOExecutionProvider",
        ),
    ],
)
def test_readiness_reports_what_the_config_says(
    config: model_config_pb2.ModelConfig, reported: str
) -> None:
    assert execution_provider(_as_triton_json(config)) == reported


def test_another_backend_is_reported_by_name() -> None:
    assert execution_provider({"backend": "python"}) == "python"
    assert execution_provider({}) == "unknown"


@pytest.fixture
def backend_module(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """The backend's model.py, importable without Triton (a stand-in for its utilities)."""
    monkeypatch.setitem(sys.modules, "triton_python_backend_utils", types.ModuleType("pb"))
    spec = importlib.util.spec_from_file_location("local_backend_model", local.LOCAL_BACKEND)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _model_dir(tmp_path: Path, module: types.ModuleType) -> Path:
    """A version folder holding a one-node graph with the config's tensor names."""
    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["n", 1])
    prob = helper.make_tensor_value_info("fake_prob", TensorProto.FLOAT, ["n", 1])
    graph = helper.make_graph(
        [helper.make_node("Sigmoid", ["image"], ["fake_prob"])], "g", [image], [prob]
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    save_model(model, str(tmp_path / "model.onnx"))
    module.__file__ = str(tmp_path / "model.py")
    return tmp_path


def _args(provider: str | None) -> dict[str, str]:
    config = local.local_config(provider=provider or CPU)
    if provider is None:
        del config.parameters["execution_provider"]  # written before the choice existed
    return {"model_config": json_format.MessageToJson(config, preserving_proto_field_name=True)}


@pytest.mark.parametrize("provider", [CPU, None])
def test_the_backend_runs_on_the_cpu_as_before(
    backend_module: types.ModuleType, tmp_path: Path, provider: str | None
) -> None:
    _model_dir(tmp_path, backend_module)
    model = backend_module.TritonPythonModel()
    model.initialize(_args(provider))
    assert model.session.get_providers() == [CPU]
    assert model.images_per_run == 1
    options = model.session.get_session_options()
    assert (options.intra_op_num_threads, options.inter_op_num_threads) == (1, 1)
    outputs = model.session.run(["fake_prob"], {"image": np.zeros((2, 1), np.float32)})
    assert outputs[0].tolist() == [[0.5], [0.5]]


def test_the_backend_refuses_to_serve_on_another_provider_than_configured(
    backend_module: types.ModuleType, tmp_path: Path
) -> None:
    """Without a GPU, ONNX Runtime would quietly fall back to the CPU: the model must fail
    to load instead, so nothing reports CUDA while the CPU does the work."""
    _model_dir(tmp_path, backend_module)
    with pytest.raises(RuntimeError, match="asks for CUDAExecutionProvider"):
        backend_module.TritonPythonModel().initialize(_args(CUDA))
    assert backend_module.session_providers(CUDA) == [CUDA, CPU]
    with pytest.raises(ValueError, match="unknown execution_provider"):
        backend_module.session_providers("ROCMExecutionProvider")


def test_readiness_keeps_what_a_passing_check_returns() -> None:
    async def triton() -> dict[str, str]:
        return {"deepfake_detector": CUDA}

    async def mongodb() -> bool:
        return True

    async def failing() -> dict[str, str]:
        raise ConnectionError

    checks: dict[str, Check] = {"triton": triton, "mongodb": mongodb, "redis": failing}
    report = asyncio.run(Readiness(checks, timeout_s=1, cache_s=0).report())
    assert report.checks == {"triton": "ok", "mongodb": "ok", "redis": "error: ConnectionError"}
    assert report.details == {"triton": {"deepfake_detector": CUDA}}
