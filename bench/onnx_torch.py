"""Run an exported detector graph in PyTorch: the ops MesoNet's ONNX export uses, nothing
more. For the GPU benchmark, on a machine with PyTorch but no GPU build of ONNX Runtime
and nothing to download (onnx2torch and its kin do not travel there)."""

from collections.abc import Callable
from typing import Any

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper

Op = Callable[[list[Any], dict[str, Any]], Any]


def _attributes(node: onnx.NodeProto) -> dict[str, Any]:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _conv(inputs: list[Any], attrs: dict[str, Any]) -> Any:
    x, weight, *bias = inputs
    pads = list(attrs.get("pads", [0, 0, 0, 0]))
    if pads[:2] != pads[2:]:
        x = F.pad(x, (pads[1], pads[3], pads[0], pads[2]))
        pads = [0, 0]
    return F.conv2d(
        x,
        weight,
        bias[0] if bias else None,
        stride=list(attrs.get("strides", [1, 1])),
        padding=pads[:2],
        dilation=list(attrs.get("dilations", [1, 1])),
        groups=int(attrs.get("group", 1)),
    )


def _max_pool(inputs: list[Any], attrs: dict[str, Any]) -> Any:
    x = inputs[0]
    pads = list(attrs.get("pads", [0, 0, 0, 0]))
    if any(pads):
        x = F.pad(x, (pads[1], pads[3], pads[0], pads[2]), value=float("-inf"))
    return F.max_pool2d(x, list(attrs["kernel_shape"]), list(attrs.get("strides", [1, 1])))


def _batch_norm(inputs: list[Any], attrs: dict[str, Any]) -> Any:
    x, scale, bias, mean, var = inputs
    return F.batch_norm(x, mean, var, scale, bias, False, 0.0, float(attrs.get("epsilon", 1e-5)))


def _gemm(inputs: list[Any], attrs: dict[str, Any]) -> Any:
    a, b, *c = inputs
    if attrs.get("transA"):
        a = a.t()
    if attrs.get("transB"):
        b = b.t()
    out = float(attrs.get("alpha", 1.0)) * (a @ b)
    return out + float(attrs.get("beta", 1.0)) * c[0] if c else out


def _cast(inputs: list[Any], attrs: dict[str, Any]) -> Any:
    # Whatever the graph casts to, compute in the precision the runner chose.
    return inputs[0].to(_DTYPE[0])


_DTYPE = [torch.float32]

OPS: dict[str, Op] = {
    "Cast": _cast,
    "Mul": lambda i, a: i[0] * i[1],
    "Neg": lambda i, a: -i[0],
    "Relu": lambda i, a: F.relu(i[0]),
    "Sigmoid": lambda i, a: torch.sigmoid(i[0]),
    "LeakyRelu": lambda i, a: F.leaky_relu(i[0], float(a.get("alpha", 0.01))),
    "Transpose": lambda i, a: i[0].permute(*a["perm"]),
    "Concat": lambda i, a: torch.cat(i, dim=int(a["axis"])),
    "Flatten": lambda i, a: torch.flatten(i[0], int(a.get("axis", 1))),
    "Conv": _conv,
    "MaxPool": _max_pool,
    "BatchNormalization": _batch_norm,
    "Gemm": _gemm,
}


class OnnxModule(torch.nn.Module):
    """The graph as a module: uint8 NHWC in, the graph's one output out."""

    def __init__(self, path: str) -> None:
        super().__init__()
        model = onnx.load(path)
        graph = model.graph
        unsupported = {n.op_type for n in graph.node} - set(OPS)
        if unsupported:
            raise ValueError(f"ops not supported here: {sorted(unsupported)}")
        self.input_name = graph.input[0].name
        self.output_name = graph.output[0].name
        self.nodes = [
            (n.op_type, list(n.input), list(n.output), _attributes(n)) for n in graph.node
        ]
        self.constants = torch.nn.ParameterDict()
        self._names: dict[str, str] = {}
        for index, tensor in enumerate(graph.initializer):
            key = f"c{index}"
            value = torch.from_numpy(np.array(numpy_helper.to_array(tensor)))
            self.constants[key] = torch.nn.Parameter(value, requires_grad=False)
            self._names[tensor.name] = key

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        _DTYPE[0] = next(iter(self.constants.values())).dtype
        values: dict[str, Any] = {self.input_name: images}
        for name, key in self._names.items():
            values[name] = self.constants[key]
        for op, inputs, outputs, attrs in self.nodes:
            values[outputs[0]] = OPS[op]([values[i] for i in inputs if i], attrs)
        result: torch.Tensor = values[self.output_name]
        return result
