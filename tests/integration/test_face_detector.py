"""The exported face detector on real images, by ONNX Runtime and through tritonserver."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import tritonclient.grpc as triton_grpc
from numpy.typing import NDArray
from PIL import Image
from skimage import data

from devstack.servers import TritonServer
from model_repository import faces
from model_repository.export import export_mesonet
from model_repository.faces import ensure_face_detector
from model_repository.local import build_local_repository
from worker.faces import (
    CROP_MARGIN,
    FaceBox,
    box_iou,
    crop_faces,
    decode_detections,
    prepare_detector_input,
    square_around,
    whole_image_face,
)

pytestmark = pytest.mark.integration

SIZE = faces.input_size()
# The astronaut's face, checked by eye on the 512x512 image: hairline to chin, ear to ear.
ASTRONAUT_FACE = np.array([175, 70, 280, 175], np.float32)
# Where the sample crops go on the 1024x512 canvas: 224-px squares, 32 px apart.
PASTE_SIDE, PASTE_Y = 224, 144
PASTE_XS = (16, 272, 528, 784)

Boxes = NDArray[np.float32]


@dataclass(frozen=True)
class Detector:
    session: ort.InferenceSession

    def run(self, batch: NDArray[np.uint8]) -> tuple[Boxes, Boxes]:
        boxes, scores = self.session.run(["boxes", "scores"], {"image": batch})
        return boxes, scores

    def faces(self, rgb: NDArray[np.uint8]) -> list[FaceBox]:
        tensor, transform = prepare_detector_input(rgb, SIZE)
        boxes, scores = self.run(tensor[None])
        return decode_detections(boxes[0], scores[0], transform)


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("faces") / "model.onnx"
    return faces.export_face_detector(output).path


@pytest.fixture(scope="module")
def detector(model_path: Path) -> Detector:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return Detector(ort.InferenceSession(str(model_path), options, ["CPUExecutionProvider"]))


@pytest.fixture(scope="module")
def samples(samples_dir: Path) -> dict[str, NDArray[np.uint8]]:
    paths = sorted(samples_dir.glob("*/*.jpg"))
    assert len(paths) == 4, f"expected the 4 MesoNet sample crops in {samples_dir}"
    return {p.name: np.asarray(Image.open(p).convert("RGB")) for p in paths}


def astronaut() -> NDArray[np.uint8]:
    """scikit-image's astronaut: one face, 512x512."""
    return np.asarray(data.astronaut(), np.uint8)  # type: ignore[no-untyped-call]


def coffee() -> NDArray[np.uint8]:
    """scikit-image's cup of coffee: no face, 400x600."""
    return np.asarray(data.coffee(), np.uint8)  # type: ignore[no-untyped-call]


def as_array(face: FaceBox) -> Boxes:
    return np.array([face.x0, face.y0, face.x1, face.y1], np.float32)


def test_astronaut_has_one_face_on_her_face(detector: Detector) -> None:
    (face,) = detector.faces(astronaut())
    assert face.score > 0.9
    assert box_iou(ASTRONAUT_FACE, as_array(face)[None])[0] > 0.8


def test_coffee_has_no_face(detector: Detector) -> None:
    assert detector.faces(coffee()) == []


def composed_canvas(samples: dict[str, NDArray[np.uint8]]) -> NDArray[np.uint8]:
    canvas = np.full((512, 1024, 3), 128, np.uint8)
    for x, crop in zip(PASTE_XS, samples.values(), strict=True):
        resized = Image.fromarray(crop).resize((PASTE_SIDE, PASTE_SIDE), Image.Resampling.BILINEAR)
        canvas[PASTE_Y : PASTE_Y + PASTE_SIDE, x : x + PASTE_SIDE] = np.asarray(resized)
    return canvas


def intersection(box: Boxes, others: Boxes) -> Boxes:
    """Area that `box` shares with each of `others` [K, 4]."""
    sides = np.minimum(box[2:], others[:, 2:]) - np.maximum(box[:2], others[:, :2])
    areas: Boxes = np.prod(np.clip(sides, 0, None), axis=1)
    return areas


def test_four_pasted_faces_are_found_where_they_were_pasted(
    detector: Detector, samples: dict[str, NDArray[np.uint8]]
) -> None:
    found = detector.faces(composed_canvas(samples))
    assert len(found) == 4
    pasted = np.array(
        [[x, PASTE_Y, x + PASTE_SIDE, PASTE_Y + PASTE_SIDE] for x in PASTE_XS], np.float32
    )
    matched = []
    for face in found:
        box = as_array(face)
        share = intersection(box, pasted) / (face.width * face.height)
        assert share.max() > 0.9  # the face lies within one pasted crop
        matched.append(int(share.argmax()))
        # ... and its crop for MesoNet holds all that was pasted, and not much more.
        x0, y0, side = square_around(face, CROP_MARGIN, 512, 1024)
        square = np.array([x0, y0, x0 + side, y0 + side], np.float32)
        assert intersection(square, pasted[matched[-1:]])[0] > 0.95 * PASTE_SIDE**2
        assert PASTE_SIDE <= side < 1.4 * PASTE_SIDE
    assert sorted(matched) == [0, 1, 2, 3]


