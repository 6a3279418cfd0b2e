"""Export tiny randomly initialised transformers checkpoints, offline, and hold them to the
checkpoint's own processor + model: the yardstick a transformers user would reach for."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
from numpy.typing import NDArray

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before transformers reads it: never a hub call
torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from tritonclient.grpc import model_config_pb2  # noqa: E402

from model_repository import huggingface, local  # noqa: E402
from model_repository.export import ExportError  # noqa: E402
from tests.factories import save_vit  # noqa: E402


def save_siglip(path: Path) -> Path:
    torch.manual_seed(1)
    vision = {"image_size": 32, "patch_size": 8, "hidden_size": 32, "num_hidden_layers": 1}
    vision |= {"num_attention_heads": 2, "intermediate_size": 37}
    config = transformers.SiglipConfig(vision_config=vision, id2label={0: "Fake", 1: "Real"})
    transformers.SiglipForImageClassification(config).save_pretrained(path)
    transformers.SiglipImageProcessorPil(size={"height": 32, "width": 32}).save_pretrained(path)
    return path


def save_convnext(path: Path) -> Path:
    """Sized by `shortest_edge`, as ConvNeXt checkpoints are."""
    torch.manual_seed(2)
    config = transformers.ConvNextConfig(
        num_stages=2, hidden_sizes=[8, 16], depths=[1, 1], id2label={0: "Real", 1: "Deepfake"}
    )
    transformers.ConvNextForImageClassification(config).save_pretrained(path)
    transformers.ConvNextImageProcessorPil(size={"shortest_edge": 32}).save_pretrained(path)
    return path


def save_efficientnet(path: Path) -> Path:
    """Center-crops (S = crop_size) and divides by std twice (`include_top`)."""
    torch.manual_seed(3)
    config = transformers.EfficientNetConfig(
        image_size=32, width_coefficient=0.1, depth_coefficient=0.1, hidden_dim=128,
        id2label={0: "real", 1: "ai_generated"},
    )  # fmt: skip
    model = transformers.EfficientNetForImageClassification(config)
    for module in model.modules():  # at its own init this tiny net outputs 0.5 for everything
        if isinstance(module, torch.nn.Conv2d | torch.nn.Linear):
            torch.nn.init.kaiming_normal_(module.weight)
        elif isinstance(module, torch.nn.BatchNorm2d):
            torch.nn.init.constant_(module.weight, 1.3)
    model.save_pretrained(path)
    processor = transformers.EfficientNetImageProcessorPil(
        size={"height": 40, "width": 40}, crop_size={"height": 32, "width": 32}, do_center_crop=True
    )
    processor.save_pretrained(path)
    return path


def run_onnx(model_dir: Path, images: NDArray[np.uint8]) -> NDArray[np.float32]:
    session = ort.InferenceSession(str(model_dir / "1" / "model.onnx"))
    (scores,) = session.run([local.OUTPUT_NAME], {local.INPUT_NAME: images})
    result: NDArray[np.float32] = scores
    return result


def transformers_fake_prob(
    source: Path, images: NDArray[np.uint8], label: str, **processor_options: bool
) -> Any:
    """What a transformers user gets: the processor, the model, softmax."""
    model = transformers.AutoModelForImageClassification.from_pretrained(source).eval()
    processor = transformers.AutoImageProcessor.from_pretrained(source, backend="pil")
    inputs = processor(list(images), return_tensors="pt", **processor_options)
    with torch.no_grad():
        probs = model(**inputs).logits.softmax(-1)
    (index,) = (i for i, name in model.config.id2label.items() if name == label)
    return probs[:, index].numpy()[:, None]


def images(count: int, size: int = 32, seed: int = 7) -> NDArray[np.uint8]:
    return np.random.default_rng(seed).integers(0, 256, (count, size, size, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def vit_export(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("hf")
    source = save_vit(root / "vit")
    return source, huggingface.export_huggingface(str(source), root / "repo", "vit", "1")


def test_export_matches_transformers_at_any_batch_size(vit_export: tuple[Path, Path]) -> None:
    source, model_dir = vit_export
    batch = images(5)  # traced at batch 2, checked at 1 and 3: the batch axis is dynamic
    got = run_onnx(model_dir, batch)
    assert got.shape == (5, 1)
    assert got.dtype == np.float32
    # The processor with its defaults: resizing 32x32 to 32x32 leaves the image as it is.
    np.testing.assert_allclose(got, transformers_fake_prob(source, batch, "fake"), atol=1e-5)
    assert len(np.unique(got)) == 5  # the images are told apart: a real yardstick


def test_config_pbtxt_describes_the_graph(vit_export: tuple[Path, Path]) -> None:
    source, model_dir = vit_export
    assert sorted(p.name for p in model_dir.rglob("*")) == ["1", "config.pbtxt", "model.onnx"]
    config = local.read_config(model_dir / "config.pbtxt")
    production = local.load_production_config()
    assert config.name == "vit"
    assert config.backend == "onnxruntime"
    assert list(config.input[0].dims) == [32, 32, 3]
    assert config.input[0].data_type == model_config_pb2.TYPE_UINT8
    assert (config.output, config.dynamic_batching) == (
        production.output,
        production.dynamic_batching,
    )
    assert config.max_batch_size == production.max_batch_size
    parameters = {key: value.string_value for key, value in config.parameters.items()}
    assert parameters == {"source": str(source), "fake_label": "fake", "fake_label_index": "1"}
    assert local.local_config(base=config).backend == "python"  # usable by the local stack


def test_reexport_keeps_the_operators_serving_settings(
    tmp_path: Path, vit_export: tuple[Path, Path]
) -> None:
    tuned = local.detector_config("vit")  # 256x256, as if an older export had been MesoNet
    tuned.instance_group[0].count = 3
    tuned.parameters["source"].string_value = "older/checkpoint"
    tuned.parameters["cudnn_conv_algo_search"].string_value = "1"
    local.write_config(tmp_path / "repo" / "vit", tuned)
    model_dir = huggingface.export_huggingface(str(vit_export[0]), tmp_path / "repo", "vit", "2")
    config = local.read_config(model_dir / "config.pbtxt")
    assert config.instance_group[0].count == 3
    assert list(config.input[0].dims) == [32, 32, 3]
    assert config.parameters["source"].string_value == str(vit_export[0])
    assert config.parameters["cudnn_conv_algo_search"].string_value == "1"
    assert (model_dir / "2" / "model.onnx").is_file()


@pytest.mark.parametrize(
    ("save", "fake_label"),
    [(save_siglip, "Fake"), (save_convnext, "Deepfake"), (save_efficientnet, "ai_generated")],
)
def test_other_architectures_and_processors(
    tmp_path: Path, save: Callable[[Path], Path], fake_label: str
) -> None:
    source = save(tmp_path / "checkpoint")
    model_dir = huggingface.export_huggingface(str(source), tmp_path / "repo", "m", "1")
    batch = images(4)
    got = run_onnx(model_dir, batch)
    # The worker's resize to S x S stands in for the processor's resize and crop.
    want = transformers_fake_prob(source, batch, fake_label, do_resize=False, do_center_crop=False)
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert np.ptp(got) > 1e-3


def test_fake_index_follows_id2label(tmp_path: Path, vit_export: tuple[Path, Path]) -> None:
    batch = images(3)
    want = 1.0 - run_onnx(vit_export[1], batch)
    swapped = save_vit(tmp_path / "swapped", id2label={0: "fake", 1: "real"})
    exported = huggingface.export_huggingface(str(swapped), tmp_path / "a", "m", "1")
    np.testing.assert_allclose(run_onnx(exported, batch), want, atol=1e-6)
    overridden = huggingface.export_huggingface(
        str(vit_export[0]), tmp_path / "b", "m", "1", fake_label="REAL"
    )
    np.testing.assert_allclose(run_onnx(overridden, batch), want, atol=1e-6)


@pytest.mark.parametrize(
    ("id2label", "index"),
    [
        ({0: "Real", 1: "Fake"}, 1),
        ({0: "Deepfake", 1: "Realism"}, 0),
        ({0: "human", 1: "AI-generated"}, 1),
        ({0: "not_fake", 1: "fake"}, 1),
        ({0: "authentic", 1: "manipulated"}, 1),
    ],
)
def test_fake_label_index(id2label: dict[int, str], index: int) -> None:
    assert huggingface.fake_label_index(id2label) == index


@pytest.mark.parametrize(
    ("id2label", "fake_label"),
    [
        ({0: "LABEL_0", 1: "LABEL_1"}, None),
        ({0: "real", 1: "deepfake", 2: "ai_generated"}, None),
        ({0: "real", 1: "fake"}, "forged"),
    ],
)
def test_unidentified_fake_label_fails_clearly(
    id2label: dict[int, str], fake_label: str | None
) -> None:
    with pytest.raises(ExportError, match="fake") as raised:
        huggingface.fake_label_index(id2label, fake_label)
    assert all(repr(label) in str(raised.value) for label in id2label.values())


def test_export_without_a_fake_label_writes_nothing(tmp_path: Path) -> None:
    source = save_vit(tmp_path / "vit", id2label={0: "LABEL_0", 1: "LABEL_1"})
    with pytest.raises(ExportError, match="--fake-label"):
        huggingface.export_huggingface(str(source), tmp_path / "repo", "m", "1")
    assert not (tmp_path / "repo").exists()


def test_graph_that_drifts_from_transformers_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, vit_export: tuple[Path, Path]
) -> None:
    def drifting_to_onnx(wrapper: Any, size: int) -> bytes:
        wrapper.shift += 0.01  # e.g. a normalisation constant lost a digit
        return real_to_onnx(wrapper, size)

    real_to_onnx = huggingface.to_onnx
    monkeypatch.setattr(huggingface, "to_onnx", drifting_to_onnx)
    with pytest.raises(ExportError, match="differs from transformers"):
        huggingface.export_huggingface(str(vit_export[0]), tmp_path / "repo", "m", "1")
    assert not (tmp_path / "repo").exists()


def test_preprocessing_the_graph_cannot_reproduce_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, vit_export: tuple[Path, Path]
) -> None:
    def no_normalisation(processor: Any) -> huggingface.Preprocessing:
        return huggingface.Preprocessing(32, (1 / 255,) * 3, (0.0,) * 3)

    monkeypatch.setattr(huggingface, "preprocessing", no_normalisation)
    with pytest.raises(ExportError, match="ViTImageProcessorPil"):
        huggingface.export_huggingface(str(vit_export[0]), tmp_path / "repo", "m", "1")
    assert not (tmp_path / "repo").exists()


@pytest.mark.parametrize(
    ("problem_type", "num_labels", "activation"),
    [(None, 2, "softmax"), (None, 1, "sigmoid"), ("multi_label_classification", 3, "sigmoid")],
)
def test_output_activation(problem_type: str | None, num_labels: int, activation: str) -> None:
    config = SimpleNamespace(problem_type=problem_type, num_labels=num_labels)
    assert huggingface.output_activation(config) == activation


@pytest.mark.parametrize(
    ("size", "crop", "side"),
    [
        ({"height": 224, "width": 224}, None, 224),
        ({"shortest_edge": 384}, None, 384),
        ({"shortest_edge": 256}, {"height": 224, "width": 224}, 224),
        (512, None, 512),
    ],
)
def test_input_size(size: Any, crop: Any, side: int) -> None:
    processor = SimpleNamespace(size=size, crop_size=crop, do_center_crop=crop is not None)
    assert huggingface.input_size(processor) == side


def test_non_square_input_and_bad_version_fail_clearly(tmp_path: Path) -> None:
    processor = SimpleNamespace(size={"height": 224, "width": 160}, crop_size=None)
    with pytest.raises(ExportError, match="not square"):
        huggingface.input_size(processor)
    with pytest.raises(ExportError, match="positive integer"):
        huggingface.export_huggingface("unused", tmp_path, "m", "v1")
