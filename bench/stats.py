"""Percentiles and throughput, as plain dicts that go straight into the JSON results."""

from collections.abc import Sequence

import numpy as np

PERCENTILES = (50, 95, 99)


def percentiles_ms(samples_s: Sequence[float]) -> dict[str, float | int | None]:
    """p50/p95/p99/max of durations given in seconds, in milliseconds, and their count."""
    if not samples_s:
        return {"n": 0, **{f"p{p}": None for p in PERCENTILES}, "max": None}
    values = np.asarray(samples_s, dtype=np.float64) * 1000
    summary: dict[str, float | int | None] = {"n": len(values)}
    for p in PERCENTILES:
        summary[f"p{p}"] = round(float(np.percentile(values, p)), 2)
    summary["max"] = round(float(values.max()), 2)
    return summary


def rate(count: int, seconds: float) -> float:
    return round(count / seconds, 1) if seconds > 0 else 0.0


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if not numerator or not denominator:
        return None
    return round(numerator / denominator, 2)
