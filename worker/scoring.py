"""From stored image bytes to a result: decode once, find faces, judge each crop.

The face crops of one image go to the detector in one request; Triton's dynamic batching
then merges requests from all workers.
"""

import time
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from storage.jobs import (
    DetectionMode,
    FaceResult,
    Job,
    JobResult,
    ModelRef,
    Thresholds,
    Verdict,
)
from worker.faces import FaceBox, crop_faces, decode_detections, prepare_detector_input
from worker.faces import whole_image_face as fallback_face
from worker.imaging import decode_upright, resize_whole
from worker.inference import DetectorClient
from worker.settings import FaceSettings, Settings


@dataclass
class Timer:
    """Milliseconds spent in each named stage, for the job's `durations_ms`."""

    started: float = field(default_factory=time.perf_counter)
    durations_ms: dict[str, float] = field(default_factory=dict)

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.durations_ms[stage] = (now - self.started) * 1000
        self.started = now


def find_faces(
    detector: DetectorClient, model: ModelRef, rgb: npt.NDArray[np.uint8], settings: FaceSettings
) -> tuple[list[FaceBox], str]:
    """Faces in the image, best first, and the face detector's `name:version`."""
    tensor, letterbox = prepare_detector_input(rgb, detector.face_detector_size(model))
    boxes, scores, version = detector.detect_faces(model, tensor)
    faces = decode_detections(
        boxes, scores, letterbox, settings.score_threshold, settings.iou_threshold
    )[: settings.max_faces]
    if not faces:
        height, width = rgb.shape[:2]
        whole = fallback_face(
            height,
            width,
            settings.whole_image_fallback_max_side,
            settings.whole_image_fallback_max_aspect,
        )
        faces = [] if whole is None else [whole]
    return faces, f"{model.name}:{version}"


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
    model = job_model(job, settings)
    thresholds = job_thresholds(job, settings)
    signature = detector.signature(model)
    # A whole image is judged at the model's input size: decode no larger than needed.
    # Face crops are cut from the full-size image.
    whole = job.mode is DetectionMode.WHOLE_IMAGE
    rgb = decode_upright(
        content, settings.image, at_least=max(signature.width, signature.height) if whole else None
    )
    timer.lap("decode")
    if whole:
        prediction = detector.predict(
            model, resize_whole(rgb, (signature.width, signature.height))[None]
        )
        timer.lap("inference")
        probability = float(prediction.fake_probabilities[0])
        return JobResult(
            fake_probability=probability,
            verdict=thresholds.verdict(probability),
            mode=job.mode,
            model_name=prediction.model_name,
            model_version=prediction.model_version,
        )

    faces, face_detector = find_faces(detector, face_model(settings), rgb, settings.faces)
    timer.lap("face_detection")
    if not faces:
        return JobResult(
            fake_probability=None,
            verdict=Verdict.NO_FACE,
            mode=job.mode,
            model_name=model.name,
            model_version=detector.served_version(model),
            face_detector=face_detector,
        )
    crops = crop_faces(rgb, faces, settings.faces.crop_margin, (signature.width, signature.height))
    prediction = detector.predict(model, crops)
    timer.lap("inference")
    results = [
        FaceResult(
            box=(round(face.x0), round(face.y0), round(face.x1), round(face.y1)),
            detection_score=min(max(face.score, 0.0), 1.0),
            fake_probability=float(probability),
            verdict=thresholds.verdict(float(probability)),
        )
        for face, probability in zip(faces, prediction.fake_probabilities, strict=True)
    ]
    worst = max(result.fake_probability for result in results)
    return JobResult(
        fake_probability=worst,
        verdict=thresholds.verdict(worst),
        mode=job.mode,
        faces=results,
        model_name=prediction.model_name,
        model_version=prediction.model_version,
        face_detector=face_detector,
    )
