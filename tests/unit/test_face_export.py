"""The face detector export: shipped weights, the TFLite interpreter as yardstick, the config."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from numpy.typing import NDArray
from onnx import numpy_helper
from PIL import Image

from model_repository import faces
from model_repository.export import ExportError
from model_repository.tflite_onnx import native_size, run_converted, run_tflite

SAMPLES_DIR = (
    Path(
        os.environ.get(
            "MESONET_WEIGHTS_DIR",
            Path(__file__).resolve().parents[2].parent / "shared/models/mesonet",
        )
    )
    / "samples"
)


@pytest.fixture(scope="module")
def weights() -> dict[str, Path]:
    return {p.weights: faces.find_weights(p.weights) for p in faces.PASSES}


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> faces.FaceExportResult:
    output = tmp_path_factory.mktemp("faces") / "face_detector" / "1" / "model.onnx"
    return faces.export_face_detector(output)


def test_export_writes_a_graph_within_tolerance(exported: faces.FaceExportResult) -> None:
    assert exported.path.is_file()
    assert exported.max_diff <= faces.PARITY_TOLERANCE
    assert exported.seconds < 30


def test_graph_tensors_match_the_triton_config(exported: faces.FaceExportResult) -> None:
    config = faces.load_config()
    session = ort.InferenceSession(str(exported.path), providers=["CPUExecutionProvider"])
    (given,) = session.get_inputs()
    assert (given.name, given.type, given.shape[1:]) == (
        config.input[0].name,
        "tensor(uint8)",
        list(config.input[0].dims),
    )
    outputs = [(o.name, o.type, o.shape[1:]) for o in session.get_outputs()]
    assert outputs == [(o.name, "tensor(float)", list(o.dims)) for o in config.output]
    assert config.max_batch_size >= max(config.dynamic_batching.preferred_batch_size)


def test_anchor_layout_is_mediapipes() -> None:
    full = faces.anchors(192, faces.FULL_RANGE)
    short = faces.anchors(128, faces.SHORT_RANGE)
    assert (len(full), len(short)) == (2304, 896)  # the TFLite output sizes
    np.testing.assert_allclose(full[:2], [[0.5 / 48, 0.5 / 48], [1.5 / 48, 0.5 / 48]])
    np.testing.assert_allclose(short[:3], [[1 / 32, 1 / 32], [1 / 32, 1 / 32], [3 / 32, 1 / 32]])
    np.testing.assert_allclose(short[512:518], [[1 / 16, 1 / 16]] * 6)  # 6 per 16-px cell
    assert faces.anchor_count(faces.input_size()) == faces.load_config().output[0].dims[0]


def sample_images(size: int) -> NDArray[np.uint8]:
    paths = sorted(SAMPLES_DIR.glob("*/*.jpg"))
    if not paths:
        pytest.skip(f"no sample crops under {SAMPLES_DIR}")
    images = [
        Image.open(p).convert("RGB").resize((size, size), Image.Resampling.BILINEAR) for p in paths
    ]
    return np.stack([np.asarray(image) for image in images])


def test_each_pass_matches_tflite_on_real_faces(weights: dict[str, Path]) -> None:
    """Besides the exporter's synthetic images: faces, where the scores matter."""
    for path in set(weights.values()):
        size = native_size(path)
        x = sample_images(size).astype(np.float32) / np.float32(127.5) - 1
        (got_boxes, got_logits), (want_boxes, want_logits) = (
            run_converted(path, x),
            run_tflite(path, x),
        )
        assert np.abs(got_boxes - want_boxes).max() / size < 1e-5
        assert np.abs(got_logits - want_logits).max() < 1e-4
        assert want_logits.max() > 1  # a face is there: P(face) > 0.73


def test_whole_graph_matches_the_reference_on_real_faces(
    exported: faces.FaceExportResult, weights: dict[str, Path]
) -> None:
    images = sample_images(faces.input_size())
    session = ort.InferenceSession(str(exported.path), providers=["CPUExecutionProvider"])
    boxes, scores = session.run(["boxes", "scores"], {"image": images})
    want_boxes, want_scores = faces.reference_outputs(weights, images)
    assert np.abs(boxes - want_boxes).max() < 1e-4
    assert np.abs(scores - want_scores).max() < 1e-4
    assert (scores.max(axis=1) > 0.8).all()


def test_a_wrong_graph_is_never_written(
    weights: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One bias nudged by 1e-3 in one pass: the check refuses and leaves no file behind."""
    build = faces.build_model

    def nudged(weights: dict[str, Path], size: int) -> onnx.ModelProto:
        model = build(weights, size)
        bias = next(t for t in model.graph.initializer if t.name.endswith(".b"))
        bias.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(bias) + 1e-3, bias.name))
        return model

    monkeypatch.setattr(faces, "build_model", nudged)
    output = tmp_path / "face_detector" / "1" / "model.onnx"
    with pytest.raises(ExportError, match="refusing to write"):
        faces.export_face_detector(output)
    assert not any(path.is_file() for path in tmp_path.rglob("*"))


def test_weights_other_than_the_shipped_ones_are_refused(
    weights: dict[str, Path], tmp_path: Path
) -> None:
    name = "face_detection_short_range.tflite"
    changed = bytearray(weights[name].read_bytes())
    changed[-1] ^= 1
    (tmp_path / name).write_bytes(bytes(changed))
    with pytest.raises(ExportError, match="sha256"):
        faces.find_weights(name, tmp_path)
    with pytest.raises(ExportError, match="not found"):
        faces.find_weights("face_detection_full_range.tflite", tmp_path)


def test_weights_from_a_folder(weights: dict[str, Path], tmp_path: Path) -> None:
    for path in weights.values():
        shutil.copy(path, tmp_path / path.name)
    assert faces.find_weights("face_detection_short_range.tflite", tmp_path).parent == tmp_path
