"""MesoNet (Afchar et al., WIFS 2018) from Keras HDF5 weights to ONNX, without TF or PyTorch.

The upstream weights are Keras 2.1.5 `save_weights` files (DariusAf/MesoNet). The graph takes
what the service sends: uint8 RGB crops, NHWC, 256x256. It scales by 1/255 itself and returns
P(manipulated) = sigmoid(-logit), because the Keras model outputs P(real).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import h5py
import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import TensorProto, helper, numpy_helper

Variant = Literal["meso4", "mesoinception4"]
Float32Array = NDArray[np.float32]

INPUT_SIZE = 256
BN_EPSILON = 1e-3  # Keras BatchNormalization default; ONNX defaults to 1e-5.
LEAKY_ALPHA = 0.1  # LeakyReLU in the head, as upstream classifiers.py.
OPSET = 17
IR_VERSION = 8  # Accepted by onnxruntime >= 1.10, so by every Triton release we target.
_CONVS_PER_VARIANT: dict[int, Variant] = {4: "meso4", 16: "mesoinception4"}


class WeightsError(ValueError):
    """The HDF5 file is not a MesoNet weight file we know how to map."""


@dataclass(frozen=True)
class Conv:
    """Conv2D, stride 1, 'same' padding, ReLU. Kernel in Keras HWIO layout."""

    kernel: Float32Array
    bias: Float32Array
    dilation: int = 1


@dataclass(frozen=True)
class BatchNorm:
    gamma: Float32Array
    beta: Float32Array
    mean: Float32Array
    variance: Float32Array


@dataclass(frozen=True)
class Dense:
    kernel: Float32Array  # (in, out); rows in Keras' NHWC flatten order
    bias: Float32Array


@dataclass(frozen=True)
class Block:
    """Branches (chains of convs) concatenated on channels, then BN, then max-pool 'same'.

    A plain conv layer is a block with one branch of one conv.
    """

    branches: tuple[tuple[Conv, ...], ...]
    norm: BatchNorm
    pool: int


@dataclass(frozen=True)
class MesoNet:
    variant: Variant
    blocks: tuple[Block, ...]
    hidden: Dense  # Dense(16) -> LeakyReLU(0.1)
    output: Dense  # Dense(1): the logit of P(real)


def load_weights(path: Path, variant: Variant | Literal["auto"] = "auto") -> MesoNet:
    """Read a MesoNet HDF5 file and map its layers onto the classifiers.py architecture."""
    layers = _read_layers(path)
    try:
        convs = [Conv(w["kernel"], w["bias"]) for w in layers.get("conv2d", [])]
        norms = [
            BatchNorm(w["gamma"], w["beta"], w["moving_mean"], w["moving_variance"])
            for w in layers.get("batch_normalization", [])
        ]
        dense = [Dense(w["kernel"], w["bias"]) for w in layers.get("dense", [])]
    except KeyError as missing:
        raise WeightsError(f"{path}: a layer lacks the weight {missing}") from None
    detected = _CONVS_PER_VARIANT.get(len(convs))
    if detected is None or len(norms) != 4 or len(dense) != 2:
        raise WeightsError(
            f"{path}: {len(convs)} conv, {len(norms)} batch-norm and {len(dense)} dense layers "
            "match neither Meso4 (4, 4, 2) nor MesoInception4 (16, 4, 2)"
        )
    if variant not in ("auto", detected):
        raise WeightsError(f"{path}: asked for {variant} but the file holds {detected}")
    if detected == "meso4":
        blocks = tuple(Block(((conv,),), norm, pool) for conv, norm, pool in _plain(convs, norms))
    else:
        blocks = (
            _inception(convs[0:7], norms[0], pool=2),
            _inception(convs[7:14], norms[1], pool=2),
            *(Block(((c,),), n, p) for c, n, p in _plain(convs[14:], norms[2:], pools=(2, 4))),
        )
    net = MesoNet(detected, blocks, hidden=dense[0], output=dense[1])
    _check_shapes(net)
    return net


def _plain(
    convs: list[Conv], norms: list[BatchNorm], pools: tuple[int, ...] = (2, 2, 2, 4)
) -> zip[tuple[Conv, BatchNorm, int]]:
    return zip(convs, norms, pools, strict=True)


def _inception(convs: list[Conv], norm: BatchNorm, pool: int) -> Block:
    # Creation order in InceptionLayer(a, b, c, d): 1x1(a); 1x1(b), 3x3(b); 1x1(c), 3x3(c, d=2);
    # 1x1(d), 3x3(d, d=3). Branches 2 and 3 have equal shapes: only this order tells them apart.
    one, b1, b3, c1, c3, d1, d3 = convs
    return Block(
        branches=(
            (one,),
            (b1, b3),
            (c1, dataclasses.replace(c3, dilation=2)),
            (d1, dataclasses.replace(d3, dilation=3)),
        ),
        norm=norm,
        pool=pool,
    )


def _read_layers(path: Path) -> dict[str, list[dict[str, Float32Array]]]:
    """Weighted layers by kind ('conv2d', ...), each list in numeric creation order."""
    found: dict[str, list[tuple[int, dict[str, Float32Array]]]] = {}
    with h5py.File(path, "r") as h5:
        root = h5.get("model_weights", h5)  # model.save() files nest the weights one level down
        for layer in map(_text, root.attrs["layer_names"]):
            weight_names = [_text(w) for w in root[layer].attrs["weight_names"]]
            if not weight_names:
                continue
            kind, _, suffix = layer.rpartition("_")
            if not suffix.isdigit():  # Keras names the first layer of a kind without a number.
                kind, suffix = layer, "0"
            if kind not in ("conv2d", "batch_normalization", "dense"):
                raise WeightsError(f"{path}: unexpected weighted layer {layer!r}")
            weights = {
                name.rpartition("/")[2].partition(":")[0]: np.asarray(
                    root[layer][name], dtype=np.float32
                )
                for name in weight_names
            }
            found.setdefault(kind, []).append((int(suffix), weights))
    # Topological order in the file is not creation order, and "conv2d_10" < "conv2d_9" as text.
    return {kind: [w for _, w in sorted(v, key=lambda e: e[0])] for kind, v in found.items()}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _check_shapes(net: MesoNet) -> None:
    """Fail loudly on a mis-mapping that would otherwise load and give wrong numbers."""
    channels, size = 3, INPUT_SIZE
    for index, block in enumerate(net.blocks):
        outputs = 0
        for branch in block.branches:
            width = channels
            for conv in branch:
                if conv.kernel.shape[2] != width or conv.bias.shape != conv.kernel.shape[3:]:
                    raise WeightsError(f"block {index}: conv {conv.kernel.shape} after {width} ch")
                width = conv.kernel.shape[3]
            outputs += width
        if block.norm.gamma.shape != (outputs,):
            raise WeightsError(f"block {index}: BN {block.norm.gamma.shape} after {outputs} ch")
        channels, size = outputs, -(-size // block.pool)
    if net.hidden.kernel.shape[0] != size * size * channels or net.output.kernel.shape[1] != 1:
        raise WeightsError(f"head {net.hidden.kernel.shape} {net.output.kernel.shape} mismatch")


def same_pads(size: int, kernel: int, stride: int = 1, dilation: int = 1) -> tuple[int, int]:
    """Keras/TF 'same' padding (before, after): the odd pixel goes after."""
    span = dilation * (kernel - 1) + 1
    total = max((-(-size // stride) - 1) * stride + span - size, 0)
    return total // 2, total - total // 2


class _Graph:
    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []

    def const(self, name: str, value: NDArray[Any]) -> str:
        self.initializers.append(numpy_helper.from_array(value, name))
        return name

    def op(self, op_type: str, inputs: list[str], name: str, **attrs: Any) -> str:
        self.nodes.append(helper.make_node(op_type, inputs, [name], name=name, **attrs))
        return name


def build_model(
    net: MesoNet, *, input_name: str = "image", output_name: str = "fake_prob"
) -> onnx.ModelProto:
    """uint8 NHWC [N,256,256,3] -> fake_prob float32 [N,1]."""
    g = _Graph()
    x = g.op("Cast", [input_name], "as_float", to=TensorProto.FLOAT)
    x = g.op("Mul", [x, g.const("inv_255", np.array(1 / 255, np.float32))], "scaled")
    x = g.op("Transpose", [x], "nchw", perm=[0, 3, 1, 2])
    size = INPUT_SIZE
    for b, block in enumerate(net.blocks, start=1):
        ends = [_branch(g, x, branch, size, f"b{b}.{i}") for i, branch in enumerate(block.branches)]
        x = ends[0] if len(ends) == 1 else g.op("Concat", ends, f"b{b}.concat", axis=1)
        norm = dataclasses.asdict(block.norm)  # field order = ONNX's scale, B, mean, var
        x = g.op(
            "BatchNormalization",
            [x, *(g.const(f"b{b}.bn.{k}", v) for k, v in norm.items())],
            f"b{b}.bn",
            epsilon=BN_EPSILON,
        )
        pads = same_pads(size, block.pool, stride=block.pool)
        x = g.op(
            "MaxPool",
            [x],
            f"b{b}.pool",
            kernel_shape=[block.pool] * 2,
            strides=[block.pool] * 2,
            pads=[pads[0], pads[0], pads[1], pads[1]],
        )
        size = -(-size // block.pool)
    # Keras flattens NHWC; the Dense kernel rows are in that order.
    x = g.op("Flatten", [g.op("Transpose", [x], "nhwc", perm=[0, 2, 3, 1])], "flat", axis=1)
    x = g.op("Gemm", [x, *_dense(g, "hidden", net.hidden)], "hidden")
    x = g.op("LeakyRelu", [x], "hidden.act", alpha=LEAKY_ALPHA)
    x = g.op("Gemm", [x, *_dense(g, "out", net.output)], "logit_real")
    # P(fake) = 1 - sigmoid(logit) = sigmoid(-logit), without the cancellation near 1.
    g.op("Sigmoid", [g.op("Neg", [x], "logit_fake")], output_name)
    graph = helper.make_graph(
        g.nodes,
        f"mesonet_{net.variant}",
        [
            helper.make_tensor_value_info(
                input_name, TensorProto.UINT8, ["N", INPUT_SIZE, INPUT_SIZE, 3]
            )
        ],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, ["N", 1])],
        initializer=g.initializers,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        ir_version=IR_VERSION,
        producer_name="deepfake-detection-service",
        doc_string="MesoNet (DariusAf/MesoNet weights). Output: P(manipulated).",
    )
    onnx.checker.check_model(model, full_check=True)
    return model


def _dense(g: _Graph, name: str, dense: Dense) -> tuple[str, str]:
    return g.const(f"{name}.w", dense.kernel), g.const(f"{name}.b", dense.bias)


def _branch(g: _Graph, x: str, convs: tuple[Conv, ...], size: int, name: str) -> str:
    for i, conv in enumerate(convs):
        kh, kw = conv.kernel.shape[:2]
        top, bottom = same_pads(size, kh, dilation=conv.dilation)
        left, right = same_pads(size, kw, dilation=conv.dilation)
        weight = np.ascontiguousarray(conv.kernel.transpose(3, 2, 0, 1))  # HWIO -> OIHW
        x = g.op(
            "Conv",
            [x, g.const(f"{name}.{i}.w", weight), g.const(f"{name}.{i}.b", conv.bias)],
            f"{name}.{i}.conv",
            kernel_shape=[kh, kw],
            dilations=[conv.dilation] * 2,
            pads=[top, left, bottom, right],
        )
        x = g.op("Relu", [x], f"{name}.{i}.relu")
    return x
