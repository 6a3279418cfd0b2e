"""`schemathesis run` with every check against the running stack with authentication on:
the description and the behaviour agree (coverage, fuzzing and stateful phases).

Checks that cannot apply are turned off by name in schemathesis.toml beside this file, each
for a reason the description cannot express:
- `positive_data_acceptance`: a schema-valid request may still be refused for what no
  schema can state: an `image_url` that resolves to a private address or names no image
  (422 `invalid_url`/`url_forbidden`), a model that the server does not serve
  (`unknown_model`), a `callback_url` on a port that is not allowed.
- `use_after_free`: deleting a job or batch ends it, but a webhook delivery about it (its
  own resource) stays readable until retention, by design.
- `ensure_resource_availability`, for reading an explanation only: it exists once asked
  for, not once its job is created.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.e2e.clients import ADMIN_KEY

pytestmark = pytest.mark.e2e

MAX_EXAMPLES = 15


def _webhook_ids(api: httpx.Client) -> set[str]:
    return {webhook["id"] for webhook in api.get("/v1/webhooks").json()}


def test_schemathesis_finds_nothing(
    gateway: str, worker: object, api: httpx.Client, tmp_path: Path
) -> None:
    before = _webhook_ids(api)
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        "--config-file",
        str(Path(__file__).with_name("schemathesis.toml")),
        "run",
        f"{gateway}/openapi.json",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--header",
        f"Authorization: Bearer {ADMIN_KEY}",
        "--seed",
        "20261206",
        "--request-timeout",
        "30",
        "--report-dir",
        str(tmp_path),
    ]
    try:
        run = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
            cwd=tmp_path,  # its own cache directory stays out of the repository
            env={**os.environ, "NO_COLOR": "1"},
        )
    finally:
        # Endpoints it registered would be notified of other tests' jobs.
        for webhook_id in _webhook_ids(api) - before:
            api.delete(f"/v1/webhooks/{webhook_id}")
    assert run.returncode == 0, run.stdout[-20000:]


def test_the_running_gateway_serves_the_exported_description(gateway: str) -> None:
    exported = Path(__file__).parents[2] / "openapi" / "openapi.json"
    served = httpx.get(f"{gateway}/openapi.json", timeout=30).json()
    assert served == json.loads(exported.read_text()), "run `make openapi` and commit it"
