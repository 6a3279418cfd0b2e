"""`score_image` from file bytes to a result, for every geometry, colour mode and orientation.

The served models are replaced by a stand-in that checks each tensor against the input
size it declares and answers with hostile face boxes; the real models run in
tests/e2e/test_hostile.py. Every case must end in a result, or in a PermanentError with an
image_* code, never in another exception.
"""

from __future__ import annotations

import io
from typing import cast

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image

from storage.contract import ModelSignature
from storage.errors import PermanentError
from storage.jobs import DetectionMode, Job, ModelRef, SourceKind, Verdict
from tests.unit.test_geometry import hostile_detections
from worker.inference import DetectorClient, Prediction
from worker.scoring import Timer, score_image
from worker.settings import ImageSettings, Settings

MAX_SIDE = ImageSettings().max_side


class StandInDetector:
    """The DetectorClient calls score_image makes, checking shapes as Triton would."""

    def __init__(self, width: int, height: int, face_size: int, faces: bool) -> None:
        self.width, self.height, self.face_size, self.faces = width, height, face_size, faces
        self.batches: list[tuple[int, ...]] = []

    def signature(self, model: ModelRef) -> ModelSignature:
        return ModelSignature(model.name, ("1",), "input", "fake_prob", self.height, self.width)

    def served_version(self, model: ModelRef) -> str:
        return "1"

    def face_detector_size(self, model: ModelRef) -> int:
        return self.face_size

    def detect_faces(
        self, model: ModelRef, image: NDArray[np.uint8]
    ) -> tuple[NDArray[np.float32], NDArray[np.float32], str]:
        assert image.shape == (self.face_size, self.face_size, 3)
        assert image.dtype == np.uint8
        boxes, scores = hostile_detections()
        return boxes, scores if self.faces else np.zeros_like(scores), "1"

    def predict(self, model: ModelRef, images: NDArray[np.uint8]) -> Prediction:
        assert images.shape[1:] == (self.height, self.width, 3)
        assert images.dtype == np.uint8
        assert images.shape[0] >= 1
        self.batches.append(images.shape)
        return Prediction(np.full(len(images), 0.5, np.float32), model.name, "1")


def _encode(image: Image.Image, format: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format, **params)
    return buffer.getvalue()


def _strip(mode: str, width: int, height: int) -> Image.Image:
    ramp = np.linspace(1, 255, max(width, height), dtype=np.uint8)
    grey = Image.fromarray(np.resize(ramp, (height, width)).astype(np.uint8), "L")
    if mode == "I;16":
        return Image.fromarray(np.asarray(grey).astype(np.uint16) * 257)
    return grey.convert(mode)


def _exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


def _animated(width: int, height: int) -> bytes:
    frames = [_strip("L", width, height), Image.new("L", (width, height), 255)]
    return _encode(frames[0], "GIF", save_all=True, append_images=frames[1:])


# (name, file bytes, (height, width) once decoded, upright and shrunk to MAX_SIDE).
FILES = [
    ("png-1x1", _encode(_strip("RGB", 1, 1), "PNG"), (1, 1)),
    ("png-2x2", _encode(_strip("RGB", 2, 2), "PNG"), (2, 2)),
    ("png-odd", _encode(_strip("RGB", 131, 97), "PNG"), (97, 131)),
    ("png-row", _encode(_strip("RGB", MAX_SIDE, 1), "PNG"), (1, MAX_SIDE)),
    ("png-column", _encode(_strip("RGB", 1, MAX_SIDE), "PNG"), (MAX_SIDE, 1)),
    ("png-row-shrunk", _encode(_strip("L", 60_000, 1), "PNG"), (1, MAX_SIDE)),
    ("png-column-shrunk", _encode(_strip("L", 3, 60_000), "PNG"), (MAX_SIDE, 1)),
    ("png-palette-row", _encode(_strip("P", 5000, 2), "PNG"), (2, MAX_SIDE)),
    ("png-la-column", _encode(_strip("LA", 1, 3000), "PNG"), (3000, 1)),
    ("png-16bit-row", _encode(_strip("I;16", 3000, 1), "PNG"), (1, 3000)),
    ("cmyk-jpeg-row", _encode(_strip("CMYK", 4000, 3), "JPEG"), (3, 4000)),
    ("gif-animated-column", _animated(2, 4000), (4000, 2)),
    ("webp-row", _encode(_strip("RGB", 16_000, 1), "WEBP"), (1, MAX_SIDE)),
    ("bmp-column", _encode(_strip("RGB", 1, 4097), "BMP"), (MAX_SIDE, 1)),
] + [
    # Orientations 5 to 8 swap the sides: a row becomes a column.
    (f"jpeg-row-exif-{o}", _encode(_strip("RGB", 20_000, 8), "JPEG", exif=_exif(o)), shape)
    for o, shape in [(1, (2, MAX_SIDE)), (5, (MAX_SIDE, 2)), (6, (MAX_SIDE, 2)),
                     (7, (MAX_SIDE, 2)), (8, (MAX_SIDE, 2))]
]  # fmt: skip
# (width, height): MesoNet, the tests' tiny ViT, a non-square input the contract allows.
MODELS = [(256, 256), (32, 32), (256, 192)]
FACE_SIZES = [384, 128]


@pytest.mark.parametrize(("name", "content", "shape"), FILES, ids=[f[0] for f in FILES])
@pytest.mark.parametrize("mode", list(DetectionMode))
def test_every_geometry_is_scored(
    name: str, content: bytes, shape: tuple[int, int], mode: DetectionMode
) -> None:
    settings = Settings()
    job = Job(source=SourceKind.UPLOAD, mode=mode)
    for (width, height), face_size, faces in zip(
        MODELS * 2, FACE_SIZES * 3, [True, False] * 3, strict=True
    ):
        detector = StandInDetector(width, height, face_size, faces)
        result = score_image(content, job, cast(DetectorClient, detector), settings, Timer())
        assert result.mode is mode
        if mode is DetectionMode.WHOLE_IMAGE:
            assert detector.batches == [(1, height, width, 3)]
            continue
        fallback = max(shape) <= 512 and max(shape) <= 1.25 * min(shape)
        if faces or fallback:
            assert result.faces
            assert detector.batches == [(len(result.faces), height, width, 3)]
            for face in result.faces:
                x0, y0, x1, y1 = face.box
                assert 0 <= x0 <= x1 <= shape[1]
                assert 0 <= y0 <= y1 <= shape[0]
        else:
            assert result.verdict is Verdict.NO_FACE
            assert detector.batches == []


def test_the_decoded_shapes_are_the_ones_listed() -> None:
    from worker.imaging import decode_upright

    for name, content, shape in FILES:
        assert decode_upright(content, ImageSettings()).shape == (*shape, 3), name


def test_a_tiny_file_declaring_a_huge_strip_fails_as_an_image_error() -> None:
    content = _encode(_strip("L", 30_000, 1), "PNG")
    truncated = content[: len(content) // 2]
    job = Job(source=SourceKind.UPLOAD, mode=DetectionMode.FACES)
    detector = cast(DetectorClient, StandInDetector(256, 256, 384, True))
    with pytest.raises(PermanentError) as caught:
        score_image(truncated, job, detector, Settings(), Timer())
    assert caught.value.code.value.startswith("image_")
