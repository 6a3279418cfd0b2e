"""Liveness (the process answers) and readiness (every dependency answers)."""

import asyncio
from collections.abc import Awaitable, Callable

import anyio.to_thread
import tritonclient.grpc.aio as triton_aio
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from gateway.api.deps import Clients, ClientsDep
from gateway.schemas import ReadinessOut
from storage.model_probe import probe_tensors

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


class ModelFailing(RuntimeError):
    """Reported ready, yet a probe request fails (e.g. a Python-backend stub died)."""


async def _probe(client: triton_aio.InferenceServerClient, name: str, version: str) -> None:
    metadata = await client.get_model_metadata(name, version, as_json=True)
    try:
        await client.infer(name, probe_tensors(metadata), model_version=version)
    except triton_aio.InferenceServerException as error:
        raise ModelFailing(f"model {name!r}: {error.message()}") from error


async def _check_triton(clients: Clients) -> None:
    triton = clients.settings.triton
    for name, version in (
        (triton.model_name, triton.model_version),
        (triton.face_model_name, triton.face_model_version),
    ):
        if not await clients.triton.is_model_ready(name, version):
            raise RuntimeError(f"model {name!r} is not ready")
        # Readiness alone misses a model that fails every request: one request shows it.
        await _probe(clients.triton, name, version)


def _checks(clients: Clients) -> dict[str, Callable[[], Awaitable[object]]]:
    return {
        "mongodb": clients.jobs.ping,
        "redis": clients.redis.ping,
        "object_store": lambda: anyio.to_thread.run_sync(clients.objects.ping),
        "triton": lambda: _check_triton(clients),
    }


async def _run_check(check: Callable[[], Awaitable[object]], timeout_s: float) -> str:
    try:
        await asyncio.wait_for(check(), timeout_s)
    except TimeoutError:
        return "timeout"
    except Exception as error:
        return f"error: {type(error).__name__}"
    return "ok"


@router.get("/readyz", response_model=ReadinessOut, responses={503: {"model": ReadinessOut}})
async def readyz(clients: ClientsDep) -> JSONResponse:
    checks = _checks(clients)
    timeout = clients.settings.readiness_timeout_s
    outcomes = await asyncio.gather(*(_run_check(c, timeout) for c in checks.values()))
    results = dict(zip(checks, outcomes, strict=True))
    ready = all(outcome == "ok" for outcome in outcomes)
    body = ReadinessOut(status="ready" if ready else "not_ready", checks=results)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)
