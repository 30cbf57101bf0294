"""Numeric rows cached on the executors as dense numpy blocks, for iterative distributed fits.

Forward selection, the final Newton fits and the k search make many passes over the same
numeric columns. Turning a cached DataFrame into pandas batches costs more per pass than
the arithmetic (Arrow conversion of every value, and for array columns one numpy object per
row), so :class:`MatrixBlocks` converts the columns **once** into float64 matrices of up to
``rows_per_block`` rows, stores each as one binary value in a cached DataFrame (Spark's
block manager, on the executors) and hands every later pass the matrices themselves
(``np.frombuffer``: no copy, no parsing). Nothing proportional to the rows reaches the driver;
a pass returns one partial result per block, combined with ``treeReduce``.

Block ``b`` is an ``(n_b, width)`` matrix whose columns are the requested columns in order,
array columns expanded to their entries (``[y, x_1 .. x_p]`` for a design matrix).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType

BLOCK_SCHEMA = "rows long, block binary"


def _as_matrix(pdf: pd.DataFrame, columns: list[str], array_widths: dict[str, int]) -> np.ndarray:
    parts = []
    for c in columns:
        if c in array_widths:
            values = pdf[c].to_numpy()
            parts.append(np.stack(values).astype(float, copy=False) if len(values)
                         else np.empty((0, array_widths[c])))
        else:
            parts.append(pdf[c].to_numpy(dtype=float)[:, None])
    return np.ascontiguousarray(np.hstack(parts)) if parts else np.empty((len(pdf), 0))


def _blocks_of(batches: Iterator[pd.DataFrame], width: int) -> Iterator[np.ndarray]:
    for pdf in batches:
        for rows, raw in zip(pdf["rows"], pdf["block"], strict=True):
            yield np.frombuffer(raw, dtype=np.float64).reshape(int(rows), width)


class MatrixBlocks:
    """``df[columns]`` as cached float64 row blocks; ``width`` = number of matrix columns.

    ``columns`` are numeric columns or ``array<double>`` columns of a fixed length
    (``array_widths[name]``). Nulls become NaN: check them on the DataFrame first.
    The blocks are coalesced to the default parallelism (one task per core and pass).
    """

    def __init__(self, df: DataFrame, columns: list[str], array_widths: dict[str, int] | None = None,
                 rows_per_block: int = 65_536) -> None:
        array_widths = dict(array_widths or {})
        for c in columns:
            if isinstance(df.schema[c].dataType, ArrayType) and c not in array_widths:
                raise ValueError(f"array column {c!r} needs its width in array_widths")
        self.columns = list(columns)
        self.width = sum(array_widths.get(c, 1) for c in columns)
        names = self.columns

        def block_frame(pdf: pd.DataFrame) -> pd.DataFrame:
            matrix = _as_matrix(pdf, names, array_widths)
            return pd.DataFrame({"rows": [matrix.shape[0]], "block": [matrix.tobytes()]})

        def to_blocks(batches):
            pending = pd.DataFrame()
            for pdf in batches:
                pending = pd.concat([pending, pdf], ignore_index=True) if len(pending) else pdf
                while len(pending) >= rows_per_block:
                    yield block_frame(pending.iloc[:rows_per_block])
                    pending = pending.iloc[rows_per_block:].reset_index(drop=True)
            if len(pending):
                yield block_frame(pending)

        selected = [F.col(c).cast("array<double>") if c in array_widths else F.col(c).cast("double")
                    for c in columns]
        partitions = df.sparkSession.sparkContext.defaultParallelism
        self.frame = (df.select(*selected).toDF(*columns).coalesce(partitions)
                      .mapInPandas(to_blocks, BLOCK_SCHEMA).cache())
        self.n_blocks = self.frame.count()  # materialises the cache: later passes read the blocks

    def tree_sum(self, partial: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """``Σ_b partial(block_b)`` over all blocks (1-d float64 vectors of one length): one Spark job."""
        width = self.width

        def partial_sums(batches):
            total = None
            for block in _blocks_of(batches, width):
                part = np.asarray(partial(block), dtype=np.float64)
                total = part if total is None else total + part
            if total is not None:
                yield pd.DataFrame({"partial": [total.tobytes()]})

        parts = self.frame.mapInPandas(partial_sums, "partial binary")
        return parts.rdd.map(lambda row: np.frombuffer(row[0], dtype=np.float64)).treeReduce(np.add, depth=2)

    def map_frames(self, function: Callable[[np.ndarray], pd.DataFrame], schema: str) -> DataFrame:
        """A DataFrame of ``function(block)`` for every block (each a pandas frame of ``schema``)."""
        width = self.width

        def frames(batches):
            for block in _blocks_of(batches, width):
                yield function(block)

        return self.frame.mapInPandas(frames, schema)

    def partials(self, partial: Callable[[np.ndarray], np.ndarray]) -> list[np.ndarray]:
        """``partial(block)`` of every block, on the driver (for small per-block summaries only)."""
        width = self.width

        def per_block(batches):
            for block in _blocks_of(batches, width):
                yield pd.DataFrame({"partial": [np.asarray(partial(block), dtype=np.float64).tobytes()]})

        rows = self.frame.mapInPandas(per_block, "partial binary").collect()
        return [np.frombuffer(row[0], dtype=np.float64) for row in rows]

    def unpersist(self) -> None:
        self.frame.unpersist()
