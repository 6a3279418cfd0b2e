"""A probe request for any served model: one all-zero item per input, from its metadata.

A model can be reported ready and still fail every request (a Python-backend stub that
died, a broken execution provider): only a request shows it. Gateway and worker build the
same probe from Triton's metadata, so neither needs to know the model's tensors.
"""

from typing import Any

import numpy as np
import numpy.typing as npt
from tritonclient.grpc import InferInput
from tritonclient.utils import triton_to_np_dtype

ProbeInput = tuple[str, str, npt.NDArray[Any]]


def probe_inputs(metadata: dict[str, Any]) -> list[ProbeInput]:
    """(name, datatype, zeros) per input; a variable dimension (the batch) becomes 1.

    ValueError for metadata without inputs or with a type numpy cannot hold.
    """
    inputs = metadata.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise ValueError("model metadata has no inputs")
    probe = []
    for tensor in inputs:
        datatype = str(tensor["datatype"])
        dtype = triton_to_np_dtype(datatype)
        if dtype is None or datatype == "BYTES":
            raise ValueError(f"input {tensor['name']!r} has an unsupported type {datatype}")
        shape = [max(int(d), 1) for d in tensor["shape"]]
        probe.append((str(tensor["name"]), datatype, np.zeros(shape, dtype=dtype)))
    return probe


def probe_tensors(metadata: dict[str, Any]) -> list[InferInput]:
    """`probe_inputs` as the request's input tensors (the sync and asyncio gRPC clients
    take the same `InferInput`)."""
    tensors = []
    for name, datatype, zeros in probe_inputs(metadata):
        tensor = InferInput(name, list(zeros.shape), datatype)
        tensor.set_data_from_numpy(zeros)
        tensors.append(tensor)
    return tensors
