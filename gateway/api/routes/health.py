"""Liveness (the process answers) and readiness (the dependencies a request needs answer).

Served on the API port and on the internal port (gateway.internal); readiness is cached
(gateway.readiness), so neither port lets a caller make the gateway work per request.
"""

from collections.abc import Mapping
from typing import Any

import anyio.to_thread
import tritonclient.grpc.aio as triton_aio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from gateway.api.deps import Clients
from gateway.readiness import Check, Readiness
from gateway.schemas import ReadinessOut
from storage.model_probe import probe_tensors

router = APIRouter(tags=["health"])

# Jobs queue while Triton is away: reported, never a reason to leave rotation.
OPTIONAL_CHECKS = frozenset({"triton"})


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


def execution_provider(config: Mapping[str, Any]) -> str:
    """Where a model runs, from its config as Triton reports it (JSON, proto field names).

    The local Python backend names its ONNX Runtime provider in the parameter
    `execution_provider`; Triton's onnxruntime backend runs CUDA on GPU instances (TensorRT
    with that accelerator) and the CPU (OpenVINO with that one) on CPU instances.
    """
    parameters = config.get("parameters", {})
    named = parameters.get("execution_provider", {}).get("string_value")
    if named:
        return str(named)
    backend = str(config.get("backend") or config.get("platform") or "unknown")
    if backend not in {"onnxruntime", "onnxruntime_onnx"}:
        return backend
    accelerators = config.get("optimization", {}).get("execution_accelerators", {})
    if any(group.get("kind") == "KIND_GPU" for group in config.get("instance_group", [])):
        gpu = {item.get("name") for item in accelerators.get("gpu_execution_accelerator", [])}
        return "TensorrtExecutionProvider" if "tensorrt" in gpu else "CUDAExecutionProvider"
    cpu = {item.get("name") for item in accelerators.get("cpu_execution_accelerator", [])}
    return "OpenVINOExecutionProvider" if "openvino" in cpu else "CPUExecutionProvider"


async def _check_triton(clients: Clients) -> dict[str, str]:
    """Each model ready and answering a probe; returns where each runs (for `/readyz`)."""
    triton = clients.settings.triton
    providers: dict[str, str] = {}
    for name, version in (
        (triton.model_name, triton.model_version),
        (triton.face_model_name, triton.face_model_version),
    ):
        if not await clients.triton.is_model_ready(name, version):
            raise RuntimeError(f"model {name!r} is not ready")
        # Readiness alone misses a model that fails every request: one request shows it.
        await _probe(clients.triton, name, version)
        config = await clients.triton.get_model_config(name, version, as_json=True)
        providers[name] = execution_provider(config.get("config", {}))
    return providers


def readiness(clients: Clients) -> Readiness:
    checks: dict[str, Check] = {
        "mongodb": clients.jobs.ping,
        "redis": clients.redis.ping,
        "object_store": lambda: anyio.to_thread.run_sync(clients.objects.ping),
        "triton": lambda: _check_triton(clients),
    }
    settings = clients.settings
    return Readiness(
        checks,
        timeout_s=settings.readiness_timeout_s,
        cache_s=settings.readiness_cache_s,
        optional=OPTIONAL_CHECKS,
    )


@router.get("/readyz", response_model=ReadinessOut, responses={503: {"model": ReadinessOut}})
async def readyz(request: Request) -> JSONResponse:
    """200 while MongoDB, Redis and the object store answer (`status` says `degraded` when
    only Triton fails); 503 otherwise. `execution_providers` says where each model runs.
    Checked at most every `GATEWAY_READINESS_CACHE_S`."""
    checker: Readiness = request.app.state.readiness
    report = await checker.report()
    body = ReadinessOut(
        status=report.status,
        checks=report.checks,
        execution_providers=report.details.get("triton", {}),
    )
    return JSONResponse(body.model_dump(), status_code=200 if report.ready else 503)
