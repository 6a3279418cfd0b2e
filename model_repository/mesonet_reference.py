"""Plain NumPy forward pass of MesoNet, the yardstick every exported ONNX graph is checked against.

It shares only the weight mapping with `mesonet.build_model`. Everything else is written
independently and stays in Keras' own terms: NHWC, HWIO kernels, float64, 'same' padding
computed per layer. So a wrong transpose, padding, epsilon or flatten order in the graph
shows up as a difference.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from model_repository.mesonet import BN_EPSILON, LEAKY_ALPHA, BatchNorm, Conv, MesoNet

Float64Array = NDArray[np.float64]


def reference_fake_prob(net: MesoNet, images: NDArray[np.uint8]) -> Float64Array:
    """uint8 NHWC [N,256,256,3] -> P(manipulated) [N,1] = 1 - Keras output."""
    # Keras' ImageDataGenerator(rescale=1/255) multiplies by the float32 constant.
    x = images.astype(np.float64) * float(np.float32(1 / 255))
    for block in net.blocks:
        x = np.concatenate([_chain(x, branch) for branch in block.branches], axis=-1)
        x = _max_pool_same(_batch_norm(x, block.norm), block.pool)
    flat = x.reshape(len(x), -1)  # NHWC row-major, as keras.layers.Flatten
    hidden = flat @ net.hidden.kernel.astype(np.float64) + net.hidden.bias
    hidden = np.where(hidden > 0, hidden, LEAKY_ALPHA * hidden)
    logit_real = hidden @ net.output.kernel.astype(np.float64) + net.output.bias
    result: Float64Array = 1.0 / (1.0 + np.exp(logit_real))
    return result


def _chain(x: Float64Array, convs: tuple[Conv, ...]) -> Float64Array:
    for conv in convs:
        x = np.maximum(_conv_same(x, conv), 0.0)
    return x


def _conv_same(x: Float64Array, conv: Conv) -> Float64Array:
    """Stride-1 dilated conv, sum over kernel taps of shifted-window matmuls."""
    _, height, width, _ = x.shape
    kh, kw, _, out_channels = conv.kernel.shape
    d = conv.dilation
    # 'same' at stride 1: the dilated kernel overhangs by d*(k-1), the odd pixel goes after.
    pad_h, pad_w = d * (kh - 1), d * (kw - 1)
    pads = ((0, 0), (pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2), (0, 0))
    padded = np.pad(x, pads)
    out = np.zeros((*x.shape[:3], out_channels))
    for i in range(kh):
        for j in range(kw):
            window = padded[:, i * d : i * d + height, j * d : j * d + width, :]
            out += window @ conv.kernel[i, j].astype(np.float64)
    result: Float64Array = out + conv.bias
    return result


def _batch_norm(x: Float64Array, norm: BatchNorm) -> Float64Array:
    scale = norm.gamma / np.sqrt(norm.variance.astype(np.float64) + BN_EPSILON)
    result: Float64Array = (x - norm.mean) * scale + norm.beta
    return result


def _max_pool_same(x: Float64Array, pool: int) -> Float64Array:
    # 'same' with stride == pool: ceil(n / pool) windows; TF splits the padding, odd pixel after.
    n, height, width, channels = x.shape
    pad_h, pad_w = -height % pool, -width % pool
    pads = ((0, 0), (pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2), (0, 0))
    padded = np.pad(x, pads, constant_values=-np.inf)
    rows, cols = padded.shape[1] // pool, padded.shape[2] // pool
    result: Float64Array = padded.reshape(n, rows, pool, cols, pool, channels).max(axis=(2, 4))
    return result
