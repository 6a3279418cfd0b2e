"""Identical image bytes of one tenant are judged once per model version.

Before loading and scoring an image, the worker looks for an earlier succeeded job of the
same tenant with the same SHA-256, mode, detector version and (in face mode) face detector
version. Its scores are copied; the verdicts are worked out again with this job's own
thresholds, since those may differ.
"""

from storage.jobs import DetectionMode, Job, JobResult, Thresholds
from worker.runtime import Runtime
from worker.scoring import face_model, job_model, job_thresholds


def rejudged(result: JobResult, thresholds: Thresholds, source_job_id: str) -> JobResult:
    """`result`'s scores under `thresholds`, marked as reused from `source_job_id`."""
    faces = [
        face.model_copy(update={"verdict": thresholds.verdict(face.fake_probability)})
        for face in result.faces
    ]
    update: dict[str, object] = {"faces": faces, "reused_from": source_job_id}
    if result.fake_probability is not None:
        update["verdict"] = thresholds.verdict(result.fake_probability)
    return result.model_copy(update=update)


def reused_result(runtime: Runtime, job: Job) -> JobResult | None:
    """This job's result from an earlier identical one, or None if it must be scored."""
    settings = runtime.settings
    if not settings.reuse_results or job.image is None:
        return None
    model = job_model(job, settings)
    face_detector = None
    if job.mode is DetectionMode.FACES:
        faces = face_model(settings)
        face_detector = f"{faces.name}:{runtime.detector.served_version(faces)}"
    earlier = runtime.run(
        runtime.jobs.find_reusable(
            job,
            model_name=model.name,
            model_version=runtime.detector.served_version(model),
            face_detector=face_detector,
        )
    )
    if earlier is None or earlier.result is None:
        return None
    source = earlier.result.reused_from or earlier.id
    return rejudged(earlier.result, job_thresholds(job, settings), source)
