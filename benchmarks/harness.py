"""Shared helpers for benchmark scripts: timing loops and the `name: value unit` line."""

from __future__ import annotations

import time
from collections.abc import Callable


def report(name: str, value: float, unit: str) -> None:
    """Print one figure in the suite's format."""
    print(f"{name}: {value:.6g} {unit}", flush=True)


def calls_per_second(operation: Callable[[], object], seconds: float = 1.0,
                     warmup: int = 20) -> float:
    """How often ``operation`` completes per wall-clock second (at least ``seconds`` long)."""
    for _ in range(warmup):
        operation()
    calls = 0
    start = time.perf_counter()
    deadline = start + seconds
    batch = 1
    while True:
        for _ in range(batch):
            operation()
        calls += batch
        now = time.perf_counter()
        if now >= deadline:
            return calls / (now - start)
        batch = min(batch * 2, 4096)
