"""The usual design, as a baseline: one synchronous model call inside each HTTP request.

A FastAPI endpoint (a plain `def`, so FastAPI runs it in its thread pool) decodes the
upload with Pillow, resizes it and runs ONNX Runtime in-process with its default threads,
answering with the score. One uvicorn process, like the gateway.
"""

import io
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, UploadFile
from PIL import Image

from bench.images import ImageSet
from bench.load import http_client, send_all
from bench.processes import cpu_account
from bench.stats import percentiles_ms, rate
from devstack.process import ServiceProcess, free_port, http_ready

MODEL_ENV = "BENCH_NAIVE_MODEL"


def create_app() -> FastAPI:
    import onnxruntime as ort

    session = ort.InferenceSession(os.environ[MODEL_ENV], providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    app = FastAPI()

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/predict")
    def predict(file: UploadFile) -> dict[str, float]:
        image = Image.open(io.BytesIO(file.file.read())).convert("RGB")
        pixels = np.asarray(image.resize((256, 256), Image.Resampling.NEAREST), dtype=np.uint8)
        (scores,) = session.run(None, {input_name: pixels[None]})
        return {"fake_probability": float(scores[0, 0])}

    return app


@contextmanager
def naive_server(model_path: Path, log_dir: Path) -> Iterator[tuple[str, int]]:
    """The baseline under uvicorn; yields its URL and process ID."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "--factory", "bench.naive:create_app"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    process = ServiceProcess(
        "naive",
        command,
        log_path=log_dir / "naive.log",
        ready=http_ready(port, "/healthz"),
        env={MODEL_ENV: str(model_path)},
        cwd=Path(__file__).resolve().parent.parent,
    )
    with process:
        assert process.pid is not None
        yield f"http://127.0.0.1:{port}", process.pid


async def drive(
    base_url: str, images: ImageSet, count: int, concurrency: int, pids: dict[str, int]
) -> dict[str, Any]:
    """`count` requests with at most `concurrency` in flight: throughput and response times."""
    cpu: dict[str, Any] = {}
    async with http_client(base_url, connections=concurrency, headers={}) as client:

        async def predict(index: int) -> Any:
            files = {"file": (f"{index}.jpg", images.content(index), "image/jpeg")}
            return await client.post("/predict", files=files)

        await send_all(predict, min(count, 32), concurrency=concurrency)  # warm-up
        with cpu_account(pids, cpu, count):
            sent = await send_all(predict, count, concurrency=concurrency)
    ok = [s for s in sent if s.status == 200]
    elapsed = max(s.started_at + s.latency_s for s in sent) - min(s.started_at for s in sent)
    return {
        "requests": count,
        "concurrency": concurrency,
        "errors": count - len(ok),
        "images_per_s": rate(len(ok), elapsed),
        "makespan_s": round(elapsed, 3),
        "response_ms": percentiles_ms([s.latency_s for s in ok]),
        **cpu,
    }
