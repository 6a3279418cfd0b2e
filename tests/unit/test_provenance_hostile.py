"""Hostile bytes never make provenance reading raise, hang or grow without bound."""

import multiprocessing
import random
import resource
import struct
import time
import zlib
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path

import pytest

from storage.provenance import MAX_ITEMS, MAX_TEXT, Provenance, ProvenanceHint
from tests.c2pa_signing import make_signing_chain, plain_jpeg, sign
from tests.hostile.images import IMAGE_CASES, ImageCase
from worker.c2pa_manifest import is_ai_source_type, summarise
from worker.provenance import read_provenance


def _jumbf(lbox: int, xlbox: int | None = None) -> bytes:
    """A JUMBF superbox header claiming `lbox` (or, with lbox 1, `xlbox`) bytes."""
    box = struct.pack(">I", lbox) + b"jumb"
    if xlbox is not None:
        box += struct.pack(">Q", xlbox)
    description = b"\x63\x32\x70\x61\x00\x11\x00\x10\x80\x00\x00\xaa\x00\x38\x9b\x71\x03c2pa\x00"
    return box + struct.pack(">I", 8 + len(description)) + b"jumd" + description


def _jpeg_with_app11(payload: bytes, segments: int = 1) -> bytes:
    """A JPEG with `segments` APP11 segments (C2PA's JPEG embedding) carrying `payload`."""
    content = plain_jpeg()
    head = b"JP\x00\x01"
    markers = b"".join(
        b"\xff\xeb" + struct.pack(">H", 2 + 8 + len(payload)) + head + struct.pack(">I", n + 1)
        + payload
        for n in range(segments)
    )  # fmt: skip
    return content[:2] + markers + content[2:]


def _chunk(kind: bytes, data: bytes, claimed: int | None = None) -> bytes:
    length = len(data) if claimed is None else claimed
    return struct.pack(">I", length) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_with_chunk(kind: bytes, data: bytes, claimed: int | None = None) -> bytes:
    header = _chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
    pixels = _chunk(b"IDAT", zlib.compress(b"\x00\x00"))
    signature = b"\x89PNG\r\n\x1a\n"
    return signature + header + _chunk(kind, data, claimed) + pixels + _chunk(b"IEND", b"")


_SIGNED = sign(plain_jpeg(), make_signing_chain())
_NOISE = random.Random(14)

