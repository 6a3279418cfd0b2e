"""The ceiling: the detector alone in ONNX Runtime, batch 1 to 64, on the same cores.

Each layout runs in fresh processes started together (sessions x intra-op threads), on
random uint8 images already in memory: no decoding, no transport, no queueing.
"""

import multiprocessing
import os
import time
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import numpy as np

BATCH_SIZES = (1, 2, 4, 8, 16, 32, 64)


def _session_rate(
    model_path: str, threads: int, batch: int, duration_s: float, barrier: Barrier
) -> float:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    images = np.random.default_rng(0).integers(0, 256, (batch, 256, 256, 3), dtype=np.uint8)
    session.run(None, {name: images})  # warm-up
    barrier.wait()
    count, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < duration_s:
        session.run(None, {name: images})
        count += batch
    return count / elapsed


def _child(args: tuple[str, int, int, float, Barrier, Any]) -> None:
    model_path, threads, batch, duration_s, barrier, results = args
    results.put(_session_rate(model_path, threads, batch, duration_s, barrier))


def layout_rate(
    model_path: Path, sessions: int, threads: int, batch: int, duration_s: float
) -> float:
    """Images/s of `sessions` processes with one session each, running side by side."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(sessions)
    results = context.Queue()
    args = (str(model_path), threads, batch, duration_s, barrier, results)
    processes = [context.Process(target=_child, args=(args,)) for _ in range(sessions)]
    for process in processes:
        process.start()
    rates = [float(results.get(timeout=duration_s + 120)) for _ in processes]
    for process in processes:
        process.join()
    return round(sum(rates), 1)


def batch_curve(model_path: Path, duration_s: float) -> dict[str, Any]:
    """Images/s per batch size for each layout of the machine's cores, and the best."""
    cores = os.cpu_count() or 1
    layouts = {
        f"{cores} sessions x 1 thread": (cores, 1),
        f"1 session x {cores} threads": (1, cores),
    }
    curves: dict[str, dict[str, float]] = {}
    for label, (sessions, threads) in layouts.items():
        curves[label] = {
            str(batch): layout_rate(model_path, sessions, threads, batch, duration_s)
            for batch in BATCH_SIZES
        }
    best_label, best_batch, best = max(
        (
            (label, batch, value)
            for label, curve in curves.items()
            for batch, value in curve.items()
        ),
        key=lambda item: item[2],
    )
    return {
        "cores": cores,
        "curves": curves,
        "best_images_per_s": best,
        "best_layout": best_label,
        "best_batch": int(best_batch),
    }
