"""The CPU a job costs wherever it runs: decoding its image and running the model.

Measured in this process, one core, on the set's own images: what is left of the service's
CPU per image after these two is orchestration (HTTP, queues, databases, copies).
"""

import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.images import ImageSet
from worker.imaging import decode_upright, resize_whole
from worker.settings import ImageSettings

SIDE = 256  # MesoNet's input
MICRO_BATCH = 16


def _cpu_ms_per_item(work: Any, items: int, repeat: int) -> float:
    work()  # warm-up
    started = time.process_time()
    for _ in range(repeat):
        work()
    return round((time.process_time() - started) * 1000 / (items * repeat), 3)


def fixed_costs(model_path: Path, images: ImageSet) -> dict[str, Any]:
    """CPU ms per image: the worker's decode (whole-image mode), and the model alone in
    ONNX Runtime (one thread) at batch 1 and at a micro-batch's size."""
    import onnxruntime as ort

    settings = ImageSettings()
    contents = [images.content(index) for index in range(len(images.names))]

    def decode_all() -> None:
        for content in contents:
            resize_whole(decode_upright(content, settings, at_least=SIDE), (SIDE, SIDE))

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    rng = np.random.default_rng(0)
    costs: dict[str, Any] = {"decode_ms": _cpu_ms_per_item(decode_all, len(contents), 3)}
    for batch in (1, MICRO_BATCH):
        tensor = rng.integers(0, 256, (batch, SIDE, SIDE, 3), dtype=np.uint8)
        costs[f"model_ms_b{batch}"] = _cpu_ms_per_item(
            lambda tensor=tensor: session.run(None, {name: tensor}), batch, max(2, 32 // batch)
        )
    return costs
