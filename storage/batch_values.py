"""Whether a value parsed from a batch row can be stored and served back as it is.

JSON gives values that MongoDB refuses (integers past 64 bits, keys with NUL, lone UTF-16
surrogates, which are not UTF-8, nesting deeper than its limit) or that JSON responses
cannot carry (NaN, infinities). Such a row is a row error, never a failed insert that
would stop the whole batch.
"""

import math
from dataclasses import dataclass
from typing import Any

from storage.errors import ErrorCode

# Stands in the decoded text for bytes that were not text (a lone surrogate: no decoder
# produces one from valid input).
UNDECODABLE = "\udcff"
# Levels of objects and arrays in a row's metadata (MongoDB allows 100 in a whole document).
MAX_METADATA_DEPTH = 32
_INT64 = (-(2**63), 2**63 - 1)


@dataclass(frozen=True)
class ValueProblem:
    code: ErrorCode
    message: str


def check_value(value: Any, depth: int = 0) -> ValueProblem | None:
    """The first reason `value` cannot be stored, or None."""
    if isinstance(value, str):
        return _check_text(value)
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        if not _INT64[0] <= value <= _INT64[1]:
            return ValueProblem(ErrorCode.INVALID_REQUEST, "has an integer beyond 64 bits")
        return None
    if isinstance(value, float):
        if not math.isfinite(value):
            return ValueProblem(ErrorCode.INVALID_REQUEST, "has a number that is not finite")
        return None
    if depth >= MAX_METADATA_DEPTH:
        message = f"is nested deeper than {MAX_METADATA_DEPTH} levels"
        return ValueProblem(ErrorCode.INVALID_REQUEST, message)
    if isinstance(value, dict):
        for key, item in value.items():
            problem = _check_key(key) or check_value(item, depth + 1)
            if problem is not None:
                return problem
        return None
    if isinstance(value, list):
        for item in value:
            if (problem := check_value(item, depth + 1)) is not None:
                return problem
        return None
    return ValueProblem(ErrorCode.INVALID_REQUEST, f"has a value of type {type(value).__name__}")


def _check_text(text: str) -> ValueProblem | None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return ValueProblem(
            ErrorCode.INVALID_ENCODING, "has text that is not valid Unicode (a lone surrogate)"
        )
    if "\x00" in text:
        return ValueProblem(ErrorCode.INVALID_ENCODING, "has NUL characters")
    return None


def _check_key(key: Any) -> ValueProblem | None:
    if not isinstance(key, str):
        return ValueProblem(ErrorCode.INVALID_REQUEST, "has a key that is not a string")
    if key.startswith("$"):
        return ValueProblem(ErrorCode.INVALID_REQUEST, "has a key that starts with '$'")
    return _check_text(key)