HOSTILE: dict[str, Callable[[], bytes]] = {
    "empty": lambda: b"",
    "random-bytes": lambda: _NOISE.randbytes(4096),
    "jpeg-signature-then-random": lambda: b"\xff\xd8\xff" + _NOISE.randbytes(4096),
    "truncated-plain-jpeg": lambda: plain_jpeg()[:100],
    "signed-jpeg-cut-in-the-manifest": lambda: _SIGNED[: len(_SIGNED) // 3],
    "signed-jpeg-cut-before-the-end": lambda: _SIGNED[:-50],
    "jumbf-claiming-4-gib": lambda: _jpeg_with_app11(_jumbf(0xFFFFFFF0)),
    "jumbf-claiming-4-eib": lambda: _jpeg_with_app11(_jumbf(1, 2**62)),
    "jumbf-over-many-segments": lambda: _jpeg_with_app11(_jumbf(0x7FFFFFFF), segments=512),
    "jumbf-box-of-zero-length": lambda: _jpeg_with_app11(_jumbf(0)),
    "png-cabx-claiming-2-gib": lambda: _png_with_chunk(b"caBX", _jumbf(0x7FFFFFF0), 0x7FFFFFF0),
    "png-cabx-garbage": lambda: _png_with_chunk(b"caBX", _NOISE.randbytes(512)),
    "png-text-of-1-mib": lambda: _png_with_chunk(b"tEXt", b"parameters\x00" + b"x" * 2**20),
}


def _assert_bounded(provenance: Provenance) -> None:
    assert all(isinstance(hint, ProvenanceHint) for hint in provenance.hints)
    for text in _strings(provenance.model_dump()):
        assert len(text) <= 300
    if provenance.c2pa is not None:
        assert len(provenance.c2pa.validation_failures) <= MAX_ITEMS
        assert len(provenance.c2pa.actions) <= MAX_ITEMS


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_bytes_give_a_provenance_quickly(name: str) -> None:
    content = HOSTILE[name]()
    started = time.perf_counter()
    provenance = read_provenance(content)
    assert time.perf_counter() - started < 2
    _assert_bounded(provenance)


def test_an_unreadable_manifest_is_reported_not_raised() -> None:
    provenance = read_provenance(HOSTILE["signed-jpeg-cut-in-the-manifest"]())
    assert provenance.c2pa is not None
    assert not provenance.c2pa.present
    assert provenance.c2pa.error
    assert ProvenanceHint.C2PA_UNREADABLE in provenance.hints


def test_every_byte_of_a_manifest_flipped_in_turn() -> None:
    # The manifest is most of a small signed JPEG: flip bytes spread across it.
    for offset in range(20, len(_SIGNED) - 200, max(1, len(_SIGNED) // 200)):
        damaged = bytearray(_SIGNED)
        damaged[offset] ^= 0xFF
        _assert_bounded(read_provenance(bytes(damaged)))


@pytest.mark.parametrize("case", IMAGE_CASES, ids=lambda case: case.name)
def test_hostile_images_of_the_decoder_corpus(case: ImageCase) -> None:
    _assert_bounded(read_provenance(case.make()))


def test_a_garbled_report_is_summarised_within_bounds() -> None:
    long = "x" * 10_000
    action = {"action": long, "digitalSourceType": long}
    store = {
        "active_manifest": "m",
        "validation_state": ["not", "a", "state"],
        "validation_status": [{"code": long}] * 100 + ["not a dict"],
        "manifests": {
            "m": {
                "title": {"not": "text"},
                "claim_generator_info": [{"name": long, "version": 7}],
                "assertions": [{"label": "c2pa.actions", "data": {"actions": [action] * 100}}]
                * 100,
                "signature_info": "not a dict",
            },
            "other": None,
        },
    }
    info = summarise(store)
    _assert_bounded(Provenance(c2pa=info))
    assert info.claim_generator is not None
    assert len(info.claim_generator) <= MAX_TEXT
    assert summarise({"active_manifest": ["unhashable"], "manifests": []}).present


_IPTC = "cv.iptc.org/newscodes/digitalsourcetype/"


@pytest.mark.parametrize(
    ("uri", "ai"),
    [
        (f"http://{_IPTC}trainedAlgorithmicMedia", True),
        (f"https://{_IPTC}compositeWithTrainedAlgorithmicMedia", True),
        (f"http://{_IPTC}algorithmicMedia", True),
        (f"http://{_IPTC}digitalCapture", False),
        (f"http://{_IPTC}algorithmicallyEnhanced", False),
        ("trainedAlgorithmicMedia", False),
    ],
)
def test_which_digital_source_types_count_as_ai(uri: str, ai: bool) -> None:
    assert is_ai_source_type(uri) is ai


def _read_within(name: str, budget_mib: int, results: Connection) -> None:
    content = HOSTILE[name]()
    status = Path("/proc/self/status").read_text()
    size = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmSize"))
    limit = size * 1024 + budget_mib * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    results.send(read_provenance(content).model_dump(mode="json"))


@pytest.mark.parametrize("name", [name for name in HOSTILE if "claiming" in name])
def test_boxes_claiming_huge_sizes_stay_within_a_small_memory_budget(name: str) -> None:
    # In a forked child under an address-space limit: the native reader aborts the process
    # on an allocation it cannot make, so a crash shows in the exit code.
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_read_within, args=(name, 64, sender), daemon=True)
    child.start()
    sender.close()
    reported = receiver.recv() if receiver.poll(30) else None
    child.join(30)
    if child.exitcode is None:
        child.kill()
        child.join()
    assert child.exitcode == 0
    assert reported is not None
    assert "provenance_error" not in reported["hints"]
