"""From image bytes to results: decode once, find faces, judge each crop.

Jobs are judged together (a micro-batch, worker.micro_batch_tasks): all their face searches
go to the face detector in one request and all their inputs to each model in one request;
Triton's dynamic batching then merges requests from all workers.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import numpy.typing as npt
from celery.exceptions import SoftTimeLimitExceeded

from storage.errors import ErrorCode, PermanentError
from storage.jobs import (
    DetectionMode,
    FaceResult,
    Job,
    JobResult,
    ModelRef,
    Thresholds,
    Verdict,
)
from worker.faces import (
    FaceBox,
    Letterbox,
    crop_faces,
    decode_detections,
    prepare_detector_input,
)
from worker.faces import whole_image_face as fallback_face
from worker.imaging import decode_upright, resize_whole
from worker.inference import DetectorClient, Prediction
from worker.provenance import with_provenance
from worker.settings import Settings


@dataclass
class Timer:
    """Milliseconds spent in each named stage, for the job's `durations_ms`."""

    started: float = field(default_factory=time.perf_counter)
    durations_ms: dict[str, float] = field(default_factory=dict)

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.durations_ms[stage] = (now - self.started) * 1000
        self.started = now


def job_model(job: Job, settings: Settings) -> ModelRef:
    """The detector the job names, else the worker's default."""
    return job.model or ModelRef(
        name=settings.triton.model_name, version=settings.triton.model_version
    )


def job_thresholds(job: Job, settings: Settings) -> Thresholds:
    return job.thresholds or Thresholds(
        fake=settings.verdict.fake_threshold, real=settings.verdict.real_threshold
    )


def face_model(settings: Settings) -> ModelRef:
    return ModelRef(
        name=settings.triton.face_model_name, version=settings.triton.face_model_version
    )


def score_image(
    content: bytes, job: Job, detector: DetectorClient, settings: Settings, timer: Timer
) -> JobResult:
    """One job's result; raises what judging it raised."""
    (outcome,) = score_images([Entry(job, content, timer)], detector, settings)
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


@dataclass
class Entry:
    """One job of a micro-batch on its way to a result: `outcome` is set once it has one,
    or once judging it failed (its neighbours carry on)."""

    job: Job
    content: bytes
    timer: Timer = field(default_factory=Timer)
    model: ModelRef = field(init=False)
    # The model input (whole-image mode), or the face crops.
    inputs: npt.NDArray[np.uint8] | None = None
    rgb: npt.NDArray[np.uint8] | None = None
    faces: list[FaceBox] = field(default_factory=list)
    # Width and height of the upright image the face boxes are in.
    frame: tuple[int, int] | None = None
    face_detector: str | None = None
    outcome: JobResult | BaseException | None = None


def score_images(
    entries: list[Entry], detector: DetectorClient, settings: Settings
) -> list[JobResult | BaseException]:
    """Judge many jobs together: each image decoded once, every face search in one request
    to the face detector, every input of one model in one request to it. An image that
    cannot be judged fails alone; a request that fails fails the jobs that were in it."""
    for entry in entries:
        entry.model = job_model(entry.job, settings)
        _guard(entry, partial(_decode, entry, detector, settings))
    _find_faces([e for e in entries if e.rgb is not None], detector, settings)
    by_model: dict[ModelRef, list[Entry]] = {}
    for entry in entries:
        if entry.outcome is None and entry.inputs is not None:
            by_model.setdefault(entry.model, []).append(entry)
    for model, group in by_model.items():
        _predict(model, group, detector, settings)
    for entry in entries:  # what the file itself claims: read from the bytes, never failing
        if isinstance(entry.outcome, JobResult):
            entry.outcome = with_provenance(
                entry.outcome, entry.content, settings.provenance, entry.timer.durations_ms
            )
    return [e.outcome if e.outcome is not None else _INCOMPLETE for e in entries]


_INCOMPLETE = PermanentError(ErrorCode.INTERNAL_ERROR, "the job was not judged")


def _guard(entry: Entry, step: Callable[[], None]) -> None:
    """Run one job's step; whatever it raises becomes that job's outcome."""
    try:
        step()
    except SoftTimeLimitExceeded:
        raise  # the whole run is out of time
    except Exception as error:  # sorted by the caller (worker.tasks)
        entry.outcome = error


def _decode(entry: Entry, detector: DetectorClient, settings: Settings) -> None:
    entry.timer.started = time.perf_counter()
    signature = detector.signature(entry.model)
    size = (signature.width, signature.height)
    if entry.job.mode is DetectionMode.WHOLE_IMAGE:
        # A whole image is judged at the model's input size: decode no larger than needed.
        rgb = decode_upright(entry.content, settings.image, at_least=max(size))
        entry.inputs = resize_whole(rgb, size)[None]
    else:
        # Face crops are cut from the full-size image.
        entry.rgb = decode_upright(entry.content, settings.image)
    entry.timer.lap("decode")


