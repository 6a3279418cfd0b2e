"""Export MesoNet weights to a Triton-ready model.onnx, refusing any graph that is not exact.

    python -m model_repository.export mesonet --weights Meso4_DF.h5 --output-dir model_repository
    python -m model_repository.export huggingface --source CHECKPOINT_DIR_OR_HUB_ID
        --output-dir model_repository --name NAME [--version 1] [--fake-label LABEL]

Every export is checked with ONNX Runtime against the NumPy reference forward pass; a graph
that disagrees by more than 1e-4 is never written. Writes are atomic (tmp file + rename), so
a crash or a concurrent exporter never leaves a truncated model for Triton to load.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray

from model_repository import local, mesonet_reference
from model_repository.files import write_atomic
from model_repository.mesonet import INPUT_SIZE, MesoNet, Variant, build_model, load_weights

log = logging.getLogger(__name__)

UPSTREAM_WEIGHTS_BASE = "https://github.com/DariusAf/MesoNet/raw/master/weights/"
UPSTREAM_WEIGHTS_URL = UPSTREAM_WEIGHTS_BASE + "MesoInception_DF.h5"
# sha256 of the upstream blobs, so a proxy error page or truncated download is never exported.
UPSTREAM_WEIGHTS_SHA256 = {
    "Meso4_DF.h5": "036ed30d04ffd9c7506f825b97c86aa64915f5818931da96817b169aad790af5",
    "Meso4_F2F.h5": "bcfda015d217b9f8d6557693edbdf9f4e79cfd22672541968dd0e2954462b5d7",
    "MesoInception_DF.h5": "234586d40058e76ef8b6f27ca4b63c06e31c2a5a69c0d8ba6f30b1468ab7bafa",
    "MesoInception_F2F.h5": "d4533ac8a3197dc35c47405d23d99e888c1d0135e267e03540c7451feaccff3f",
}
PARITY_TOLERANCE = 1e-4
PARITY_SEED = 20180900  # arXiv 1809.00888


class ExportError(RuntimeError):
    """The exported graph disagrees with the reference, or the weights could not be fetched."""


@dataclass(frozen=True)
class ExportResult:
    path: Path
    variant: Variant
    max_abs_diff: float
    seconds: float


def parity_images(count: int = 8, seed: int = PARITY_SEED) -> NDArray[np.uint8]:
    """Varied inputs: black, white, gradients, a checkerboard, dark noise, then uniform noise."""
    images = np.random.default_rng(seed).integers(
        0, 256, (max(count, 5), INPUT_SIZE, INPUT_SIZE, 3), dtype=np.uint8
    )
    ys, xs = np.mgrid[0:INPUT_SIZE, 0:INPUT_SIZE] * 255 // (INPUT_SIZE - 1)
    images[0], images[1] = 0, 255  # saturation at both ends
    images[2] = np.stack([xs, ys, 255 - xs], axis=-1)  # smooth ramps
    images[3] = ((ys // 8 + xs // 8) % 2 * 255)[..., None]  # sharp edges, padding at borders
    images[4] //= 16  # low-contrast, dark
    return images[:count]


def check_parity(model_bytes: bytes, net: MesoNet, images: NDArray[np.uint8]) -> float:
    """Max |ONNX Runtime - NumPy reference| on `images`; raise ExportError above tolerance."""
    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    (got,) = session.run([local.OUTPUT_NAME], {local.INPUT_NAME: images})
    want = mesonet_reference.reference_fake_prob(net, images)
    if got.shape != want.shape:
        raise ExportError(f"ONNX output shape {got.shape} != reference {want.shape}")
    diff = float(np.max(np.abs(got.astype(np.float64) - want)))
    if not diff <= PARITY_TOLERANCE:  # also catches NaN
        raise ExportError(
            f"ONNX graph differs from the NumPy reference by {diff:.3g} "
            f"(> {PARITY_TOLERANCE}); refusing to write it"
        )
    return diff


def export_mesonet(
    weights: Path, output: Path, variant: Variant | Literal["auto"] = "auto"
) -> ExportResult:
    """Build, check and atomically write model.onnx from a MesoNet HDF5 weight file."""
    start = time.perf_counter()
    net = load_weights(weights, variant)
    model = build_model(net, input_name=local.INPUT_NAME, output_name=local.OUTPUT_NAME)
    payload = model.SerializeToString()
    diff = check_parity(payload, net, parity_images())
    write_atomic(output, payload)
    result = ExportResult(output, net.variant, diff, time.perf_counter() - start)
    log.info("exported %s (%s), max abs diff %.2g", output, net.variant, diff)
    return result


def ensure_onnx_model(onnx_path: Path, weights: str, cache_dir: Path) -> Path:
    """Export to `onnx_path` unless it exists; fetch upstream weights if `weights` is missing."""
    if not onnx_path.is_file():
        export_mesonet(resolve_weights(weights, cache_dir), onnx_path)
    return onnx_path


def ensure_mesonet_model(
    repository: Path, name: str, weights: str, cache_dir: Path, *, version: int = 1
) -> Path:
    """`repository/<name>/` with its config and `<version>/model.onnx`, exported if missing."""
    model_dir = repository / name
    ensure_onnx_model(model_dir / str(version) / "model.onnx", weights, cache_dir)
    if not (model_dir / "config.pbtxt").is_file():
        local.write_config(model_dir, local.detector_config(name))
    return model_dir


def resolve_weights(weights: str, cache_dir: Path) -> Path:
    """A local file as is; an http(s) URL, or else the upstream file of that name, cached."""
    if Path(weights).is_file():
        return Path(weights)
    if urlparse(weights).scheme in ("http", "https"):
        url = weights
    elif Path(weights).name in UPSTREAM_WEIGHTS_SHA256:
        url = UPSTREAM_WEIGHTS_BASE + Path(weights).name
    else:
        url = UPSTREAM_WEIGHTS_URL
    if url != weights:
        log.warning("weights %r not found; using upstream %s", weights, url)
    cached = cache_dir / Path(urlparse(url).path).name
    if not cached.is_file():
        _download(url, cached)
    return cached


def _download(url: str, target: Path) -> None:
    log.info("downloading %s", url)
    # The scheme is checked by resolve_weights: only http(s), never file:// or ftp://.
    try:
        with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310
            payload: bytes = response.read()
    except OSError as error:  # URLError, HTTPError and timeouts are all OSErrors
        raise ExportError(f"could not download {url}: {error}") from error
    expected = UPSTREAM_WEIGHTS_SHA256.get(Path(urlparse(url).path).name)
    if url.startswith(UPSTREAM_WEIGHTS_BASE) and hashlib.sha256(payload).hexdigest() != expected:
        raise ExportError(f"{url}: unexpected content (sha256 mismatch)")
    write_atomic(target, payload)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m model_repository.export",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="model", required=True)
    meso = commands.add_parser("mesonet", help="MesoNet Keras HDF5 weights")
    meso.add_argument("--weights", required=True, help="HDF5 path or http(s) URL")
    meso.add_argument("--output-dir", type=Path, required=True, help="model repository root")
    meso.add_argument("--name", default=local.MODEL_NAME)
    meso.add_argument("--version", type=int, default=1)
    meso.add_argument("--variant", choices=["auto", "meso4", "mesoinception4"], default="auto")
    meso.add_argument(
        "--cache-dir", type=Path, default=Path.home() / ".cache" / "deepfake-detection-service"
    )
    hf = commands.add_parser(
        "huggingface", help="a transformers image-classification checkpoint (the [hf] extra)"
    )
    hf.add_argument("--source", required=True, help="checkpoint directory, or a hub id")
    hf.add_argument("--output-dir", type=Path, required=True, help="model repository root")
    hf.add_argument("--name", required=True, help="Triton model name")
    hf.add_argument("--version", default="1", help="version folder (a positive integer)")
    hf.add_argument("--fake-label", help="the id2label entry meaning fake (default: by name)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    if args.model == "huggingface":
        # Imported here: torch and transformers come only with the optional [hf] extra.
        from model_repository.huggingface import export_huggingface

        model_dir = export_huggingface(
            args.source, args.output_dir, args.name, args.version, fake_label=args.fake_label
        )
        print(model_dir)
        return
    model_dir = args.output_dir / args.name
    output = model_dir / str(args.version) / "model.onnx"
    result = export_mesonet(resolve_weights(args.weights, args.cache_dir), output, args.variant)
    # An existing config (the committed production one, say) is the operator's: keep it.
    if not (model_dir / "config.pbtxt").is_file():
        local.write_config(model_dir, local.detector_config(args.name))
    print(
        f"{result.path}: {result.variant}, max |onnx - reference| = {result.max_abs_diff:.2g}, "
        f"{result.seconds:.1f} s"
    )


if __name__ == "__main__":
    main()
