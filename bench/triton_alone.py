"""Triton alone: the detector served as in the stack, driven over gRPC at fixed concurrency.

Two servers from the same model files with the same instance count: dynamic batching as
configured, and dynamic batching removed. Each request is one image
(what a worker sends for a one-face image), so only Triton can make batches.
"""

import asyncio
import shutil
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import tritonclient.grpc.aio as grpcclient

from bench.stats import percentiles_ms, rate, ratio
from devstack.servers import TritonServer
from model_repository.local import INPUT_NAME, MODEL_NAME, OUTPUT_NAME, read_config, write_config

CONCURRENCIES = (1, 16, 64)


def single_model_repository(source: Path, dest: Path, *, dynamic_batching: bool) -> Path:
    """`dest` serving only the detector from `source`, with or without dynamic batching."""
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(source / MODEL_NAME, dest / MODEL_NAME, symlinks=True)
    config = read_config(source / MODEL_NAME / "config.pbtxt")
    if not dynamic_batching:
        config.ClearField("dynamic_batching")
    write_config(dest / MODEL_NAME, config)
    return dest


async def _drive(url: str, concurrency: int, duration_s: float) -> tuple[list[float], float]:
    """Latencies of the requests `concurrency` loops complete in `duration_s`, and the time."""
    client = grpcclient.InferenceServerClient(url=url)
    image = np.random.default_rng(0).integers(0, 256, (1, 256, 256, 3), dtype=np.uint8)
    tensor = grpcclient.InferInput(INPUT_NAME, list(image.shape), "UINT8")
    tensor.set_data_from_numpy(image)
    outputs = [grpcclient.InferRequestedOutput(OUTPUT_NAME)]
    latencies: list[float] = []

    async def loop(deadline: float, record: bool) -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            await client.infer(MODEL_NAME, [tensor], outputs=outputs)
            if record:
                latencies.append(time.perf_counter() - started)

    try:
        warm = time.perf_counter() + min(1.0, duration_s / 4)
        await asyncio.gather(*(loop(warm, False) for _ in range(concurrency)))
        started = time.perf_counter()
        deadline = started + duration_s
        await asyncio.gather(*(loop(deadline, True) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    finally:
        await client.close()
    return latencies, elapsed


def _counters(server: TritonServer) -> tuple[float, float]:
    """(inferences, executions) of the detector so far, from Triton's metrics."""
    text = ""
    for _ in range(10):  # the metrics endpoint may answer a moment after the model is ready
        try:
            with urllib.request.urlopen(server.metrics_url, timeout=5) as response:  # noqa: S310
                text = response.read().decode()
            break
        except OSError:
            time.sleep(0.5)
    counts = {"nv_inference_count": 0.0, "nv_inference_exec_count": 0.0}
    for line in text.splitlines():
        name = line.split("{", 1)[0]
        if name in counts and f'model="{MODEL_NAME}"' in line:
            counts[name] += float(line.rsplit(" ", 1)[1])
    return counts["nv_inference_count"], counts["nv_inference_exec_count"]


ROUNDS = 3


def measure(source_repository: Path, work_dir: Path, duration_s: float) -> dict[str, Any]:
    """Both servers run side by side (one idles while the other is driven), and the runs
    alternate between them, so that a machine getting busier favours neither."""
    labels = {"dynamic_batching": True, "no_batching": False}
    with ExitStack() as running:
        servers = {
            label: running.enter_context(
                TritonServer(
                    single_model_repository(
                        source_repository, work_dir / f"repository-{label}", dynamic_batching=on
                    ),
                    work_dir / f"triton-{label}",
                    model_name=MODEL_NAME,
                )
            )
            for label, on in labels.items()
        }
        results: dict[str, Any] = {label: {} for label in labels}
        for concurrency in CONCURRENCIES:
            latencies: dict[str, list[float]] = {label: [] for label in labels}
            elapsed = dict.fromkeys(labels, 0.0)
            before = {label: _counters(server) for label, server in servers.items()}
            for _ in range(ROUNDS):
                for label, server in servers.items():
                    run = asyncio.run(_drive(server.grpc_url, concurrency, duration_s / ROUNDS))
                    latencies[label] += run[0]
                    elapsed[label] += run[1]
            for label, server in servers.items():
                inferences, executions = (
                    now - then for now, then in zip(_counters(server), before[label], strict=True)
                )
                results[label][str(concurrency)] = {
                    "images_per_s": rate(len(latencies[label]), elapsed[label]),
                    "latency_ms": percentiles_ms(latencies[label]),
                    # Includes the warm-ups: the batch sizes Triton formed at this concurrency.
                    "mean_batch_size": round(inferences / executions, 2) if executions else None,
                }
    on, off = results["dynamic_batching"], results["no_batching"]
    results["gain"] = {
        str(c): ratio(on[str(c)]["images_per_s"], off[str(c)]["images_per_s"])
        for c in CONCURRENCIES
    }
    return results