def _find_faces(entries: list[Entry], detector: DetectorClient, settings: Settings) -> None:
    """Faces in every image, best first, in one face-detector request for all of them."""
    if not entries:
        return
    model = face_model(settings)
    prepared: list[tuple[Entry, npt.NDArray[np.uint8], Letterbox]] = []
    try:
        side = detector.face_detector_size(model)
    except SoftTimeLimitExceeded:
        raise
    except Exception as error:  # the model is not there: for all of them
        _fail_all(entries, error)
        return
    for entry in entries:
        _guard(entry, partial(_letterbox, prepared, entry, side))
    if not prepared:
        return
    started = time.perf_counter()
    try:
        boxes, scores, version = detector.detect_faces(model, np.stack([p[1] for p in prepared]))
    except SoftTimeLimitExceeded:
        raise
    except Exception as error:  # the request failed for all of them
        _fail_all([p[0] for p in prepared], error)
        return
    elapsed_ms = (time.perf_counter() - started) * 1000
    for index, (entry, _, letterbox) in enumerate(prepared):
        entry.face_detector = f"{model.name}:{version}"
        entry.timer.durations_ms["face_detection"] = elapsed_ms
        crop = partial(_crop, entry, boxes[index], scores[index], letterbox, detector, settings)
        _guard(entry, crop)


def _letterbox(
    prepared: list[tuple[Entry, npt.NDArray[np.uint8], Letterbox]], entry: Entry, side: int
) -> None:
    assert entry.rgb is not None
    prepared.append((entry, *prepare_detector_input(entry.rgb, side)))


def _fail_all(entries: list[Entry], error: Exception) -> None:
    for entry in entries:
        entry.outcome = error


def _crop(
    entry: Entry,
    boxes: npt.NDArray[np.float32],
    scores: npt.NDArray[np.float32],
    letterbox: Letterbox,
    detector: DetectorClient,
    settings: Settings,
) -> None:
    faces = settings.faces
    rgb = entry.rgb
    assert rgb is not None
    found = decode_detections(boxes, scores, letterbox, faces.score_threshold, faces.iou_threshold)
    found = found[: faces.max_faces]
    if not found:
        height, width = rgb.shape[:2]
        whole = fallback_face(
            height,
            width,
            faces.whole_image_fallback_max_side,
            faces.whole_image_fallback_max_aspect,
        )
        found = [] if whole is None else [whole]
    entry.faces = found
    entry.frame = (rgb.shape[1], rgb.shape[0])
    if not found:
        entry.outcome = JobResult(
            fake_probability=None,
            verdict=Verdict.NO_FACE,
            mode=entry.job.mode,
            model_name=entry.model.name,
            model_version=detector.served_version(entry.model),
            face_detector=entry.face_detector,
            image_size=entry.frame,
        )
    else:
        signature = detector.signature(entry.model)
        entry.inputs = crop_faces(
            rgb, found, faces.crop_margin, (signature.width, signature.height)
        )
    entry.rgb = None  # the full-size pixels are no longer needed


def _predict(
    model: ModelRef, entries: list[Entry], detector: DetectorClient, settings: Settings
) -> None:
    """Every input of every job judged by `model` in one request."""
    inputs = [entry.inputs for entry in entries if entry.inputs is not None]
    started = time.perf_counter()
    try:
        prediction = detector.predict(model, np.concatenate(inputs))
    except SoftTimeLimitExceeded:
        raise
    except Exception as error:  # the request failed for all of them
        _fail_all(entries, error)
        return
    elapsed_ms = (time.perf_counter() - started) * 1000
    start = 0
    for entry, batch in zip(entries, inputs, strict=True):
        probabilities = prediction.fake_probabilities[start : start + len(batch)]
        start += len(batch)
        entry.timer.durations_ms["inference"] = elapsed_ms
        _guard(entry, partial(_result, entry, probabilities, prediction, settings))


def _result(
    entry: Entry,
    probabilities: npt.NDArray[np.float32],
    prediction: Prediction,
    settings: Settings,
) -> None:
    thresholds = job_thresholds(entry.job, settings)
    common = {
        "mode": entry.job.mode,
        "model_name": prediction.model_name,
        "model_version": prediction.model_version,
    }
    if entry.job.mode is DetectionMode.WHOLE_IMAGE:
        probability = float(probabilities[0])
        entry.outcome = JobResult(
            fake_probability=probability, verdict=thresholds.verdict(probability), **common
        )
        return
    results = [
        FaceResult(
            box=(round(face.x0), round(face.y0), round(face.x1), round(face.y1)),
            detection_score=min(max(face.score, 0.0), 1.0),
            fake_probability=float(probability),
            verdict=thresholds.verdict(float(probability)),
        )
        for face, probability in zip(entry.faces, probabilities, strict=True)
    ]
    worst = max(result.fake_probability for result in results)
    entry.outcome = JobResult(
        fake_probability=worst,
        verdict=thresholds.verdict(worst),
        faces=results,
        face_detector=entry.face_detector,
        image_size=entry.frame,
        **common,
    )
