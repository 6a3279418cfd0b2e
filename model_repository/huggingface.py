"""Export a Hugging Face image-classification checkpoint to a versioned Triton model.

    python -m model_repository.export huggingface --source DIR_OR_HUB_ID --output-dir DIR
        --name NAME [--version 1] [--fake-label LABEL]

The graph takes what the service sends every detector: `image`, uint8 RGB, NHWC, S x S, where
S is the checkpoint processor's output size (its `crop_size` when it center-crops, else its
`size`). The worker resizes to S x S before sending, as for MesoNet; that resize replaces the
processor's own resize and crop. Everything after it, the cast, the rescale and the per-channel
normalisation, is baked into the graph from the processor's settings, and so is the head's
activation (softmax, or sigmoid for single-logit and multi-label heads, as transformers'
pipeline decides). The output `fake_prob` FP32 [N, 1] is the probability of the one label in
`id2label` that names a fake (or `fake_label`).

Before anything is written, ONNX Runtime is checked against transformers itself (the
checkpoint's processor, with its resize turned off, then the PyTorch model) on varied images in
batches of 1 and 3; a graph that differs by more than 1e-4 is refused.
"""

from __future__ import annotations

import logging
import re
import tempfile
import time
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import onnx
import onnxruntime as ort
import torch
from google.protobuf import text_format  # type: ignore[import-untyped]  # no stubs installed
from numpy.typing import NDArray
from transformers import AutoImageProcessor, AutoModelForImageClassification
from tritonclient.grpc import model_config_pb2

from model_repository import local
from model_repository.export import PARITY_SEED, PARITY_TOLERANCE, ExportError
from model_repository.files import write_atomic

log = logging.getLogger(__name__)

OPSET = 17
# Words that mark a label as the fake class, and words that veto it ("not fake", "real").
FAKE_WORDS = frozenset(
    {"fake", "deepfake", "deepfakes", "manipulated", "spoof", "spoofed", "synthetic", "generated"}
    | {"forged", "forgery", "ai", "aigenerated", "artificial"}
)
NOT_FAKE_WORDS = frozenset({"not", "non", "no", "real", "authentic", "genuine", "human"})

Activation = Literal["softmax", "sigmoid"]


@dataclass(frozen=True)
class Preprocessing:
    """What the processor does after resizing: pixel * scale + shift, per RGB channel."""

    size: int
    scale: tuple[float, float, float]
    shift: tuple[float, float, float]


def fake_label_index(id2label: Mapping[int, str], fake_label: str | None = None) -> int:
    """The index of the fake class: `fake_label` if given, else the one label naming a fake."""
    labels = {int(index): str(label) for index, label in id2label.items()}
    listed = ", ".join(f"{index}: {label!r}" for index, label in sorted(labels.items()))
    if fake_label is not None:
        for matches in (
            [i for i, label in labels.items() if label == fake_label],
            [i for i, label in labels.items() if label.casefold() == fake_label.casefold()],
        ):
            if len(matches) == 1:
                return matches[0]
        raise ExportError(f"fake label {fake_label!r} is not one of id2label {{{listed}}}")
    matches = [index for index, label in labels.items() if _names_fake(label)]
    if len(matches) != 1:
        found = "no label" if not matches else f"{len(matches)} labels"
        raise ExportError(
            f"cannot tell the fake class: {found} of id2label {{{listed}}} name a fake "
            f"(looked for {', '.join(sorted(FAKE_WORDS))}); pass --fake-label"
        )
    return matches[0]


def _names_fake(label: str) -> bool:
    words = set(re.split(r"[^a-z0-9]+", label.casefold())) - {""}
    words.add(re.sub(r"[^a-z0-9]+", "", label.casefold()))  # "AI-generated" -> "aigenerated"
    return bool(words & FAKE_WORDS) and not words & NOT_FAKE_WORDS


def output_activation(config: Any) -> Activation:
    """Softmax or sigmoid, decided as transformers' image-classification pipeline does."""
    if config.problem_type == "regression":
        raise ExportError("a regression head gives no probability; cannot export fake_prob")
    if config.problem_type == "multi_label_classification" or config.num_labels == 1:
        return "sigmoid"
    return "softmax"


def preprocessing(processor: Any) -> Preprocessing:
    """Input size and the per-channel affine map from the processor's settings."""
    scale, shift = np.ones(3), np.zeros(3)  # float64 until the end, then rounded once
    if processor.do_rescale:
        scale *= processor.rescale_factor
        if getattr(processor, "rescale_offset", False):  # EfficientNet: to [-1, 1]
            shift -= 1.0
    if processor.do_normalize:
        mean, std = _per_channel(processor.image_mean), _per_channel(processor.image_std)
        scale, shift = scale / std, (shift - mean) / std
    if getattr(processor, "include_top", False):  # EfficientNet divides by std a second time
        std = _per_channel(processor.image_std)
        scale, shift = scale / std, shift / std
    return Preprocessing(
        size=input_size(processor),
        scale=(float(scale[0]), float(scale[1]), float(scale[2])),
        shift=(float(shift[0]), float(shift[1]), float(shift[2])),
    )