def test_a_tight_face_crop_is_one_face_filling_it(
    detector: Detector, samples: dict[str, NDArray[np.uint8]]
) -> None:
    for name, crop in samples.items():
        height, width = crop.shape[:2]
        found = detector.faces(crop)
        assert len(found) == 1, name
        x0, y0, side = square_around(found[0], CROP_MARGIN, height, width)
        square = np.array([x0, y0, x0 + side, y0 + side], np.float32)
        whole = np.array([0, 0, width, height], np.float32)
        assert box_iou(square, whole[None])[0] > 0.8, name


def test_a_tighter_crop_is_still_one_face(
    detector: Detector, samples: dict[str, NDArray[np.uint8]]
) -> None:
    """Cut to the middle 70%, a face can lose what BlazeFace recognises: the fallback keeps it."""
    for name, crop in samples.items():
        side = crop.shape[0]
        cut = crop[int(0.15 * side) : int(0.85 * side), int(0.15 * side) : int(0.85 * side)]
        found = detector.faces(cut)
        height, width = cut.shape[:2]
        fallback = whole_image_face(height, width, max_side=512, max_aspect=1.25)
        assert len(found or [fallback]) == 1, name


def test_recropped_samples_keep_their_mesonet_verdict(
    detector: Detector, samples: dict[str, NDArray[np.uint8]], samples_dir: Path, tmp_path: Path
) -> None:
    """What the service will judge (detect, crop) must agree with judging the crop whole."""
    weights = samples_dir.parent / "MesoInception_DF.h5"
    mesonet = export_mesonet(weights, tmp_path / "mesonet.onnx").path
    session = ort.InferenceSession(str(mesonet), providers=["CPUExecutionProvider"])
    for name, crop in samples.items():
        whole = np.asarray(Image.fromarray(crop).resize((256, 256), Image.Resampling.NEAREST))
        recropped = crop_faces(crop, detector.faces(crop), CROP_MARGIN, 256)
        (before, after) = session.run(["fake_prob"], {"image": np.stack([whole, recropped[0]])})[0]
        assert (before[0] >= 0.5) == (after[0] >= 0.5), (name, before, after)
        assert (after[0] >= 0.5) == name.startswith("df"), name


def test_batches_give_what_single_images_give(
    detector: Detector, samples: dict[str, NDArray[np.uint8]]
) -> None:
    images = [astronaut(), coffee(), *samples.values()]
    batch = np.stack([prepare_detector_input(image, SIZE)[0] for image in images])
    boxes, scores = detector.run(batch)
    for index, single in enumerate(batch):
        one_boxes, one_scores = detector.run(single[None])
        np.testing.assert_allclose(boxes[index], one_boxes[0], atol=1e-5)
        np.testing.assert_allclose(scores[index], one_scores[0], atol=1e-5)


def test_triton_serves_the_face_detector(detector: Detector, tmp_path: Path) -> None:
    production = tmp_path / "production"
    ensure_face_detector(production)
    repository = build_local_repository(tmp_path / "repository", production, instances=1)
    images = [astronaut(), coffee(), astronaut()[:, ::-1].copy()]
    tensors = [prepare_detector_input(image, SIZE)[0][None] for image in images]
    with TritonServer(repository, tmp_path, model_name="face_detector") as triton:
        client = triton_grpc.InferenceServerClient(triton.grpc_url)

        def infer(tensor: NDArray[np.uint8]) -> tuple[Boxes, Boxes]:
            request = triton_grpc.InferInput("image", list(tensor.shape), "UINT8")
            request.set_data_from_numpy(tensor)
            result = client.infer("face_detector", [request])
            return result.as_numpy("boxes"), result.as_numpy("scores")

        # Concurrent requests, so the dynamic batcher may merge them.
        with ThreadPoolExecutor(len(tensors)) as pool:
            results = list(pool.map(infer, tensors * 3))
    for tensor, (boxes, scores) in zip(tensors * 3, results, strict=True):
        want_boxes, want_scores = detector.run(tensor)
        np.testing.assert_allclose(boxes, want_boxes, atol=1e-5)
        np.testing.assert_allclose(scores, want_scores, atol=1e-5)
    assert results[0][1].max() > 0.9
    assert results[1][1].max() < 0.6
