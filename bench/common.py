"""What the benchmarks share: size labels, timing, reading a lake table without Spark, writing results."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any

import pandas as pd


def parse_size(label: str | int) -> int:
    """``20k`` -> 20,000; ``1M`` -> 1,000,000; ``1.5m``; ``5000`` (an int is returned as is)."""
    if isinstance(label, int):
        return label
    label = label.strip().lower()
    factor = {"k": 1_000, "m": 1_000_000}.get(label[-1:], 1)
    return int(float(label[:-1] if factor > 1 else label) * factor)


def timed(fn: Callable, *args, **kwargs) -> tuple[Any, float]:
    """``(fn(*args, **kwargs), wall seconds)``."""
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def read_table(warehouse: str, name: str, columns: list[str] | None = None) -> pd.DataFrame:
    """A lake table's current snapshot with delta-rs (no Spark), as pandas."""
    from deltalake import DeltaTable
    return DeltaTable(os.path.join(warehouse, name)).to_pyarrow_table(columns=columns).to_pandas()


def write_json(path: str, results: dict) -> None:
    """``results`` as indented JSON at ``path`` (its folder created; what JSON cannot hold written as text)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(results, fh, indent=2, default=str)