def _per_channel(value: float | Iterable[float]) -> NDArray[np.float64]:
    values = np.broadcast_to(np.asarray(value, dtype=np.float64), (3,))
    return values.copy()


def input_size(processor: Any) -> int:
    """S: the side of the square image the processor hands the model."""
    cropped = getattr(processor, "do_center_crop", False) and processor.crop_size
    size: Any = processor.crop_size if cropped else processor.size
    if isinstance(size, int):
        return size
    height, width = size.get("height"), size.get("width")
    if height and width:
        if height != width:
            raise ExportError(f"processor size {height}x{width} is not square; S x S expected")
        return int(height)
    if size.get("shortest_edge"):
        return int(size["shortest_edge"])
    raise ExportError(f"cannot read an input size from processor size {dict(size)!r}")


class UInt8Classifier(torch.nn.Module):
    """uint8 RGB NHWC in, P(fake) [N, 1] out, around a transformers image classifier."""

    scale: torch.Tensor
    shift: torch.Tensor

    def __init__(
        self,
        model: torch.nn.Module,
        prep: Preprocessing,
        fake_index: int,
        activation: Activation,
    ) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("scale", torch.tensor(prep.scale, dtype=torch.float32))
        self.register_buffer("shift", torch.tensor(prep.shift, dtype=torch.float32))
        self.fake_index = fake_index
        self.activation = activation

    def pixel_values(self, image: torch.Tensor) -> torch.Tensor:
        pixels = image.to(torch.float32) * self.scale + self.shift  # broadcasts over channels
        return pixels.permute(0, 3, 1, 2)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.model(pixel_values=self.pixel_values(image)).logits
        probs = logits.softmax(-1) if self.activation == "softmax" else logits.sigmoid()
        return probs[:, self.fake_index : self.fake_index + 1]


