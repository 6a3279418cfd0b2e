"""A model Triton reports ready but that fails every request, made on either kind of server.

Locally the model runs in a Python-backend stub process, and a stub killed is exactly that
(Triton does not restart it). Triton's onnxruntime backend has no such process; its equivalent
is a model loaded, through the repository API, from a graph that loads and then fails at run
time. Either way a plain reload (`load_model(name)`, the reconciler's fix) serves the model
from the repository on disk again.
"""

import signal

import onnx
import psutil
import tritonclient.http as triton_http
from google.protobuf import json_format  # type: ignore[import-untyped]  # no stubs installed
from onnx import TensorProto, helper

from devstack.servers import TritonServer
from model_repository.local import read_config
from tests.servers.factory import TritonEndpoint
from tests.servers.triton import TritonContainerServer

# What a request to the model answers, as the worker logs it, on each kind.
STUB_KILLED = "not healthy"
GATHER_OUT_OF_BOUNDS = "out of data bounds"
# Out of range of any image axis: Gather fails on every request, never at load.
BAD_INDEX = 1_000_000
ONNX_OPSET = 13


def fail_model(triton: TritonEndpoint, name: str) -> str:
    """Make `name` fail every request while still ready; what its failures log."""
    if isinstance(triton, TritonServer):
        stubs = python_stubs(triton, name)
        assert stubs, f"no Python-backend stub serves {name}"
        for stub in stubs:
            stub.send_signal(signal.SIGKILL)
        return STUB_KILLED
    if isinstance(triton, TritonContainerServer):
        load_failing_model(triton, name)
        return GATHER_OUT_OF_BOUNDS
    raise TypeError(f"cannot make a model fail on {type(triton).__name__}")


def python_stubs(triton: TritonServer, name: str) -> list[psutil.Process]:
    """The local Triton's Python-backend stubs serving `name` (their second argument is the
    model's path)."""
    if triton.pid is None:
        return []
    stubs = []
    for child in psutil.Process(triton.pid).children():
        command = child.cmdline()
        if command and "triton_python_backend_stub" in command[0] and f"/{name}/" in command[1]:
            stubs.append(child)
    return stubs


def failing_graph(name: str, input_name: str, dims: list[int], output_name: str) -> bytes:
    """An ONNX graph with the model's contract (uint8 NHWC in, float [N, 1] out) whose Gather
    indexes far past the image's height: it loads, and every run fails."""
    nodes = [
        helper.make_node("Cast", [input_name], ["pixels"], to=TensorProto.FLOAT),
        helper.make_node("Gather", ["pixels", "bad_index"], ["row"], axis=1),
        # [N, 1, W, C] -> [N, 1]
        helper.make_node("ReduceMean", ["row"], [output_name], axes=[2, 3], keepdims=0),
    ]
    graph = helper.make_graph(
        nodes,
        f"{name}_failing",
        [helper.make_tensor_value_info(input_name, TensorProto.UINT8, ["N", *dims])],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, ["N", 1])],
        initializer=[helper.make_tensor("bad_index", TensorProto.INT64, [1], [BAD_INDEX])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", ONNX_OPSET)])
    # Within what ONNX Runtime 1.19 (Triton 24.10) reads.
    model.ir_version = 8
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


def failing_override(triton: TritonContainerServer, name: str) -> tuple[str, bytes]:
    """The served config of `name` without its warmup (which would fail the load), as the
    JSON Triton's load API takes, and the failing graph for it."""
    config = read_config(triton.repository / name / "config.pbtxt")
    config.ClearField("model_warmup")
    (tensor,) = config.input
    (output,) = config.output
    graph = failing_graph(name, tensor.name, list(tensor.dims), output.name)
    return json_format.MessageToJson(config, preserving_proto_field_name=True), graph


def load_failing_model(triton: TritonContainerServer, name: str) -> None:
    config, graph = failing_override(triton, name)
    client = triton_http.InferenceServerClient(triton.http_url.removeprefix("http://"))
    try:
        # With `files`, the override directory is these files alone (version 1).
        client.load_model(name, config=config, files={"file:1/model.onnx": graph})
    finally:
        client.close()
