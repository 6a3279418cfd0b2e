"""Test data that several tiers build: tiny model checkpoints."""

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before transformers reads it: never a hub call

REAL_FAKE = {0: "real", 1: "fake"}


def save_vit(path: Path, id2label: dict[int, str] = REAL_FAKE, seed: int = 0) -> Path:
    """A ~20k-parameter ViT for 32x32 images, randomly initialised, saved like a hub
    checkpoint (imports torch and transformers, which only the `hf` extra installs)."""
    import torch
    import transformers

    torch.manual_seed(seed)
    config = transformers.ViTConfig(
        image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=1,
        num_attention_heads=2, intermediate_size=37,
        id2label=id2label, label2id={v: k for k, v in id2label.items()},
    )  # fmt: skip
    transformers.ViTForImageClassification(config).save_pretrained(path)
    transformers.ViTImageProcessorPil(size={"height": 32, "width": 32}).save_pretrained(path)
    return path
