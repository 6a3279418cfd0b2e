"""Reused scores are judged again under the new job's thresholds."""

from storage.jobs import DetectionMode, FaceResult, JobResult, Thresholds, Verdict
from worker.reuse import rejudged


def _face(probability: float, verdict: Verdict) -> FaceResult:
    return FaceResult(
        box=(0, 0, 10, 10), detection_score=0.9, fake_probability=probability, verdict=verdict
    )


def test_scores_stay_and_verdicts_follow_the_new_thresholds() -> None:
    earlier = JobResult(
        fake_probability=0.8,
        verdict=Verdict.FAKE,
        mode=DetectionMode.FACES,
        faces=[_face(0.8, Verdict.FAKE), _face(0.1, Verdict.REAL)],
        model_name="m",
        model_version="1",
        face_detector="face_detector:1",
    )
    again = rejudged(earlier, Thresholds(fake=0.9, real=0.05), "job_first")
    assert again.fake_probability == 0.8
    assert again.verdict is Verdict.UNCERTAIN
    assert [f.verdict for f in again.faces] == [Verdict.UNCERTAIN, Verdict.UNCERTAIN]
    assert again.reused_from == "job_first"
    assert earlier.reused_from is None  # the original is untouched


def test_no_face_stays_no_face() -> None:
    earlier = JobResult(
        fake_probability=None, verdict=Verdict.NO_FACE, model_name="m", model_version="1"
    )
    again = rejudged(earlier, Thresholds(fake=0.5, real=0.5), "job_first")
    assert again.verdict is Verdict.NO_FACE
