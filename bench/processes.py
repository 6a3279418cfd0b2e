"""CPU time and resident memory of the stack's processes (each with its children)."""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psutil


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) used so far by a process and its live children."""
    total = 0.0
    for process in _tree(pid):
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system + times.children_user + times.children_system
    return total


def _own_cpu_s() -> float:
    times = psutil.Process().cpu_times()
    return float(times.user + times.system)


@contextmanager
def cpu_account(pids: dict[str, int], result: dict[str, Any], images: int) -> Iterator[None]:
    """Adds `cpu_ms_per_image` to `result`: each process tree's CPU time over the block, and
    the benchmark's own (its servers are its children, so only the process itself)."""
    before = {name: tree_cpu_s(pid) for name, pid in pids.items()}
    before["bench client"] = _own_cpu_s()
    yield
    used = {name: tree_cpu_s(pid) - before[name] for name, pid in pids.items()}
    used["bench client"] = _own_cpu_s() - before["bench client"]
    per_image = {
        name: round(seconds * 1000 / max(images, 1), 2)
        for name, seconds in sorted(used.items(), key=lambda item: -item[1])
    }
    per_image["all"] = round(sum(used.values()) * 1000 / max(images, 1), 2)
    result["cpu_ms_per_image"] = per_image


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its children (a prefork worker is a tree)."""
    total = 0
    for process in _tree(pid):
        try:
            total += process.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return round(total / 2**20, 1)


@contextmanager
def memory_sampler(
    pids: dict[str, int], interval_s: float = 0.5
) -> Iterator[list[dict[str, float]]]:
    """Samples `{"t": seconds, name: MiB, ...}` in the background until the block ends."""
    samples: list[dict[str, float]] = []
    stop = threading.Event()
    started = time.monotonic()

    def sample() -> None:
        while not stop.is_set():
            row = {"t": round(time.monotonic() - started, 1)}
            row.update({name: tree_rss_mb(pid) for name, pid in pids.items()})
            samples.append(row)
            stop.wait(interval_s)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield samples
    finally:
        stop.set()
        thread.join()


def memory_summary(samples: list[dict[str, float]], names: list[str]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for name in names:
        values = [row[name] for row in samples if row.get(name)]
        if values:
            summary[name] = {"start_mb": values[0], "peak_mb": max(values), "end_mb": values[-1]}
    return summary
