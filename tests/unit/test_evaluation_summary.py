"""The evaluation report over jobs as the API returns them: no_face is counted, not scored."""

from pathlib import Path
from typing import Any

from evaluation.__main__ import Outcome, summarise
from evaluation.plot import draw_roc

ROOT = Path("/data")


def _outcome(name: str, fake: bool, job: dict[str, Any]) -> Outcome:
    return Outcome(ROOT / ("fake" if fake else "real") / name, fake, job)


def _scored(probability: float) -> dict[str, Any]:
    verdict = "fake" if probability >= 0.5 else "real"
    result = {"fake_probability": probability, "verdict": verdict, "model_name": "m"}
    return {"status": "succeeded", "result": result, "error": None}


NO_FACE = {
    "status": "succeeded",
    "result": {"fake_probability": None, "verdict": "no_face", "model_name": "m"},
    "error": None,
}
FAILED = {"status": "failed", "result": None, "error": {"code": "image_decode_failed"}}


def test_no_face_images_are_counted_and_left_out_of_the_metrics() -> None:
    outcomes = [
        _outcome("a.jpg", True, _scored(0.9)),
        _outcome("b.jpg", False, _scored(0.1)),
        _outcome("c.jpg", True, NO_FACE),
        _outcome("d.jpg", False, NO_FACE),
        _outcome("e.jpg", False, FAILED),
    ]
    report = summarise(outcomes, 0.5, None, ROOT)
    assert (report["count"], report["no_face"], report["failed"]) == (2, 2, 1)
    assert (report["accuracy"], report["roc_auc"]) == (1.0, 1.0)
    assert report["model"] == "m"
    items = {item["path"]: item for item in report["items"]}
    assert items["fake/c.jpg"]["verdict"] == "no_face"
    assert items["fake/c.jpg"]["fake_probability"] is None
    assert items["real/e.jpg"]["error"] == {"code": "image_decode_failed"}


def test_a_set_without_any_face_still_reports(tmp_path: Path) -> None:
    outcomes = [_outcome("a.jpg", True, NO_FACE), _outcome("b.jpg", False, NO_FACE)]
    report = summarise(outcomes, 0.5, "deepfake_detector", ROOT)
    assert (report["count"], report["no_face"], report["failed"]) == (0, 2, 0)
    assert report["roc_auc"] is None
    draw_roc(report["roc_curve"], report["roc_auc"], tmp_path / "roc.png")
    assert (tmp_path / "roc.png").stat().st_size > 0
