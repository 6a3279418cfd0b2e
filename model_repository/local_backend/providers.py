"""Which ONNX Runtime execution provider the local Python backend runs on.

Decided once, when the local repository is written (model_repository.local), and recorded in
each model's config as the parameter `execution_provider`: the backend reads it from there,
and the gateway reports it on `/readyz` from the config Triton serves. CUDA when ONNX Runtime's
CUDA build is installed (the `gpu` extra) and a session on it really starts; otherwise the CPU.
`DEVSTACK_EXECUTION_PROVIDER` overrides the choice: `cpu` forces the CPU, `cuda` fails
instead of falling back, `auto` (the default) decides as above.

`python -m model_repository.local_backend.providers` prints the choice.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Callable, Sequence

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
PROVIDER_ENV = "DEVSTACK_EXECUTION_PROVIDER"
CHOICES = ("auto", "cpu", "cuda")
# The config parameter the choice travels in (backend and gateway read it).
PARAMETER = "execution_provider"
PROBE_TIMEOUT_S = 120.0

log = logging.getLogger(__name__)


class ProviderError(RuntimeError):
    """The requested provider cannot be used."""


def choose_provider(
    available: Sequence[str], *, requested: str = "auto", cuda_works: Callable[[], bool]
) -> str:
    """The provider to run on, given ONNX Runtime's `available` providers and the request.

    `cuda_works` is asked only when CUDA is listed: the CUDA build lists it on any machine,
    GPU or not, so only a session that starts on it shows a usable device.
    """
    requested = requested.strip().lower() or "auto"
    if requested not in CHOICES:
        raise ProviderError(f"{PROVIDER_ENV}={requested!r}: expected one of {', '.join(CHOICES)}")
    if requested == "cpu":
        return CPU
    if CUDA in available and cuda_works():
        return CUDA
    if requested == "cuda":
        why = "no usable GPU" if CUDA in available else "ONNX Runtime has no CUDA provider"
        raise ProviderError(
            f"{PROVIDER_ENV}=cuda but {why} (available: {', '.join(available)}); install "
            "the gpu extra (make up GPU=1) on a machine with an NVIDIA driver"
        )
    return CPU


def session_providers(provider: str) -> list[str]:
    """The providers list for an InferenceSession on `provider` (the CPU serves what the GPU
    cannot, as ONNX Runtime places nodes)."""
    if provider == CPU:
        return [CPU]
    if provider == CUDA:
        return [CUDA, CPU]
    raise ProviderError(f"unknown execution provider {provider!r}")


def describe(provider: str) -> str:
    """One start-up line: where the sessions run, and how to change it."""
    if provider == CUDA:
        return f"ONNX Runtime on {CUDA} (GPU 0; {PROVIDER_ENV}=cpu forces the CPU)"
    return f"ONNX Runtime on {CPU} (`make up GPU=1` on an NVIDIA machine runs it on CUDA)"


def _probe_cuda() -> bool:
    """Whether a session on the CUDA provider starts, in a child process: the probe's CUDA
    context must not stay in the process that goes on to start the servers."""
    try:
        completed = subprocess.run(
            [sys.executable, "-m", "model_repository.local_backend.providers", "--probe"],
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        log.warning("the CUDA probe did not finish in %.0fs: using the CPU", PROBE_TIMEOUT_S)
        return False
    if completed.returncode != 0:
        detail = (completed.stderr.strip().splitlines() or ["no output"])[-1]
        log.warning("ONNX Runtime lists CUDA, but a session on it did not start: %s", detail)
    return completed.returncode == 0


def _session_starts_on_cuda() -> None:
    """Exit 0 when a one-node graph runs with CUDA as the session's first provider."""
    import numpy as np
    import onnxruntime as ort
    from onnx import TensorProto, helper

    # pip's nvidia-* wheels (the gpu extra) hold the CUDA and cuDNN libraries.
    getattr(ort, "preload_dlls", lambda: None)()
    tensor = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    output = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "probe", [tensor], [output])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    session = ort.InferenceSession(model.SerializeToString(), providers=session_providers(CUDA))
    if session.get_providers()[0] != CUDA:
        raise SystemExit(f"the session fell back to {session.get_providers()}")
    session.run(None, {"x": np.ones(1, dtype=np.float32)})


def provider_from_environment() -> str:
    """The choice here: ONNX Runtime's providers and `DEVSTACK_EXECUTION_PROVIDER`."""
    import onnxruntime as ort

    return choose_provider(
        ort.get_available_providers(),
        requested=os.environ.get(PROVIDER_ENV, "auto"),
        cuda_works=_probe_cuda,
    )


def main(argv: list[str]) -> int:
    if argv == ["--probe"]:
        _session_starts_on_cuda()
        return 0
    print(provider_from_environment())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
