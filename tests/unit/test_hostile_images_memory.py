"""No hostile image may need more memory to decode than the largest legitimate one.

Each case is decoded in a forked child under an address-space limit (RLIMIT_AS) of its
baseline plus BUDGET_MIB: an allocation past it fails there instead of growing the worker.
The largest image the pixel limit lets through needs between 448 and 512 MiB with the
default settings; the budget is that, not a guess.
"""

import pytest

from tests.hostile.images import IMAGE_CASES, ImageCase
from tests.hostile.memory import LARGEST_LEGITIMATE, decode_in_child

BUDGET_MIB = 512


@pytest.mark.parametrize("case", IMAGE_CASES, ids=lambda case: case.name)
def test_decoding_stays_within_the_budget(case: ImageCase) -> None:
    exit_code, outcome = decode_in_child(case.name, BUDGET_MIB)
    assert exit_code == 0, f"the decode crashed or was killed ({exit_code})"
    expected = (case.code.value, None) if case.code is not None else ("decoded", case.shape)
    assert outcome == expected


def test_the_budget_fits_the_largest_legitimate_image() -> None:
    assert decode_in_child(LARGEST_LEGITIMATE, BUDGET_MIB) == (0, ("decoded", (4096, 4096)))


def test_the_limit_bites() -> None:
    # Half the budget is too little: proof that the limit is in force in the child.
    assert decode_in_child(LARGEST_LEGITIMATE, BUDGET_MIB // 2) == (0, ("MemoryError", None))
