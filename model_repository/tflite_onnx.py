"""TFLite flatbuffers to ONNX, for the handful of operators MediaPipe's detectors use.

The flatbuffer is read with the pure-Python `tflite` package; each operator becomes ONNX
nodes built with onnx.helper. Activations are NCHW in ONNX (NHWC in TFLite): kernels are
transposed once at export, and tensors are put back in NHWC order only where TFLite
flattens them. An operator outside the list is an error, never a silent approximation.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import tflite  # type: ignore[import-untyped]  # flatbuffer accessors, no stubs
from numpy.typing import NDArray
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8  # Accepted by onnxruntime >= 1.10, so by every Triton release we target.
FloatArray = NDArray[np.float32]


class ConversionError(ValueError):
    """The TFLite file uses an operator or option this converter does not handle."""


class OnnxGraph:
    """Nodes and initializers of one ONNX graph under construction."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: dict[str, onnx.TensorProto] = {}
        self._count = 0

    def const(self, name: str, value: NDArray[Any]) -> str:
        """Add an initializer once: graphs that reuse weights share their constants."""
        if name not in self.initializers:
            self.initializers[name] = numpy_helper.from_array(np.ascontiguousarray(value), name)
        return name

    def op(self, op_type: str, inputs: list[str], name: str = "", **attrs: Any) -> str:
        if not name:
            self._count += 1
            name = f"{op_type.lower()}_{self._count}"
        self.nodes.append(helper.make_node(op_type, inputs, [name], name=name, **attrs))
        return name

    def model(
        self,
        name: str,
        inputs: list[onnx.ValueInfoProto],
        outputs: list[onnx.ValueInfoProto],
        doc: str = "",
    ) -> onnx.ModelProto:
        graph = helper.make_graph(
            self.nodes, name, inputs, outputs, initializer=list(self.initializers.values())
        )
        model = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", OPSET)],
            ir_version=IR_VERSION,
            producer_name="deepfake-detection-service",
            doc_string=doc,
        )
        onnx.checker.check_model(model, full_check=True)
        return model


_OPS = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
_NUMPY_TYPES = {
    tflite.TensorType.FLOAT32: np.float32,
    tflite.TensorType.FLOAT16: np.float16,
    tflite.TensorType.INT32: np.int32,
}
_NHWC_TO_NCHW_AXIS = {0: 0, 1: 2, 2: 3, 3: 1}


