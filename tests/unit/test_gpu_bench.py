"""The GPU benchmark's pieces that run anywhere: the detector graph in PyTorch gives ONNX
Runtime's scores (both exported architectures), and the cores-per-GPU arithmetic."""

import os
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from bench.gpu import cores_per_gpu
from bench.onnx_torch import OnnxModule
from model_repository import export

WEIGHTS_DIR = Path(
    os.environ.get(
        "MESONET_WEIGHTS_DIR", Path(__file__).resolve().parents[2].parent / "shared/models/mesonet"
    )
)


@pytest.mark.parametrize("weights", ["Meso4_DF", "MesoInception_DF"])
def test_the_graph_in_pytorch_scores_as_onnx_runtime_does(weights: str, tmp_path: Path) -> None:
    if not WEIGHTS_DIR.is_dir():
        pytest.skip(f"MesoNet weights not found at {WEIGHTS_DIR}")
    model = tmp_path / "model.onnx"
    export.export_mesonet(WEIGHTS_DIR / f"{weights}.h5", model)
    images = np.random.default_rng(3).integers(0, 256, (4, 256, 256, 3), dtype=np.uint8)
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    expected = session.run(None, {session.get_inputs()[0].name: images})[0]

    with torch.inference_mode():
        got = OnnxModule(str(model)).eval()(torch.from_numpy(images)).numpy()

    assert got.shape == expected.shape
    assert np.abs(got - expected).max() < 1e-4


def test_cores_per_gpu_is_the_best_rate_times_the_cpu_each_image_costs() -> None:
    curve = {"fp16": {"curve": {"1": {"images_per_s": 500.0}, "64": {"images_per_s": 8000.0}}}}
    decode = {
        "cpu_cores": 4,
        "crop 256x256": {"pillow_all_cores_images_per_s": 4000.0},
        "photo 1280x720": {"pillow_all_cores_images_per_s": 400.0},
    }
    cores = cores_per_gpu(curve, decode, orchestration_ms=2.0)
    assert cores["detector_best_images_per_s"] == 8000.0
    # Decoding a crop costs 4 cores / 4000 per s = 1 ms: 8000/s x (2 + 1) ms = 24 cores.
    assert cores["crop 256x256"]["cores_with_cpu_decode"] == 24.0
    assert cores["crop 256x256"]["cores_with_gpu_decode"] == 16.0
    assert cores["photo 1280x720"]["cores_with_cpu_decode"] == 96.0
    assert cores_per_gpu(curve, decode, None) == {"detector_best_images_per_s": 8000.0}
