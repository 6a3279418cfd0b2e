"""Choosing a detector and verdict thresholds per job."""

import json
from pathlib import Path

import httpx
import pytest

from tests.e2e.jobs import submit_upload, wait_for_job

pytestmark = pytest.mark.e2e

DF_CROP = "df/df00204.jpg"  # MesoInception 0.974, Meso4 0.959


def test_served_detectors_are_listed(api: httpx.Client) -> None:
    response = api.get("/v1/models")
    assert response.status_code == 200
    models = {model["name"]: model for model in response.json()}
    assert set(models) == {"deepfake_detector", "meso4_df", "tiny_vit"}
    assert models["tiny_vit"]["input_size"] == [32, 32]
    assert models["deepfake_detector"] == {
        "name": "deepfake_detector",
        "versions": ["1"],
        "input_size": [256, 256],
        "default": True,
    }
    assert models["meso4_df"]["default"] is False


def _upload(api: httpx.Client, content: bytes, **fields: object) -> httpx.Response:
    data = {k: v if isinstance(v, str) else json.dumps(v) for k, v in fields.items()}
    return api.post("/v1/jobs", files={"file": ("face.jpg", content, "image/jpeg")}, data=data)


def test_a_job_may_name_its_detector(api: httpx.Client, samples_dir: Path) -> None:
    content = (samples_dir / DF_CROP).read_bytes()
    # Whole-image mode: the crop as published, so the published outputs apply.
    response = _upload(api, content, model="meso4_df", model_version="1", mode="whole_image")
    assert response.status_code == 202, response.text
    assert response.json()["model"] == {"name": "meso4_df", "version": "1"}
    job = wait_for_job(api, response.json()["id"])
    assert job["result"]["model_name"] == "meso4_df"
    assert job["result"]["model_version"] == "1"
    assert job["result"]["fake_probability"] == pytest.approx(0.9586, abs=1e-3)
    default = wait_for_job(api, _upload(api, content, mode="whole_image").json()["id"])
    assert default["model"] == {"name": "deepfake_detector", "version": ""}
    assert default["result"]["fake_probability"] == pytest.approx(0.9738, abs=1e-3)


def test_thresholds_may_be_overridden_per_job(api: httpx.Client, samples_dir: Path) -> None:
    content = (samples_dir / DF_CROP).read_bytes()
    response = _upload(api, content, thresholds={"fake": 0.99})
    assert response.status_code == 202, response.text
    job = wait_for_job(api, response.json()["id"])
    assert job["thresholds"] == {"fake": 0.99, "real": 0.3}
    assert job["result"]["verdict"] == "uncertain"
    by_url_defaults = wait_for_job(api, submit_upload(api, content))
    assert by_url_defaults["thresholds"] == {"fake": 0.7, "real": 0.3}
    assert by_url_defaults["result"]["verdict"] == "fake"


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"model": "no_such_model"}, "unknown_model"),
        ({"model": "meso4_df", "model_version": "7"}, "unknown_model"),
        ({"thresholds": {"fake": 0.2, "real": 0.5}}, "invalid_request"),
        ({"thresholds": {"fake": 1.5}}, "invalid_request"),
        ({"thresholds": {"fake": 0.9, "maybe": 0.5}}, "invalid_request"),
        ({"metadata": "not json"}, "invalid_request"),
    ],
)
def test_bad_choices_are_refused_at_once(
    api: httpx.Client, samples_dir: Path, fields: dict[str, object], code: str
) -> None:
    response = _upload(api, (samples_dir / DF_CROP).read_bytes(), **fields)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == code


def test_json_submissions_take_the_same_options(api: httpx.Client) -> None:
    body = {"image_url": "https://a.example/x.jpg", "model": "nope", "thresholds": {"real": 0.1}}
    response = api.post("/v1/jobs", json=body)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "unknown_model"


@pytest.mark.parametrize("mode", ["whole_image", "faces"])
def test_an_exported_hugging_face_classifier_is_chosen_per_job(
    api: httpx.Client, samples_dir: Path, mode: str
) -> None:
    response = _upload(api, (samples_dir / DF_CROP).read_bytes(), model="tiny_vit", mode=mode)
    assert response.status_code == 202, response.text
    job = wait_for_job(api, response.json()["id"])
    assert job["status"] == "succeeded", job["error"]
    assert job["result"]["model_name"] == "tiny_vit"
    assert 0.0 <= job["result"]["fake_probability"] <= 1.0