def emit_tflite(g: OnnxGraph, path: Path, x: str, prefix: str) -> tuple[str, str]:
    """Rebuild the TFLite graph in `path` on the NCHW float tensor `x`.

    Returns the (regressors [N, A, 16], classificators [N, A, 1]) tensor names. Reshapes keep
    the batch and let the anchor count follow the input size, so a pass may run larger than
    the size it was trained at (the network is fully convolutional).
    """
    model = tflite.Model.GetRootAsModel(path.read_bytes(), 0)
    sub = model.Subgraphs(0)
    stem = path.stem
    consts: dict[int, NDArray[Any]] = {}
    names: dict[int, str] = {sub.Inputs(0): x}
    nchw: set[int] = {sub.Inputs(0)}  # 4-D activations are NCHW here, NHWC in TFLite
    for i in range(sub.TensorsLength()):
        tensor = sub.Tensors(i)
        data = model.Buffers(tensor.Buffer()).DataAsNumpy()
        if isinstance(data, np.ndarray) and data.size:
            if tensor.Type() not in _NUMPY_TYPES:
                raise ConversionError(f"{path}: constant of TFLite type {tensor.Type()}")
            consts[i] = data.view(_NUMPY_TYPES[tensor.Type()]).reshape(tensor.ShapeAsNumpy())
    for index in range(sub.OperatorsLength()):
        op = sub.Operators(index)
        code = model.OperatorCodes(op.OpcodeIndex())
        kind = _OPS[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())]
        ins = [op.Inputs(j) for j in range(op.InputsLength())]
        out = op.Outputs(0)
        name = f"{prefix}.{sub.Tensors(out).Name().decode()}"
        options = op.BuiltinOptions()

        def opts(cls: Any, options: Any = options) -> Any:
            parsed = cls()
            parsed.Init(options.Bytes, options.Pos)
            return parsed

        if kind == "DEQUANTIZE":  # float16 weights: widen once, at export time
            consts[out] = consts[ins[0]].astype(np.float32)
            continue
        if kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            o = opts(tflite.Conv2DOptions if kind == "CONV_2D" else tflite.DepthwiseConv2DOptions)
            kernel, bias = consts[ins[1]], consts[ins[2]]
            if kind == "CONV_2D":
                weight, group = kernel.transpose(0, 3, 1, 2), 1  # OHWI -> OIHW
            else:
                weight, group = kernel.transpose(3, 0, 1, 2), kernel.shape[3]  # 1HWC -> C1HW
                if o.DepthMultiplier() != 1:
                    raise ConversionError(f"{path}: depth multiplier {o.DepthMultiplier()}")
            result = g.op(
                "Conv",
                [
                    names[ins[0]],
                    g.const(f"{stem}.{ins[1]}.w", weight.astype(np.float32)),
                    g.const(f"{stem}.{ins[2]}.b", bias.astype(np.float32)),
                ],
                name,
                kernel_shape=list(weight.shape[2:]),
                strides=[o.StrideH(), o.StrideW()],
                dilations=[o.DilationHFactor(), o.DilationWFactor()],
                group=group,
                auto_pad=_padding(o.Padding()),
            )
            activation = o.FusedActivationFunction()
        elif kind == "ADD":
            result = g.op("Add", [names[ins[0]], names[ins[1]]], name)
            activation = opts(tflite.AddOptions).FusedActivationFunction()
        elif kind == "RELU":
            result, activation = g.op("Relu", [names[ins[0]]], name), 0
        elif kind == "MAX_POOL_2D":
            o = opts(tflite.Pool2DOptions)
            result = g.op(
                "MaxPool",
                [names[ins[0]]],
                name,
                kernel_shape=[o.FilterHeight(), o.FilterWidth()],
                strides=[o.StrideH(), o.StrideW()],
                auto_pad=_padding(o.Padding()),
            )
            activation = o.FusedActivationFunction()
        elif kind == "PAD":  # channel padding of the residual shortcuts
            pads = consts[ins[1]][[0, 3, 1, 2]]  # NHWC rows -> NCHW rows
            pads64 = np.concatenate([pads[:, 0], pads[:, 1]]).astype(np.int64)
            result = g.op("Pad", [names[ins[0]], g.const(f"{stem}.{ins[1]}.pads", pads64)], name)
            activation = 0
        elif kind == "RESIZE_BILINEAR":
            o = opts(tflite.ResizeBilinearOptions)
            mode = "align_corners" if o.AlignCorners() else "asymmetric"
            mode = "half_pixel" if o.HalfPixelCenters() else mode
            before = sub.Tensors(ins[0]).ShapeAsNumpy()[1:3]
            after = consts[ins[1]]
            scales = np.array([1, 1, *(after / before)], np.float32)
            result = g.op(
                "Resize",
                [names[ins[0]], "", g.const(f"{stem}.{ins[1]}.scales", scales)],
                name,
                mode="linear",
                coordinate_transformation_mode=mode,
            )
            activation = 0
        elif kind == "RESHAPE":
            source = names[ins[0]]
            if ins[0] in nchw:  # TFLite flattens NHWC: restore that order first
                source = g.op("Transpose", [source], f"{name}.nhwc", perm=[0, 2, 3, 1])
            shape = opts(tflite.ReshapeOptions).NewShapeAsNumpy().astype(np.int64)
            shape[0], shape[1] = 0, -1  # keep the batch; anchors follow the input size
            result = g.op("Reshape", [source, g.const(f"{name}.shape", shape)], name)
            activation = 0
        elif kind == "CONCATENATION":
            o = opts(tflite.ConcatenationOptions)
            axis = o.Axis() if ins[0] not in nchw else _NHWC_TO_NCHW_AXIS[o.Axis()]
            result = g.op("Concat", [names[i] for i in ins], name, axis=axis)
            activation = o.FusedActivationFunction()
        else:
            raise ConversionError(f"{path}: TFLite operator {kind} is not supported")
        if activation == tflite.ActivationFunctionType.RELU:
            result = g.op("Relu", [result], f"{name}.relu")
        elif activation != tflite.ActivationFunctionType.NONE:
            raise ConversionError(f"{path}: fused activation {activation} is not supported")
        names[out] = result
        if len(sub.Tensors(out).ShapeAsNumpy()) == 4 and kind != "RESHAPE":
            nchw.add(out)
    outputs = [sub.Outputs(j) for j in range(sub.OutputsLength())]
    by_width = {int(sub.Tensors(t).ShapeAsNumpy()[-1]): names[t] for t in outputs}
    return by_width[16], by_width[1]


