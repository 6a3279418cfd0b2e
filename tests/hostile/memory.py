"""Decode one image case as the worker does, in a child process under an address-space limit.

The limit is the address space the child uses once the file is made, plus a budget: the
budget is what decoding alone may take. A child that runs out gets MemoryError from its
allocations (reported as such); a crash or a kill shows in its exit code.
"""

import multiprocessing
import resource
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np
from PIL import Image

from storage.errors import ServiceError
from tests.hostile.images import CASES_BY_NAME, MAX_PIXELS, encode
from worker.imaging import check_image, decode_upright
from worker.settings import ImageSettings

# The largest image the pixel limit lets through, in PNG's widest 8-bit mode (RGBA): the
# yardstick for every hostile file.
LARGEST_LEGITIMATE = "largest-legitimate"


def _largest_legitimate() -> bytes:
    side = int(MAX_PIXELS**0.5) - 1
    rgba = np.empty((side, side, 4), dtype=np.uint8)
    rgba[...] = np.linspace(0, 255, side, dtype=np.uint8)[:, None, None]
    return encode(Image.fromarray(rgba, "RGBA"), "PNG", compress_level=1)


def _address_space() -> int:
    status = Path("/proc/self/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("VmSize:"))
    return int(line.split()[1]) * 1024


def _decode_within(name: str, budget_mib: int, results: Connection) -> None:
    content = _largest_legitimate() if name == LARGEST_LEGITIMATE else CASES_BY_NAME[name].make()
    settings = ImageSettings(max_pixels=MAX_PIXELS)
    limit = _address_space() + budget_mib * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        check_image(content, settings)
        height, width, _ = decode_upright(content, settings).shape
        results.send(("decoded", (height, width)))
    except ServiceError as error:
        results.send((error.code.value, None))
    except MemoryError:
        results.send(("MemoryError", None))


Outcome = tuple[str, tuple[int, int] | None]


def decode_in_child(
    name: str, budget_mib: int, timeout_s: float = 60
) -> tuple[int | None, Outcome | None]:
    """The child's exit code, and what it reported: an error code, "MemoryError", or
    "decoded" and the (height, width) decoded."""
    # From a fork server: a clean process that imported this module once, so each child
    # starts with the imports paid for and nothing else. A child forked from the test
    # process itself would inherit whatever heap earlier tests freed, and decode into that
    # without asking for address space: the limit would not bite.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_decode_within, args=(name, budget_mib, sender), daemon=True)
    child.start()
    sender.close()
    outcome: Outcome | None = receiver.recv() if receiver.poll(timeout_s) else None
    child.join(timeout_s)
    if child.exitcode is None:
        child.kill()
        child.join()
    receiver.close()
    return child.exitcode, outcome
