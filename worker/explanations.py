"""Explaining a judged job: each face's crop, cut as scoring cut it, judged again under a
grid of grey squares, one Triton request per face (worker.occlusion has the arithmetic).

The crops are the ones the model saw: the job's stored image decoded upright, each face of
its result cut with the same margin at the model's input size (a whole-image job: the whole
image resized), by the model version that judged it. No face search runs again: the boxes
of the result are used, so the faces are the result's, in its order.
"""

import hashlib
import logging
import time
from dataclasses import dataclass

import numpy as np

from storage.errors import ErrorCode, PermanentError
from storage.explanation_repository import (
    MAX_EXPLAINED_FACES,
    ExplainedFace,
    Explanation,
    ExplanationRepository,
    ExplanationStatus,
    OcclusionMethod,
    delete_explanations,
    explainable,
)
from storage.jobs import DetectionMode, Job, ModelRef
from storage.objects import explanation_key
from worker.faces import FaceBox, crop_faces, square_around
from worker.imaging import decode_upright, resize_whole
from worker.inference import DetectorClient
from worker.occlusion import (
    Crop,
    SensitivityMap,
    grid_for,
    occluded_copies,
    overlay_png,
    sensitivity,
)
from worker.runtime import Runtime
from worker.settings import Settings

logger = logging.getLogger(__name__)

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class FaceMap:
    index: int
    box: Box | None
    # The square the crop was cut from, in the upright image (it may reach past its edges).
    region: Box | None
    crop: Crop
    fake_probability: float
    max_drop: float
    sensitivity: SensitivityMap
    png: bytes
    elapsed_ms: float


def result_model(job: Job) -> ModelRef:
    assert job.result is not None
    return ModelRef(name=job.result.model_name, version=job.result.model_version)


def model_crops(
    content: bytes, job: Job, detector: DetectorClient, settings: Settings
) -> tuple[Crop, list[Box | None], list[Box | None]]:
    """[N, height, width, 3]: what the model saw of each face, each face's box and the
    square its crop was cut from (None for a whole image)."""
    assert job.result is not None
    signature = detector.signature(result_model(job))
    size = (signature.width, signature.height)
    if job.result.mode is DetectionMode.WHOLE_IMAGE:
        rgb = decode_upright(content, settings.image, at_least=max(size))
        return resize_whole(rgb, size)[None], [None], [None]
    faces = job.result.faces[: min(settings.faces.max_faces, MAX_EXPLAINED_FACES)]
    rgb = decode_upright(content, settings.image)
    boxes = [_face_box(face.box, face.detection_score) for face in faces]
    margin = settings.faces.crop_margin
    crops = crop_faces(rgb, boxes, margin, size)
    height, width = rgb.shape[:2]
    squares = [square_around(box, margin, height, width) for box in boxes]
    regions: list[Box | None] = [(x, y, x + side, y + side) for x, y, side in squares]
    return crops, [face.box for face in faces], regions


def _face_box(box: Box, score: float) -> FaceBox:
    x0, y0, x1, y1 = box
    return FaceBox(float(x0), float(y0), float(x1), float(y1), score)


def explain_image(
    content: bytes, job: Job, detector: DetectorClient, settings: Settings
) -> tuple[OcclusionMethod, list[FaceMap]]:
    """The occlusion map of every face of the job's result: one request per face."""
    model = result_model(job)
    crops, boxes, regions = model_crops(content, job, detector, settings)
    height, width = crops.shape[1:3]
    grid = grid_for(width, height, detector.max_batch_size(model))
    if grid is None:
        raise PermanentError(
            ErrorCode.EXPLANATION_UNSUPPORTED,
            f"model {model.name!r} takes too few inputs per request to be explained",
        )
    maps = []
    for index, (crop, box, region) in enumerate(zip(crops, boxes, regions, strict=True)):
        started = time.perf_counter()
        copies = occluded_copies(crop, grid)
        # Within the model's batch size (grid_for): exactly one request.
        probabilities = detector.predict(model, copies).fake_probabilities
        values = sensitivity(probabilities, grid)
        maps.append(
            FaceMap(
                index=index,
                box=box,
                region=region,
                crop=crop,
                fake_probability=float(np.clip(probabilities[0], 0.0, 1.0)),
                max_drop=float(np.clip((probabilities[0] - probabilities[1:]).max(), 0.0, 1.0)),
                sensitivity=values,
                png=overlay_png(crop, values),
                elapsed_ms=(time.perf_counter() - started) * 1000,
            )
        )
    return grid.method(), maps


def explain(runtime: Runtime, repository: ExplanationRepository, explanation_id: str) -> None:
    """Compute a pending explanation, store its overlays and mark it ready. Raises what
    computing it raised (sorted by worker.explanation_tasks)."""
    explanation = runtime.run(repository.get(explanation_id))
    if explanation is None or explanation.status is not ExplanationStatus.PENDING:
        return
    job = runtime.run(runtime.jobs.get(explanation.job_id))
    if job is None:
        # Its job was deleted after the gateway checked it: nothing to explain or keep.
        _forget(runtime, explanation)
        return
    if not explainable(job) or job.image is None:
        raise PermanentError(ErrorCode.JOB_NOT_JUDGED, "the job has no scored face to explain")
    if not runtime.run(repository.touch(explanation_id)):
        return
    content = runtime.objects.get_image(job.image)
    method, maps = explain_image(content, job, runtime.detector, runtime.settings)
    faces: list[ExplainedFace] = []
    keys: list[str] = []
    for face in maps:
        key = explanation_key(job.tenant_id, job.id, explanation.model_version, face.index)
        runtime.objects.put_explanation(key, face.png)
        keys.append(key)
        faces.append(
            ExplainedFace(
                index=face.index,
                box=face.box,
                region=face.region,
                fake_probability=face.fake_probability,
                max_drop=face.max_drop,
                image_sha256=_sha256(face.png),
            )
        )
        logger.info(
            "explanation %s: face %d in %.0f ms", explanation_id, face.index, face.elapsed_ms
        )
    if runtime.run(repository.succeed(explanation_id, method, faces)):
        return
    if runtime.run(repository.get(explanation_id)) is None:
        # Deleted with its job while it was computed: the overlays must not outlive it.
        runtime.objects.delete_images(keys)


def _forget(runtime: Runtime, explanation: Explanation) -> None:
    database = runtime.mongo[runtime.settings.mongo.database]
    keys = runtime.run(delete_explanations(database, [explanation.job_id]))
    if keys:
        runtime.objects.delete_images(keys)


def _sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()
