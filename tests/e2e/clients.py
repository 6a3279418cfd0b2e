"""HTTP clients for the gateway under test, carrying whatever credentials it requires."""

import os
import subprocess
import sys
import uuid
from collections.abc import Callable

import httpx

# The test stack records this admin key of the default tenant at startup
# (`GATEWAY_AUTH__BOOTSTRAP_ADMIN_KEY`); every test client sends it.
ADMIN_KEY = "dfk_0e2e0e2e_" + "t" * 43


def auth_headers(key: str = ADMIN_KEY) -> dict[str, str]:
    """Headers every request to the test gateway carries."""
    return {"Authorization": f"Bearer {key}"}


def api_client(base_url: str, *, timeout: float = 30, key: str = ADMIN_KEY) -> httpx.Client:
    return httpx.Client(base_url=base_url, timeout=timeout, headers=auth_headers(key))


CreateKey = Callable[..., str]


def keys_command(env: dict[str, str], *args: str) -> str:
    """`python -m gateway.keys ...` against the test stack's MongoDB; its output."""
    completed = subprocess.run(
        [sys.executable, "-m", "gateway.keys", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return completed.stdout


def key_creator(env: dict[str, str]) -> CreateKey:
    """Creates a key for a fresh tenant (or the one given) and returns it."""

    def create(*scopes: str, tenant: str | None = None, **limits: str) -> str:
        args = ["create", "--tenant", tenant or f"tenant-{uuid.uuid4().hex[:8]}"]
        for scope in scopes:
            args += ["--scope", scope]
        for name, value in limits.items():
            args += [f"--{name}", value]
        output = keys_command(env, *args)
        return next(line.split()[1] for line in output.splitlines() if line.startswith("key:"))

    return create