def _padding(padding: int) -> str:
    # TF 'SAME' puts the odd pixel after, as ONNX's SAME_UPPER does.
    return "SAME_UPPER" if padding == tflite.Padding.SAME else "VALID"


def interpreter(path: Path) -> Any:
    """The TFLite interpreter for `path`: LiteRT where installed, else tflite-runtime."""
    for module in ("ai_edge_litert.interpreter", "tflite_runtime.interpreter"):
        try:
            loaded = importlib.import_module(module).Interpreter(model_path=str(path))
        except ImportError:
            continue
        loaded.allocate_tensors()
        return loaded
    raise ConversionError(
        "checking against TFLite needs its interpreter: pip install tflite-runtime "
        "(Python <= 3.11) or ai-edge-litert"
    )


def native_size(path: Path) -> int:
    size: int = interpreter(path).get_input_details()[0]["shape"][1]
    return int(size)


def run_tflite(path: Path, images: FloatArray) -> tuple[FloatArray, FloatArray]:
    """(regressors, classificators) from the TFLite interpreter, one image at a time."""
    loaded = interpreter(path)
    (given,) = loaded.get_input_details()
    outputs = loaded.get_output_details()
    results: list[list[FloatArray]] = [[] for _ in outputs]
    for image in images:
        loaded.set_tensor(given["index"], image[None])
        loaded.invoke()
        for found, output in zip(results, outputs, strict=True):
            found.append(loaded.get_tensor(output["index"])[0])
    by_width = {found[0].shape[-1]: np.stack(found) for found in results}
    return by_width[16], by_width[1]


def standalone_model(path: Path, size: int) -> onnx.ModelProto:
    """One TFLite file alone: float NHWC in [-1, 1] in, its raw outputs out."""
    g = OnnxGraph()
    x = g.op("Transpose", ["x"], "nchw", perm=[0, 3, 1, 2])
    regressors, logits = emit_tflite(g, path, x, "t")
    g.op("Identity", [regressors], "regressors")
    g.op("Identity", [logits], "classificators")
    return g.model(
        path.stem,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", size, size, 3])],
        [
            helper.make_tensor_value_info("regressors", TensorProto.FLOAT, ["N", "A", 16]),
            helper.make_tensor_value_info("classificators", TensorProto.FLOAT, ["N", "A", 1]),
        ],
    )


def run_converted(path: Path, images: FloatArray) -> tuple[FloatArray, FloatArray]:
    """`standalone_model` run by ONNX Runtime, at whatever square size `images` have."""
    model = standalone_model(path, images.shape[1])
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    regressors, logits = session.run(["regressors", "classificators"], {"x": images})
    return regressors, logits
