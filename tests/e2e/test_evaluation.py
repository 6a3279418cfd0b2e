"""The evaluation command against the running service, on the sample crops and a photo with
no face."""

import json
from pathlib import Path

import pytest
from PIL import Image
from skimage import data as skimage_data

from evaluation.__main__ import main
from tests.e2e.clients import ADMIN_KEY

pytestmark = pytest.mark.e2e


def test_evaluation_writes_its_json_and_png(
    gateway: str,
    worker: object,
    samples_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = tmp_path / "data"
    for source, label in (("df", "fake"), ("real", "real")):
        (data / label).mkdir(parents=True)
        for crop in (samples_dir / source).glob("*.jpg"):
            (data / label / crop.name).write_bytes(crop.read_bytes())
    # A photo with no face: face mode answers no_face, with no score to measure.
    coffee = skimage_data.coffee()  # type: ignore[no-untyped-call]
    Image.fromarray(coffee).save(data / "real" / "coffee.png")
    out = tmp_path / "report"
    assert (
        main(["--api", gateway, "--api-key", ADMIN_KEY, "--data", str(data), "--out", str(out)])
        == 0
    )
    report = json.loads((out / "metrics.json").read_text())
    assert (report["count"], report["no_face"], report["failed"]) == (4, 1, 0)
    assert "4 scored, 1 with no face (not scored), 0 failed" in capsys.readouterr().out
    (coffee_item,) = [item for item in report["items"] if item["path"] == "real/coffee.png"]
    assert (coffee_item["verdict"], coffee_item["fake_probability"]) == ("no_face", None)
    assert report["accuracy"] == 1.0
    assert report["roc_auc"] == 1.0
    assert report["confusion"] == {
        "true_positive": 2,
        "false_positive": 0,
        "true_negative": 2,
        "false_negative": 0,
    }
    assert report["model"] == "deepfake_detector"
    with Image.open(out / "roc.png") as image:
        assert image.format == "PNG"
