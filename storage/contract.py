"""The detector contract every served detector keeps, checked from Triton's metadata.

One UINT8 `[-1, H, W, 3]` RGB input, one FP32 output named `fake_prob` (the probability
that the face or image was manipulated). The gateway lists the models that keep it; the
worker refuses to call one that does not.
"""

from dataclasses import dataclass
from typing import Any

DETECTOR_OUTPUT = "fake_prob"


@dataclass(frozen=True)
class ModelSignature:
    name: str
    versions: tuple[str, ...]
    input_name: str
    output_name: str
    height: int
    width: int


def parse_signature(metadata: dict[str, Any]) -> ModelSignature:
    """The checked signature; ValueError says how the model breaks the contract."""
    inputs = metadata.get("inputs")
    outputs = metadata.get("outputs")
    if not isinstance(inputs, list) or not isinstance(outputs, list):
        raise ValueError("model metadata has no inputs or outputs")
    if len(inputs) != 1 or len(outputs) != 1:
        raise ValueError("the detector must have exactly one input and one output")
    image, score = inputs[0], outputs[0]
    shape = [int(d) for d in image["shape"]]
    if image["datatype"] != "UINT8" or len(shape) != 4 or shape[3] != 3:
        raise ValueError(f"input must be UINT8 [-1, H, W, 3], got {image['datatype']} {shape}")
    if score["datatype"] != "FP32" or score["name"] != DETECTOR_OUTPUT:
        raise ValueError(f"output must be FP32 {DETECTOR_OUTPUT!r}, got {score['name']!r}")
    return ModelSignature(
        name=str(metadata["name"]),
        versions=tuple(str(v) for v in metadata.get("versions") or []),
        input_name=str(image["name"]),
        output_name=str(score["name"]),
        height=shape[1],
        width=shape[2],
    )
