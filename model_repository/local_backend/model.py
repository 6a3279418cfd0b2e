"""Triton Python-backend model that runs the exported model.onnx with ONNX Runtime.

Used only by the local repository that model_repository/local.py builds, because the
tritonserver bundled with nvidia-pytriton has no onnxruntime backend. Production serves the
same model.onnx with Triton's onnxruntime backend on GPU. The config parameter
`execution_provider` (model_repository/local_backend/providers.py decides it) says where the
session runs: the CPU, or CUDA where ONNX Runtime's CUDA build and a GPU are there.

This file is copied alone into each model's version folder, so it imports nothing of ours.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"


def session_providers(provider: str) -> list[str]:
    """The InferenceSession providers for the config's `execution_provider` (CPU if none)."""
    if provider == CPU:
        return [CPU]
    if provider == CUDA:
        return [CUDA, CPU]
    raise ValueError(f"unknown execution_provider {provider!r}")


def _parameter(config: dict[str, Any], name: str) -> str:
    value: str = config.get("parameters", {}).get(name, {}).get("string_value", "")
    return value


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        config = json.loads(args["model_config"])
        self.input_name: str = config["input"][0]["name"]
        self.output_names: list[str] = [output["name"] for output in config["output"]]
        # On a CPU a batch runs slower per image than single images do (MesoInception4:
        # 0.8x at batch 16, see `make bench`): the activations of one image fit in cache,
        # a batch's do not. So the requests Triton groups run in slices of this many images;
        # a config parameter `images_per_run` changes it for a model that batches better.
        self.images_per_run = max(1, int(_parameter(config, "images_per_run") or 1))
        self.provider = _parameter(config, "execution_provider") or CPU
        options = ort.SessionOptions()
        # One thread per instance: Triton scales with instance_group count, and several
        # instances each grabbing every core would only fight over them.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        model_path = Path(__file__).resolve().parent / "model.onnx"
        if self.provider == CUDA:
            # pip's nvidia-* wheels (the gpu extra) hold the CUDA and cuDNN libraries.
            getattr(ort, "preload_dlls", lambda: None)()
        self.session = ort.InferenceSession(
            str(model_path), options, providers=session_providers(self.provider)
        )
        # ONNX Runtime falls back to the CPU when CUDA fails to start: refuse to load rather
        # than serve on another provider than the config (and so `/readyz`) says.
        if self.session.get_providers()[0] != self.provider:
            raise RuntimeError(
                f"{model_path}: the config asks for {self.provider}, the session runs on "
                f"{self.session.get_providers()}"
            )
        graph_inputs = [i.name for i in self.session.get_inputs()]
        graph_outputs = [o.name for o in self.session.get_outputs()]
        if graph_inputs != [self.input_name] or not set(self.output_names) <= set(graph_outputs):
            raise ValueError(
                f"{model_path}: graph tensors {graph_inputs} -> {graph_outputs} do not match "
                f"config {self.input_name} -> {self.output_names}"
            )

    def execute(self, requests: list[Any]) -> list[Any]:
        """Run the requests Triton batched together, `images_per_run` at a time, then split
        the outputs back per request."""
        inputs = [
            pb_utils.get_input_tensor_by_name(request, self.input_name).as_numpy()
            for request in requests
        ]
        batch = np.concatenate(inputs)
        step = self.images_per_run
        try:
            runs = [
                self.session.run(self.output_names, {self.input_name: batch[start : start + step]})
                for start in range(0, len(batch), step)
            ]
            results = [np.concatenate(slices) for slices in zip(*runs, strict=True)]
        except Exception as error:  # Report to every caller instead of killing the stub.
            message = f"{type(error).__name__}: {error}"
            return [
                pb_utils.InferenceResponse(error=pb_utils.TritonError(message)) for _ in requests
            ]
        bounds = np.cumsum([len(batch) for batch in inputs])[:-1]
        parts = [np.split(result, bounds) for result in results]
        return [
            pb_utils.InferenceResponse(
                output_tensors=[
                    pb_utils.Tensor(name, per_request[index])
                    for name, per_request in zip(self.output_names, parts, strict=True)
                ]
            )
            for index in range(len(requests))
        ]
