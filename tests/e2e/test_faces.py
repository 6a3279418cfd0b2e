"""Face mode: each face found, cropped and judged; the image scores as its worst face."""

import io
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image
from skimage import data

from tests.e2e.jobs import wait_for_job
from tests.e2e.test_detection import SAMPLES

pytestmark = pytest.mark.e2e

# Where the astronaut's face lies in skimage's 512x512 photo (x0, y0, x1, y1).
ASTRONAUT_FACE = (175, 70, 280, 175)


def _coffee() -> np.ndarray[Any, Any]:
    """A photo of a cup of coffee: no face."""
    return data.coffee()  # type: ignore[no-untyped-call,no-any-return]


def _png(pixels: np.ndarray[Any, Any]) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def _score(api: httpx.Client, content: bytes, **fields: str) -> dict[str, Any]:
    response = api.post(
        "/v1/jobs", files={"file": ("image.png", content, "image/png")}, data=fields
    )
    assert response.status_code == 202, response.text
    job = wait_for_job(api, response.json()["id"])
    assert job["status"] == "succeeded", job["error"]
    result: dict[str, Any] = job["result"]
    return result


def _overlap(box: list[int], region: tuple[int, int, int, int]) -> float:
    """Share of `box` that lies inside `region`."""
    width = max(0, min(box[2], region[2]) - max(box[0], region[0]))
    height = max(0, min(box[3], region[3]) - max(box[1], region[1]))
    return width * height / ((box[2] - box[0]) * (box[3] - box[1]))


def test_one_face_is_found_on_the_face(api: httpx.Client) -> None:
    result = _score(api, _png(data.astronaut()))  # type: ignore[no-untyped-call]
    assert result["mode"] == "faces"
    assert result["face_detector"] == "face_detector:1"
    assert len(result["faces"]) == 1
    face = result["faces"][0]
    assert _overlap(face["box"], ASTRONAUT_FACE) > 0.8
    assert face["detection_score"] > 0.8
    assert result["fake_probability"] == face["fake_probability"]


def test_a_photo_without_faces_says_so(api: httpx.Client) -> None:
    result = _score(api, _png(_coffee()))
    assert result["verdict"] == "no_face"
    assert result["fake_probability"] is None
    assert result["faces"] == []


def test_every_face_of_a_group_is_judged(api: httpx.Client, samples_dir: Path) -> None:
    canvas = Image.new("RGB", (1024, 512), (128, 128, 128))
    placed = {}
    for index, (name, _) in enumerate(SAMPLES):
        with Image.open(samples_dir / name) as crop:
            x0, y0 = 16 + index * 252, 144
            canvas.paste(crop.convert("RGB").resize((224, 224)), (x0, y0))
            placed[name] = (x0, y0, x0 + 224, y0 + 224)
    result = _score(api, _png(np.asarray(canvas)))
    assert len(result["faces"]) == 4
    for name, region in placed.items():
        (face,) = [f for f in result["faces"] if _overlap(f["box"], region) > 0.9]
        assert face["verdict"] == ("fake" if name.startswith("df") else "real"), name
    assert result["verdict"] == "fake"
    assert result["fake_probability"] == max(f["fake_probability"] for f in result["faces"])


@pytest.mark.parametrize(("name", "verdict"), SAMPLES)
def test_a_tight_face_crop_keeps_its_verdict(
    api: httpx.Client, samples_dir: Path, name: str, verdict: str
) -> None:
    result = _score(api, (samples_dir / name).read_bytes())
    assert len(result["faces"]) == 1
    assert result["verdict"] == verdict


def test_whole_image_mode_skips_face_detection(api: httpx.Client) -> None:
    result = _score(api, _png(_coffee()), mode="whole_image")
    assert result["mode"] == "whole_image"
    assert result["faces"] == []
    assert result["face_detector"] is None
    assert result["verdict"] in {"fake", "real", "uncertain"}
