"""`python -m bench.gpu`: what one GPU does for this service, and how many CPU cores feed it.

Needs only PyTorch, torchvision, onnx and onnxruntime (CPU), and no network: the detector
is the exported ONNX graph (`--model`), run in PyTorch (bench.onnx_torch) and checked
against ONNX Runtime; the JPEGs are made here. Measures, in a few minutes:

- the detector on the GPU at batch 1 to 256, FP32 and FP16 (images/s, ms per batch);
- JPEG decode on the GPU (torchvision's nvJPEG, batched) against Pillow on every core;
- from those and the CPU benchmark's orchestration cost per image (`--orchestration-ms`,
  or read from `--cpu-results`, what `make bench` wrote), the CPU cores one GPU needs.
"""

import argparse
import io
import json
import multiprocessing
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from bench.onnx_torch import OnnxModule

BATCHES = (1, 2, 4, 8, 16, 32, 64, 128, 256)
SIZES = {"crop 256x256": (256, 256), "photo 1280x720": (1280, 720)}


def _timed(step: Any, seconds: float, device: torch.device) -> tuple[int, float]:
    step()  # warm-up (cuDNN's algorithm search, allocations)
    _sync(device)
    runs, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        step()
        runs += 1
    _sync(device)
    return runs, time.perf_counter() - started


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def detector_curve(model_path: Path, device: torch.device, seconds: float) -> dict[str, Any]:
    import onnxruntime as ort

    module = OnnxModule(str(model_path)).eval().to(device)
    rng = np.random.default_rng(0)
    sample = rng.integers(0, 256, (8, 256, 256, 3), dtype=np.uint8)
    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    expected = session.run(None, {session.get_inputs()[0].name: sample})[0]
    results: dict[str, Any] = {}
    for precision, dtype in (("fp32", torch.float32), ("fp16", torch.float16)):
        if dtype is torch.float16 and device.type != "cuda":
            continue
        typed = module.to(dtype)
        with torch.inference_mode():
            got = typed(torch.from_numpy(sample).to(device)).float().cpu().numpy()
            curve: dict[str, Any] = {}
            for batch in BATCHES:
                images = torch.from_numpy(
                    rng.integers(0, 256, (batch, 256, 256, 3), dtype=np.uint8)
                ).to(device)
                runs, elapsed = _timed(
                    lambda images=images, model=typed: model(images), seconds, device
                )
                curve[str(batch)] = {
                    "images_per_s": round(runs * batch / elapsed, 1),
                    "ms_per_batch": round(elapsed * 1000 / runs, 3),
                }
        results[precision] = {
            "max_abs_diff_vs_onnxruntime": float(np.abs(got - expected).max()),
            "curve": curve,
        }
    return results


def _jpegs(size: tuple[int, int], count: int) -> list[bytes]:
    """Photo-like JPEGs (gradient and grain), q90."""
    rng = np.random.default_rng(1)
    width, height = size
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    encoded = []
    for _ in range(count):
        tilt = rng.uniform(-0.1, 0.1, size=(2, 3)).astype(np.float32)
        pixels = 120 + xs[..., None] * tilt[0] + ys[..., None] * tilt[1]
        pixels += rng.normal(0, 12, size=(height, width, 3)).astype(np.float32)
        buffer = io.BytesIO()
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=90)
        encoded.append(buffer.getvalue())
    return encoded


def _pillow_decode(contents: list[bytes]) -> int:
    for content in contents:
        with Image.open(io.BytesIO(content)) as image:
            image.convert("RGB").load()
    return len(contents)


def decode_rates(device: torch.device, seconds: float) -> dict[str, Any]:
    cores = os.cpu_count() or 1
    results: dict[str, Any] = {"cpu_cores": cores}
    for label, size in SIZES.items():
        contents = _jpegs(size, 64)
        row: dict[str, Any] = {}
        with multiprocessing.get_context("spawn").Pool(cores) as pool:
            pool.map(_pillow_decode, [contents[:1]] * cores)  # started and warm
            started = time.perf_counter()
            decoded = sum(pool.map(_pillow_decode, [contents] * (cores * 4)))
            elapsed = time.perf_counter() - started
        row["pillow_all_cores_images_per_s"] = round(decoded / elapsed, 1)
        if device.type == "cuda":
            from torchvision.io import decode_jpeg

            tensors = [torch.frombuffer(bytearray(c), dtype=torch.uint8) for c in contents]
            runs, elapsed = _timed(
                lambda tensors=tensors: decode_jpeg(tensors, device=device), seconds, device
            )
            row["nvjpeg_batched_images_per_s"] = round(runs * len(tensors) / elapsed, 1)
        results[label] = row
    return results


def cores_per_gpu(
    curve: dict[str, Any], decode: dict[str, Any], orchestration_ms: float | None
) -> dict[str, Any]:
    """CPU cores one GPU keeps busy: its best detector rate times the CPU each image costs
    around the model (orchestration), with decoding on the CPU or on the GPU."""
    best = max(point["images_per_s"] for run in curve.values() for point in run["curve"].values())
    answer: dict[str, Any] = {"detector_best_images_per_s": best}
    if orchestration_ms is None:
        return answer
    cores = decode.get("cpu_cores", 1)
    for label in SIZES:
        row = decode.get(label, {})
        pillow = row.get("pillow_all_cores_images_per_s")
        decode_ms = cores * 1000 / pillow if pillow else 0.0
        answer[label] = {
            "cores_with_cpu_decode": round(best * (orchestration_ms + decode_ms) / 1000, 1),
            "cores_with_gpu_decode": round(best * orchestration_ms / 1000, 1),
            "gpu_decode_limit_images_per_s": row.get("nvjpeg_batched_images_per_s"),
        }
    return answer


def _orchestration_ms(args: argparse.Namespace) -> float | None:
    if args.orchestration_ms is not None:
        return float(args.orchestration_ms)
    if args.cpu_results and args.cpu_results.is_file():
        from bench.targets import orchestration

        results = json.loads(args.cpu_results.read_text())
        spent = orchestration(results.get("crops") or results)
        return None if spent is None else float(spent["all"])
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gpu", description=__doc__)
    parser.add_argument("--model", type=Path, required=True, help="the exported detector .onnx")
    parser.add_argument("--seconds", type=float, default=2.0, help="per measured point")
    parser.add_argument("--orchestration-ms", type=float, help="CPU ms per image around the model")
    parser.add_argument("--cpu-results", type=Path, default=Path("bench/results/latest.json"))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--output", type=Path, default=Path("bench/results/gpu.json"))
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "no GPU (CPU run)"
    results: dict[str, Any] = {"device": name, "torch": torch.__version__}
    results["detector"] = detector_curve(args.model, device, args.seconds)
    results["decode"] = decode_rates(device, args.seconds)
    results["cores_per_gpu"] = cores_per_gpu(
        results["detector"], results["decode"], _orchestration_ms(args)
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
