"""Export every upstream MesoNet weight file and hold the graph to three yardsticks.

The NumPy reference (every input, 1e-4), Keras itself (fixtures/keras_reference.json, 1e-4)
and the published sample outputs (the weights README, 1e-3).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from numpy.typing import NDArray
from PIL import Image

from model_repository import export, local
from model_repository.mesonet import Block, MesoNet, WeightsError, build_model, load_weights
from model_repository.mesonet_reference import reference_fake_prob

WEIGHTS_DIR = Path(
    os.environ.get(
        "MESONET_WEIGHTS_DIR",
        Path(__file__).resolve().parents[2].parent / "shared/models/mesonet",
    )
)
KERAS_REFERENCE = Path(__file__).resolve().parents[1] / "fixtures" / "keras_reference.json"
SAMPLES = ("df/df00204.jpg", "df/df01254.jpg", "real/real00240.jpg", "real/real00772.jpg")
# fake_prob from the weights README (Keras 3.15 / TF 2.21); its "<1e-7" entries are 0 here.
README_FAKE_PROB = {
    "Meso4_DF": (0.9586, 0.9513, 0.0103, 0.0023),
    "Meso4_F2F": (0.1688, 0.3589, 0.1190, 0.0476),
    "MesoInception_DF": (0.9738, 0.9990, 0.0, 0.0),
    "MesoInception_F2F": (0.00126, 2.6e-6, 0.0, 0.0092),
}

pytestmark = pytest.mark.skipif(
    not WEIGHTS_DIR.is_dir(), reason=f"MesoNet weights not found at {WEIGHTS_DIR}"
)


@dataclasses.dataclass(frozen=True)
class Exported:
    weights: str
    result: export.ExportResult
    net: MesoNet
    session: ort.InferenceSession

    def fake_prob(self, images: NDArray[np.uint8]) -> NDArray[np.float32]:
        (scores,) = self.session.run([local.OUTPUT_NAME], {local.INPUT_NAME: images})
        result: NDArray[np.float32] = scores
        return result


@pytest.fixture(scope="module", params=list(README_FAKE_PROB))
def exported(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Exported:
    weights = WEIGHTS_DIR / f"{request.param}.h5"
    output = tmp_path_factory.mktemp(request.param) / "deepfake_detector" / "1" / "model.onnx"
    result = export.export_mesonet(weights, output)
    session = ort.InferenceSession(str(output), providers=["CPUExecutionProvider"])
    return Exported(request.param, result, load_weights(weights), session)


@pytest.fixture(scope="module")
def sample_crops() -> NDArray[np.uint8]:
    """The README crops resized like Keras load_img (PIL nearest)."""
    crops = [
        Image.open(WEIGHTS_DIR / "samples" / name)
        .convert("RGB")
        .resize((256, 256), Image.Resampling.NEAREST)
        for name in SAMPLES
    ]
    return np.stack([np.asarray(crop) for crop in crops])


def varied_images(seed: int) -> NDArray[np.uint8]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (7, 256, 256, 3), dtype=np.uint8)
    images[0], images[1] = 0, 255  # all black, all white
    images[2] //= 32  # near black
    images[3] = 255 - images[3] // 32  # near white
    images[4] = np.sort(images[4], axis=1)  # smooth vertical ramps
    return images


def test_export_writes_the_triton_contract(exported: Exported) -> None:
    model = onnx.load(str(exported.result.path))
    onnx.checker.check_model(model, full_check=True)
    assert model.ir_version <= 9
    assert [(op.domain, op.version) for op in model.opset_import] == [("", 17)]
    (image,), (score,) = model.graph.input, model.graph.output
    assert image.name == local.INPUT_NAME
    assert image.type.tensor_type.elem_type == onnx.TensorProto.UINT8
    assert [d.dim_value or d.dim_param for d in image.type.tensor_type.shape.dim] == [
        "N", 256, 256, 3
    ]  # fmt: skip
    assert score.name == local.OUTPUT_NAME
    assert score.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert [d.dim_value or d.dim_param for d in score.type.tensor_type.shape.dim] == ["N", 1]
    expected = "meso4" if exported.weights.startswith("Meso4") else "mesoinception4"
    assert exported.result.variant == expected
    assert exported.result.max_abs_diff <= 1e-4


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_onnx_matches_numpy_reference(exported: Exported, seed: int) -> None:
    images = varied_images(seed)
    got = exported.fake_prob(images)
    assert got.shape == (len(images), 1)
    np.testing.assert_allclose(got, reference_fake_prob(exported.net, images), rtol=0, atol=1e-4)
    # Batching must not change a sample's score: Triton batches requests together.
    np.testing.assert_allclose(exported.fake_prob(images[2:3]), got[2:3], rtol=0, atol=1e-6)


def test_samples_match_published_outputs(
    exported: Exported, sample_crops: NDArray[np.uint8]
) -> None:
    got = exported.fake_prob(sample_crops).ravel()
    np.testing.assert_allclose(got, README_FAKE_PROB[exported.weights], rtol=0, atol=1e-3)
    if exported.weights.endswith("_DF"):  # F2F models miss deepfakes; the README says so.
        assert list(got > 0.5) == [True, True, False, False]


def test_onnx_matches_keras(exported: Exported, sample_crops: NDArray[np.uint8]) -> None:
    keras: dict[str, Any] = json.loads(KERAS_REFERENCE.read_text())
    assert tuple(keras["samples"]) == SAMPLES
    noise = np.random.default_rng(keras["seed"]).integers(
        0, 256, (keras["random_count"], 256, 256, 3), dtype=np.uint8
    )
    assert hashlib.sha256(noise.tobytes()).hexdigest() == keras["random_sha256"], (
        "numpy's random stream changed; regenerate tests/fixtures/keras_reference.json"
    )
    want = keras[exported.weights]
    np.testing.assert_allclose(exported.fake_prob(sample_crops).ravel(), want["samples"], atol=1e-4)
    np.testing.assert_allclose(exported.fake_prob(noise).ravel(), want["random"], atol=1e-4)


def _swap_inception_branches(net: MesoNet) -> MesoNet:
    """The README's trap: branches 2 and 3 have equal shapes, so a swap loads silently."""
    first = net.blocks[0]
    one, two, three, four = first.branches
    swapped = Block(branches=(one, three, two, four), norm=first.norm, pool=first.pool)
    return dataclasses.replace(net, blocks=(swapped, *net.blocks[1:]))


