"""`score_image` from file bytes to a result, over the hostile corpus's geometries and modes.

The served models are replaced by a stand-in that checks each tensor against the input
size it declares and answers with hostile face boxes; the real models run in
tests/e2e/test_hostile.py. Every case must end in a result, or in a PermanentError with an
image_* code, never in another exception.
"""

from __future__ import annotations

from typing import cast

import numpy as np
import pytest
from numpy.typing import NDArray

from storage.contract import ModelSignature
from storage.errors import PermanentError
from storage.jobs import DetectionMode, Job, ModelRef, SourceKind, Verdict
from tests.hostile.images import GEOMETRY_CASES, IMAGE_CASES, ImageCase
from tests.unit.test_geometry import hostile_detections
from worker.inference import DetectorClient, Prediction
from worker.scoring import Timer, score_image
from worker.settings import Settings


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
        self, model: ModelRef, images: NDArray[np.uint8]
    ) -> tuple[NDArray[np.float32], NDArray[np.float32], str]:
        assert images.shape[1:] == (self.face_size, self.face_size, 3)
        assert images.dtype == np.uint8
        boxes, scores = hostile_detections()
        scores = scores if self.faces else np.zeros_like(scores)
        count = images.shape[0]
        return np.stack([boxes] * count), np.stack([scores] * count), "1"

    def predict(self, model: ModelRef, images: NDArray[np.uint8]) -> Prediction:
        assert images.shape[1:] == (self.height, self.width, 3)
        assert images.dtype == np.uint8
        assert images.shape[0] >= 1
        self.batches.append(images.shape)
        return Prediction(np.full(len(images), 0.5, np.float32), model.name, "1")


# The corpus's extreme geometries, and the rest of it that decodes (modes, animations...),
# less the 40 Mpx squares: test_hostile_images decodes those.
CASES = GEOMETRY_CASES + [
    c for c in IMAGE_CASES if c.code is None and c not in GEOMETRY_CASES and "bomb" not in c.name
]

# (model input (width, height), face detector side, whether the detector answers with faces):
# MesoNet, the tests' tiny ViT, a non-square input the detector contract allows.
SETUPS = [((256, 256), 384, True), ((32, 32), 128, False), ((256, 192), 128, True)]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
@pytest.mark.parametrize("mode", list(DetectionMode))
def test_every_geometry_is_scored(case: ImageCase, mode: DetectionMode) -> None:
    settings = Settings()  # the default limits: 40 Mpx, 4096 a side
    job = Job(source=SourceKind.UPLOAD, mode=mode)
    content = case.make()
    if case.code is not None:
        refused = cast(DetectorClient, StandInDetector(256, 256, 384, True))
        with pytest.raises(PermanentError) as caught:
            score_image(content, job, refused, settings, Timer())
        assert caught.value.code is case.code
        return
    assert case.shape is not None
    shape = case.shape
    for (width, height), face_size, faces in SETUPS:
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
