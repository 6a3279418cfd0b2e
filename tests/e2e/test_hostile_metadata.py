"""Metadata that JSON allows but the database or a JSON answer would refuse: refused at
submission with 422, by JSON body and by upload form alike, never a 5xx."""

import json

import httpx
import pytest

from tests.e2e.jobs import ImageServer

pytestmark = pytest.mark.e2e

# Raw JSON text of the `metadata` value: what a client may send.
UNSTORABLE = {
    "integer-past-64-bits": '{"n": 18446744073709551616}',
    "nan": '{"n": NaN}',
    "infinity": '{"n": Infinity}',
    "nul-in-a-key": '{"a\\u0000b": 1}',
    "key-starting-with-dollar": '{"$where": 1}',
    "lone-surrogate": '{"s": "\\ud800"}',
    "nested-40-levels": '{"a":' * 40 + "1" + "}" * 40,
}


@pytest.mark.parametrize("metadata", UNSTORABLE.values(), ids=UNSTORABLE.keys())
def test_unstorable_metadata_is_refused_in_a_json_body(
    api: httpx.Client, image_server: ImageServer, metadata: str
) -> None:
    url = json.dumps(image_server.url("df/df00204.jpg"))
    body = f'{{"image_url": {url}, "mode": "whole_image", "metadata": {metadata}}}'
    response = api.post("/v1/jobs", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_request"


@pytest.mark.parametrize("metadata", UNSTORABLE.values(), ids=UNSTORABLE.keys())
def test_unstorable_metadata_is_refused_in_an_upload_form(
    api: httpx.Client, image_server: ImageServer, metadata: str
) -> None:
    content = (image_server.root / "df" / "df00204.jpg").read_bytes()
    response = api.post(
        "/v1/jobs",
        files={"file": ("a.jpg", content, "image/jpeg")},
        data={"metadata": metadata, "mode": "whole_image"},
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_request"