def _nchw_flatten(net: MesoNet) -> MesoNet:
    """The classic port bug: Dense rows read in NCHW instead of Keras' NHWC order."""
    rows = np.arange(1024).reshape(8, 8, 16).transpose(2, 0, 1).ravel()
    hidden = dataclasses.replace(net.hidden, kernel=net.hidden.kernel[rows])
    return dataclasses.replace(net, hidden=hidden)


@pytest.mark.parametrize("corrupt", [_swap_inception_branches, _nchw_flatten])
def test_graph_that_disagrees_with_reference_is_not_written(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, corrupt: Any
) -> None:
    def broken_build(net: MesoNet, **names: str) -> onnx.ModelProto:
        return build_model(corrupt(net), **names)

    monkeypatch.setattr(export, "build_model", broken_build)
    output = tmp_path / "model.onnx"
    with pytest.raises(export.ExportError, match="refusing to write"):
        export.export_mesonet(WEIGHTS_DIR / "MesoInception_DF.h5", output)
    assert list(tmp_path.iterdir()) == []


def test_layers_are_mapped_in_numeric_order() -> None:
    path = WEIGHTS_DIR / "MesoInception_DF.h5"
    net = load_weights(path)
    with h5py.File(path, "r") as h5:
        conv10 = np.asarray(h5["conv2d_10/conv2d_10/kernel:0"])
        conv12 = np.asarray(h5["conv2d_12/conv2d_12/kernel:0"])
    branch2, branch3 = net.blocks[1].branches[1:3]
    np.testing.assert_array_equal(branch2[1].kernel, conv10)  # 3x3, no dilation
    np.testing.assert_array_equal(branch3[1].kernel, conv12)  # 3x3, dilation 2
    assert (branch2[1].dilation, branch3[1].dilation) == (1, 2)


def test_wrong_variant_is_rejected() -> None:
    with pytest.raises(WeightsError, match="file holds meso4"):
        load_weights(WEIGHTS_DIR / "Meso4_DF.h5", "mesoinception4")


def test_ensure_onnx_model_exports_once(tmp_path: Path) -> None:
    onnx_path = tmp_path / "repo" / "deepfake_detector" / "1" / "model.onnx"
    weights = str(WEIGHTS_DIR / "MesoInception_DF.h5")
    assert export.ensure_onnx_model(onnx_path, weights, tmp_path / "cache") == onnx_path
    first = onnx_path.stat()
    # An existing model is kept as is: no export, and no download for missing weights.
    export.ensure_onnx_model(onnx_path, str(tmp_path / "missing.h5"), tmp_path / "cache")
    assert (onnx_path.stat().st_ino, onnx_path.stat().st_mtime_ns) == (
        first.st_ino,
        first.st_mtime_ns,
    )
    assert not (tmp_path / "cache").exists()


def test_cli_writes_versioned_model(tmp_path: Path) -> None:
    weights = str(WEIGHTS_DIR / "Meso4_DF.h5")
    args = ["mesonet", "--weights", weights, "--output-dir", str(tmp_path), "--version", "3"]
    export.main([*args, "--name", "detector", "--variant", "meso4"])
    onnx.checker.check_model(str(tmp_path / "detector" / "3" / "model.onnx"))
