"""`DELETE /v1/jobs/{id}` and `DELETE /v1/batches/{id}` remove everything, for good."""

import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from storage.errors import PermanentError
from storage.jobs import DEFAULT_TENANT, ImageRef
from storage.objects import ObjectStore, image_key
from storage.settings import ObjectStoreSettings
from tests.e2e.clients import CreateKey, api_client
from tests.e2e.jobs import ImageServer, submit_upload, wait_for_job

pytestmark = pytest.mark.e2e


def _stored(s3_server: Any, image: dict[str, Any]) -> bool:
    objects = ObjectStore(ObjectStoreSettings(endpoint=s3_server.endpoint))
    key = image_key(DEFAULT_TENANT, image["sha256"])
    try:
        objects.get_image(ImageRef(sha256=image["sha256"], object_key=key, size_bytes=0))
    except PermanentError:
        return False
    return True


def test_a_deleted_job_is_gone_with_its_image(
    api: httpx.Client, samples_dir: Path, s3_server: Any, create_key: CreateKey
) -> None:
    content = (samples_dir / "df/df00204.jpg").read_bytes() + uuid.uuid4().bytes
    job = wait_for_job(api, submit_upload(api, content))
    image = job["image"]
    assert _stored(s3_server, image)

    with api_client(str(api.base_url), key=create_key("admin")) as stranger:
        assert stranger.delete(f"/v1/jobs/{job['id']}").status_code == 404
    assert api.get(f"/v1/jobs/{job['id']}").status_code == 200

    assert api.delete(f"/v1/jobs/{job['id']}").status_code == 204
    assert api.get(f"/v1/jobs/{job['id']}").json()["error"]["code"] == "job_not_found"
    assert api.delete(f"/v1/jobs/{job['id']}").status_code == 404
    assert not _stored(s3_server, image)


def test_a_deleted_batch_takes_every_job(api: httpx.Client, image_server: ImageServer) -> None:
    items = [{"image_url": image_server.url("df/df00204.jpg")} for _ in range(3)]
    batch = api.post("/v1/batches", json={"items": items}).json()
    deadline = time.monotonic() + 30
    while api.get(f"/v1/batches/{batch['id']}").json()["reading"]:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    results = api.get(f"/v1/batches/{batch['id']}/results").text.splitlines()
    job_ids = [json.loads(line)["job_id"] for line in results]
    assert len(job_ids) == 3
    assert api.delete(f"/v1/batches/{batch['id']}").status_code == 204
    assert api.get(f"/v1/batches/{batch['id']}").status_code == 404
    assert all(api.get(f"/v1/jobs/{job_id}").status_code == 404 for job_id in job_ids)
    assert api.delete(f"/v1/batches/{batch['id']}").status_code == 404
