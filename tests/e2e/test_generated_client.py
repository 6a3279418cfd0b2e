"""A client generated from the running gateway's `/openapi.json` by openapi-python-client,
installed into an environment of its own, submits a URL job and an upload, polls both to a
verdict and registers a webhook: what a platform integrating in its own language does."""

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.e2e.clients import ADMIN_KEY
from tests.e2e.jobs import ImageServer
from tests.e2e.receiver import Receiver

pytestmark = pytest.mark.e2e

PACKAGE = "deepfake_detection_service_client"
CONFIG = Path(__file__).parents[2] / "openapi" / "python-client.yaml"

# Runs in the generated client's environment: only the generated package and its own
# dependencies (httpx, attrs, python-dateutil) are imported.
SCRIPT = """
import json, sys, time
from deepfake_detection_service_client import AuthenticatedClient
from deepfake_detection_service_client.api.jobs import create_job, get_job
from deepfake_detection_service_client.api.webhooks import create_webhook
from deepfake_detection_service_client.models import (
    DetectionMode, EventType, JobCreate, JobStatus, JobUpload, WebhookCreate,
)
from deepfake_detection_service_client.types import File

base_url, key, image_url, image_path, hook_url = sys.argv[1:6]
client = AuthenticatedClient(base_url=base_url, token=key, raise_on_unexpected_status=True)
by_url = create_job.sync(
    client=client, body=JobCreate(image_url=image_url, mode=DetectionMode.WHOLE_IMAGE)
)
with open(image_path, "rb") as image:
    upload = JobUpload(
        file=File(payload=image, file_name="crop.jpg", mime_type="image/jpeg"),
        mode=DetectionMode.WHOLE_IMAGE,
    )
    uploaded = create_job.sync(client=client, body=upload)
jobs = {}
for job in (by_url, uploaded):
    deadline = time.monotonic() + 60
    while job.status not in (JobStatus.SUCCEEDED, JobStatus.FAILED):
        assert time.monotonic() < deadline, job
        time.sleep(0.2)
        job = get_job.sync(client=client, job_id=job.id)
    jobs[job.id] = {"status": str(job.status), "verdict": str(job.result.verdict)}
hook = create_webhook.sync(
    client=client, body=WebhookCreate(url=hook_url, event_types=[EventType.JOB_SUCCEEDED])
)
print(json.dumps({"jobs": jobs, "webhook": hook.id, "secret": hook.secret}))
"""


@pytest.fixture(scope="module")
def client_environment(gateway: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generated client installed into a directory of its own; its path."""
    root = tmp_path_factory.mktemp("generated-client")
    spec = root / "openapi.json"
    spec.write_text(httpx.get(f"{gateway}/openapi.json", timeout=30).text)
    tools = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run(
        [
            "openapi-python-client",
            "generate",
            "--meta",
            "setup",
            "--path",
            str(spec),
            "--config",
            str(CONFIG),
        ],
        cwd=root,
        env=tools,
        check=True,
        capture_output=True,
    )
    (project,) = [path for path in root.iterdir() if path.is_dir()]
    site = root / "site"
    install = ["install", "-q", "--no-deps", "--no-build-isolation", "--target", str(site)]
    subprocess.run(
        [sys.executable, "-m", "pip", *install, str(project)],
        env=tools,
        check=True,
        capture_output=True,
    )
    assert (site / PACKAGE / "api" / "jobs" / "create_job.py").is_file()
    return site


def test_a_generated_client_submits_polls_and_registers_a_webhook(
    client_environment: Path,
    gateway: str,
    worker: object,
    image_server: ImageServer,
    receiver: Receiver,
    samples_dir: Path,
    api: httpx.Client,
) -> None:
    arguments = [
        gateway,
        ADMIN_KEY,
        image_server.url("df/df00204.jpg"),
        str(samples_dir / "real" / "real00240.jpg"),
        receiver.url(receiver.new_path()),
    ]
    completed = subprocess.run(
        [sys.executable, "-c", SCRIPT, *arguments],
        env={**os.environ, "PYTHONPATH": str(client_environment)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    outcome = json.loads(completed.stdout)
    api.delete(f"/v1/webhooks/{outcome['webhook']}")  # other tests' jobs would notify it

    assert sorted(job["verdict"] for job in outcome["jobs"].values()) == ["fake", "real"]
    assert {job["status"] for job in outcome["jobs"].values()} == {"succeeded"}
    assert outcome["secret"].startswith("whsec_")
