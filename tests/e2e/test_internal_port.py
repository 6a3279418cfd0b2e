"""The internal port serves probes and metrics; readiness is cached and shared; the API
port keeps `/healthz` and the cached `/readyz` but not `/metrics`."""

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from devstack.servers import TritonServer

pytestmark = pytest.mark.e2e

READY_CHECKS = {"mongodb": "ok", "redis": "ok", "object_store": "ok", "triton": "ok"}


def test_the_internal_port_serves_probes_and_metrics(gateway_internal: str) -> None:
    assert httpx.get(f"{gateway_internal}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{gateway_internal}/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["status"] == "ready"
    assert ready.json()["checks"] == READY_CHECKS
    # Where each served model runs: the local stand-in runs ONNX Runtime on the CPU.
    providers = ready.json()["execution_providers"]
    assert providers
    assert set(providers.values()) == {"CPUExecutionProvider"}
    # `/metrics` there: test_metrics_endpoint.py (a scrape here would cache job counts).
    # Nothing of the API lives there.
    assert httpx.get(f"{gateway_internal}/v1/models").status_code == 404


def test_the_api_port_has_no_metrics_but_keeps_health(gateway: str) -> None:
    assert httpx.get(f"{gateway}/metrics").status_code == 404
    assert httpx.get(f"{gateway}/healthz").status_code == 200
    assert httpx.get(f"{gateway}/readyz").status_code == 200


def test_a_probe_flood_costs_one_check(
    gateway: str, gateway_internal: str, triton_server: TritonServer
) -> None:
    # Each round probes Triton with one inference per model: count Triton's inferences.
    triton_metrics = triton_server.metrics_url

    def inferences() -> float:
        text = httpx.get(triton_metrics, timeout=5).text
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("nv_inference_request_success{")
        )

    before = inferences()
    urls = [f"{(gateway, gateway_internal)[n % 2]}/readyz" for n in range(64)]
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(httpx.get, urls))
    assert {answer.status_code for answer in answers} == {200}
    # Two models per round; a round lasts GATEWAY_READINESS_CACHE_S, the flood far less
    # than a few rounds (a slow machine may straddle one or two).
    assert inferences() - before <= 2 * 3