def parity_images(size: int, count: int = 7, seed: int = PARITY_SEED) -> NDArray[np.uint8]:
    """Black, white, colour ramps, a checkerboard, dark noise, then uniform noise."""
    images = np.random.default_rng(seed).integers(0, 256, (max(count, 6), size, size, 3))
    ys, xs = np.mgrid[0:size, 0:size] * 255 // max(size - 1, 1)
    images[0], images[1] = 0, 255
    images[2] = np.stack([xs, ys, 255 - xs], axis=-1)
    images[3] = ((ys // 4 + xs // 4) % 2 * 255)[..., None]
    images[4] //= 16
    return images[:count].astype(np.uint8)


def reference_fake_prob(
    model: Any, processor: Any, images: NDArray[np.uint8], wrapper: UInt8Classifier
) -> NDArray[np.float64]:
    """The source framework's answer: the processor (no resize or crop), then the model."""
    pixel_values = _processor_pixels(processor, images)
    with torch.no_grad():
        logits = model(pixel_values=torch.from_numpy(pixel_values)).logits.double()
    probs = logits.softmax(-1) if wrapper.activation == "softmax" else logits.sigmoid()
    index = wrapper.fake_index
    result: NDArray[np.float64] = probs[:, index : index + 1].numpy()
    return result


def _processor_pixels(processor: Any, images: NDArray[np.uint8]) -> NDArray[np.float32]:
    batch = processor(
        list(images),
        do_resize=False,
        do_center_crop=False,
        input_data_format="channels_last",
        return_tensors="np",
    )
    pixels: NDArray[np.float32] = np.asarray(batch["pixel_values"], dtype=np.float32)
    return pixels


def check_preprocessing(processor: Any, wrapper: UInt8Classifier, size: int) -> float:
    """Max |graph pixels - processor pixels|; raise ExportError when the graph misses a step."""
    images = parity_images(size)
    want = _processor_pixels(processor, images)
    with torch.no_grad():
        got = wrapper.pixel_values(torch.from_numpy(images)).numpy()
    diff = float(np.max(np.abs(got - want))) if got.shape == want.shape else float("inf")
    if not diff <= PARITY_TOLERANCE:
        raise ExportError(
            f"{type(processor).__name__}: the graph's preprocessing differs from the "
            f"processor's by {diff:.3g} (shape {got.shape} vs {want.shape}); "
            "it has a step this exporter does not reproduce"
        )
    return diff


def to_onnx(wrapper: UInt8Classifier, size: int) -> bytes:
    """Trace to ONNX (TorchScript exporter, opset 17) with a dynamic batch axis."""
    sample = torch.zeros((2, size, size, 3), dtype=torch.uint8)  # 2: no batch-1 specialisation
    with tempfile.TemporaryDirectory() as scratch, warnings.catch_warnings():
        # Tracer and deprecation notices: the parity check on batches of 1 and 3 decides.
        warnings.simplefilter("ignore")
        path = Path(scratch) / "model.onnx"
        torch.onnx.export(
            wrapper,
            (sample,),
            path,
            dynamo=False,
            opset_version=OPSET,
            input_names=[local.INPUT_NAME],
            output_names=[local.OUTPUT_NAME],
            dynamic_axes={local.INPUT_NAME: {0: "batch"}, local.OUTPUT_NAME: {0: "batch"}},
        )
        if [p.name for p in Path(scratch).iterdir()] != [path.name]:
            raise ExportError("the model needs ONNX external data (over 2 GB): not supported")
        return path.read_bytes()


def check_parity(
    model_bytes: bytes, reference: Any, images: NDArray[np.uint8], batch_sizes: Iterable[int]
) -> float:
    """Max |ONNX Runtime - reference(images)| over batches; raise ExportError above 1e-4."""
    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    diff, start = 0.0, 0
    for batch_size in batch_sizes:
        batch = images[start : start + batch_size]
        start += batch_size
        (got,) = session.run([local.OUTPUT_NAME], {local.INPUT_NAME: batch})
        want = reference(batch)
        if got.shape != want.shape:
            raise ExportError(f"ONNX output shape {got.shape} != reference {want.shape}")
        diff = max(diff, float(np.max(np.abs(got.astype(np.float64) - want))))
        if not diff <= PARITY_TOLERANCE:  # also catches NaN
            raise ExportError(
                f"ONNX graph differs from transformers by {diff:.3g} on a batch of "
                f"{batch_size} (> {PARITY_TOLERANCE}); refusing to write it"
            )
    return diff


def triton_config(
    name: str, size: int, *, source: str, fake_label: str, fake_index: int, existing: Path
) -> model_config_pb2.ModelConfig:
    """The production contract at this input size, with where the model came from.

    An `existing` config keeps its serving settings (instances, batching, optimisation, backend
    parameters: the operator's), but the name, tensors and provenance follow the new graph.
    """
    config = local.detector_config(name, input_size=size)
    if existing.is_file():
        try:
            kept = local.read_config(existing)
        except text_format.ParseError as error:
            raise ExportError(f"{existing}: cannot parse the existing config: {error}") from error
        kept.name = config.name
        kept.ClearField("input")
        kept.ClearField("output")
        kept.input.extend(config.input)
        kept.output.extend(config.output)
        config = kept
    for key, value in {
        "source": source,
        "fake_label": fake_label,
        "fake_label_index": str(fake_index),
    }.items():
        config.parameters[key].string_value = value
    return config


def export_huggingface(
    source: str, output_dir: Path, name: str, version: str, *, fake_label: str | None = None
) -> Path:
    """Export, check and write <output_dir>/<name>/{config.pbtxt, <version>/model.onnx}."""
    if not version.isdigit() or int(version) < 1:
        raise ExportError(f"version must be a positive integer (a Triton folder), not {version!r}")
    if not name or "/" in name or name.startswith("."):
        raise ExportError(f"invalid model name {name!r}")
    start = time.perf_counter()
    model, processor = _load(source)
    fake_index = fake_label_index(model.config.id2label, fake_label)
    prep = preprocessing(processor)
    wrapper = UInt8Classifier(model, prep, fake_index, output_activation(model.config)).eval()
    check_preprocessing(processor, wrapper, prep.size)
    try:
        payload = to_onnx(wrapper, prep.size)
        onnx.checker.check_model(onnx.load_from_string(payload))
    except (RuntimeError, ValueError, onnx.checker.ValidationError) as error:
        raise ExportError(f"{source}: ONNX export failed: {error}") from error
    diff = check_parity(
        payload,
        lambda batch: reference_fake_prob(model, processor, batch, wrapper),
        parity_images(prep.size),
        batch_sizes=(1, 3, 3),
    )
    label = model.config.id2label[fake_index]
    model_dir = output_dir / name
    config = triton_config(
        name,
        prep.size,
        source=source,
        fake_label=label,
        fake_index=fake_index,
        existing=model_dir / "config.pbtxt",
    )
    write_atomic(model_dir / version / "model.onnx", payload)
    header = (
        f"# Exported by model_repository.huggingface from {source!r}.\n"
        f"# input: uint8 RGB NHWC, resized to {prep.size}x{prep.size} by the worker; "
        f"output: P({label!r}).\n"
    )
    write_atomic(
        model_dir / "config.pbtxt", (header + text_format.MessageToString(config)).encode()
    )
    log.info(
        "exported %s to %s: input %dx%d, fake label %r (index %d), "
        "max |onnx - transformers| = %.2g, %.1f s",
        source, model_dir, prep.size, prep.size, label, fake_index, diff,
        time.perf_counter() - start,
    )  # fmt: skip
    return model_dir


def _load(source: str) -> tuple[Any, Any]:
    """The model (eval, float32, no remote code) and its image processor."""
    local_only = Path(source).is_dir()
    try:
        model = AutoModelForImageClassification.from_pretrained(
            source, dtype=torch.float32, local_files_only=local_only
        )
        processor = AutoImageProcessor.from_pretrained(  # type: ignore[no-untyped-call,unused-ignore]
            source, backend="pil", local_files_only=local_only
        )
    except (OSError, ValueError) as error:  # missing files, no network, unknown architecture
        raise ExportError(f"cannot load an image classifier from {source!r}: {error}") from error
    return model.eval(), processor
