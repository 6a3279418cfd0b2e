"""Provenance read from image bytes: C2PA manifests signed at test time, EXIF written by Pillow."""

import io
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin
from pydantic import ValidationError

from storage.jobs import JobResult, Verdict
from storage.provenance import ProvenanceHint, SignatureState
from tests.c2pa_signing import CAMERA, SigningChain, make_signing_chain, manifest, plain_jpeg, sign
from worker.provenance import ProvenanceSettings, read_provenance, with_provenance


@pytest.fixture(scope="module")
def chain() -> SigningChain:
    return make_signing_chain()


def _exif_jpeg(software: str) -> bytes:
    exif = Image.Exif()
    exif[0x0131] = software  # Software
    exif[0x010F] = "Canon"  # Make
    exif[0x0110] = "EOS 5D"  # Model
    exif.get_ifd(0x8769)[0x9003] = "2024:05:06 07:08:09"  # DateTimeOriginal
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32)).save(buffer, format="JPEG", exif=exif)
    return buffer.getvalue()


def test_a_plain_jpeg_has_no_provenance() -> None:
    provenance = read_provenance(plain_jpeg())
    assert provenance.c2pa is None
    assert provenance.exif is None
    assert provenance.hints == [ProvenanceHint.NO_PROVENANCE]


@pytest.mark.parametrize(
    "software", ["Adobe Firefly", "Stable Diffusion XL", "Midjourney v6", "ComfyUI"]
)
def test_exif_software_of_an_image_generator_is_a_hint(software: str) -> None:
    provenance = read_provenance(_exif_jpeg(software))
    assert provenance.exif is not None
    assert provenance.exif.software == software
    assert provenance.hints == [ProvenanceHint.EXIF_SOFTWARE_AI_TOOL]


def test_exif_of_a_camera_is_recorded_without_a_hint() -> None:
    provenance = read_provenance(_exif_jpeg("GIMP 2.10"))
    assert provenance.exif is not None
    assert provenance.exif.model_dump() == {
        "software": "GIMP 2.10",
        "make": "Canon",
        "model": "EOS 5D",
        "datetime_original": "2024:05:06 07:08:09",
        "artist": None,
    }
    assert provenance.hints == []


def test_generation_parameters_in_png_text_are_a_hint() -> None:
    text = PngImagePlugin.PngInfo()
    text.add_text("parameters", "a portrait, Steps: 20, Sampler: Euler a, Seed: 1")
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16)).save(buffer, format="PNG", pnginfo=text)
    provenance = read_provenance(buffer.getvalue())
    assert provenance.hints == [ProvenanceHint.PNG_GENERATION_PARAMETERS]


def test_a_signed_ai_generated_image(chain: SigningChain) -> None:
    provenance = read_provenance(sign(plain_jpeg(), chain))
    info = provenance.c2pa
    assert info is not None
    assert info.present
    assert info.claim_generator == "test-generator 1.0"
    assert info.title == "generated.jpg"
    assert info.digital_source_type == (
        "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
    )
    assert info.ai_generated
    assert info.actions == ["c2pa.created"]
    assert (info.issuer, info.signer) == ("Provenance Test Org", "Provenance Test Signer")
    # Intact, but signed by a certificate no trust list holds: its own state, not "valid".
    assert info.signature is SignatureState.UNTRUSTED
    assert info.validation_failures == ["signingCredential.untrusted"]
    assert provenance.hints == [
        ProvenanceHint.C2PA_MANIFEST,
        ProvenanceHint.C2PA_SIGNATURE_UNTRUSTED,
        ProvenanceHint.C2PA_AI_GENERATED,
    ]


def test_a_signer_chaining_to_a_configured_anchor_is_trusted(
    chain: SigningChain, tmp_path: Path
) -> None:
    anchors = tmp_path / "anchors.pem"
    anchors.write_bytes(chain.ca_pem)
    info = read_provenance(sign(plain_jpeg(), chain), anchors).c2pa
    assert info is not None
    assert info.signature is SignatureState.TRUSTED
    assert info.validation_failures == []


def test_trust_anchors_must_be_certificates(tmp_path: Path) -> None:
    anchors = tmp_path / "anchors.pem"
    anchors.write_text("not a certificate")
    with pytest.raises(ValidationError, match="holds no PEM certificate"):
        ProvenanceSettings(trust_anchors=anchors)


def test_a_camera_capture_is_not_ai_generated(chain: SigningChain) -> None:
    provenance = read_provenance(sign(plain_jpeg(), chain, manifest(CAMERA, "Camera App")))
    assert provenance.c2pa is not None
    assert provenance.c2pa.digital_source_type == CAMERA
    assert not provenance.c2pa.ai_generated
    assert ProvenanceHint.C2PA_AI_GENERATED not in provenance.hints


def test_a_png_carries_its_manifest_too(chain: SigningChain) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (24, 24)).save(buffer, format="PNG")
    signed = sign(buffer.getvalue(), chain, media_type="image/png")
    info = read_provenance(signed).c2pa
    assert info is not None
    assert info.ai_generated


def test_pixels_changed_after_signing_make_the_signature_invalid(chain: SigningChain) -> None:
    tampered = bytearray(sign(plain_jpeg(), chain))
    tampered[-100] ^= 0xFF  # in the entropy-coded pixels, after the manifest
    provenance = read_provenance(bytes(tampered))
    assert provenance.c2pa is not None
    assert provenance.c2pa.signature is SignatureState.INVALID
    assert "assertion.dataHash.mismatch" in provenance.c2pa.validation_failures
    assert ProvenanceHint.C2PA_SIGNATURE_INVALID in provenance.hints


@pytest.fixture
def manifest_server() -> Iterator[tuple[str, list[str]]]:
    """An HTTP server that records every request it gets."""
    requests: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.path)
            self.send_response(404)
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/manifest.c2pa", requests
    server.shutdown()
    server.server_close()


def test_a_remote_manifest_is_never_fetched(
    chain: SigningChain, manifest_server: tuple[str, list[str]]
) -> None:
    url, requests = manifest_server
    provenance = read_provenance(sign(plain_jpeg(), chain, remote_url=url))
    assert requests == []
    assert provenance.c2pa is not None
    assert not provenance.c2pa.present
    assert provenance.hints == [ProvenanceHint.C2PA_REMOTE_MANIFEST]


def test_provenance_is_recorded_on_the_result_and_timed(chain: SigningChain) -> None:
    result = JobResult(
        fake_probability=None, verdict=Verdict.NO_FACE, model_name="m", model_version="1"
    )
    durations: dict[str, float] = {}
    recorded = with_provenance(result, sign(plain_jpeg(), chain), ProvenanceSettings(), durations)
    assert recorded.provenance is not None
    assert recorded.provenance.c2pa is not None
    assert durations["provenance"] > 0
    off = ProvenanceSettings(enabled=False)
    assert with_provenance(result, plain_jpeg(), off, {}).provenance is None
