"""Numeric rows cached on the executors as dense numpy blocks, for iterative distributed fits.

Forward selection, the final Newton fits and the k search make many passes over the same
numeric columns. Turning a cached DataFrame into pandas batches costs more per pass than
the arithmetic (Arrow conversion of every value, and for array columns one numpy object per
row), so :class:`MatrixBlocks` converts the columns **once** into float64 matrices of up to
``rows_per_block`` rows, stores each as one ``bytes`` value in Spark's cache (on the
executors) and hands every later pass the matrices themselves (``np.frombuffer``: no
parsing). Where they are cached depends on the session (:func:`cache_partitions`): on a
classic session in an RDD (:class:`churn_spark.classic.RddPartitions`), which ships the
stored bytes to the Python worker as they are, where a cached DataFrame's binary column is
copied into Arrow batches first (measured on 515,000 x 280 values, 1.15 GB, local[2]: 1.2-1.3 s
against 1.7-2.0 s per pass); on a Spark Connect session, which has no RDDs, in a cached
DataFrame (:class:`FramePartitions`), a pass being a ``mapInArrow`` whose small per-task
results come back with ``toArrow()``. Both run the same pass functions over the same
partitions and sum the per-task results in partition order, so they give the same numbers.
Nothing proportional to the rows reaches the driver.

The cache is split by size, not by core: partitions of about ``partition_bytes`` (256 MiB) at most,
because a partition the cache spilled to disk is read back into one heap buffer (at 5M emails,
one ~3 GB partition per core ran the driver out of heap). A pass still runs one task per core:
it reads its share of the cached partitions one after the other (a narrow ``coalesce``).

Block ``b`` is an ``(n_b, width)`` matrix whose columns are the requested columns in order,
array columns expanded to their entries (``[y, x_1 .. x_p]`` for a design matrix). A Spark ML
vector column can enter as its product with a matrix (:class:`Projected`): the LSI
fold-in ``c = d · V_k Σ_k⁻¹`` of a sparse term vector ``d`` is formed in the builder, so only
``d``'s few entries cross from the JVM, not ``k`` dense loadings per row (1M emails, the k
search's 515,000 x 300 loadings: building the blocks from the term vectors took 19 s, from
the stored loadings 27 s).
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType

from churn_spark.linalg.shipped import ship
from churn_spark.linalg.vectors import arrow_vectors_to_csr
from churn_spark.session import default_parallelism, is_connect

BLOCK_SCHEMA = "rows long, block binary"
# just under 1 MiB: the JVM holds each cached block as one byte array, and G1 allocates an array of
# half a region or more as "humongous" (whole contiguous regions, never moved; regions are 2-4 MiB at
# 4-8 GiB heaps); at 5M emails a 6g driver ran out of heap reading 16 MiB blocks back from disk
BLOCK_BYTES = 960 << 10
# ... and a pass stacks them back into matrices of ~16 MiB: a pass's fixed costs per matrix (the
# k search's ~70 models) stay few, while numpy's products run as fast as on small blocks
PASS_BYTES = 16 << 20
PARTITION_BYTES = 256 << 20


@dataclass(frozen=True)
class Projected:
    """A vector column entering the blocks as ``vector · matrix[:, :width]``.

    ``matrix`` is a ``(vector size, >= width)`` float64 array; the builder ships it to the
    executors (:func:`churn_spark.linalg.shipped.ship`). A null vector gives a row of NaNs
    (counted as nulls).
    """

    matrix: np.ndarray
    width: int


class CachedPartitions(Protocol):
    """Per-partition Python objects cached on the executors, for passes that return small results.

    ``partitions`` cached partitions holding ``count`` objects; a pass runs its function over
    the objects of each pass partition (several cached ones when coalesced) as one task.
    """

    partitions: int
    count: int

    def collect(self, per_partition: Callable[[Iterator[Any]], Iterator[Any]]) -> list[Any]:
        """Everything ``per_partition`` yields, on the driver, in partition order."""

    def frame(self, schema: str) -> DataFrame:
        """The stored rows (tuples of ``schema``) as a DataFrame, for a pass whose output has rows."""

    def unpersist(self) -> None: ...


def tree_sum_of(store: CachedPartitions, per_partition: Callable[[Iterator[Any]], Iterator[np.ndarray]]) -> Any:
    """``Σ`` of what ``per_partition`` yields over all pass partitions, added in partition order."""
    parts = store.collect(per_partition)
    if not parts:
        raise ValueError("a pass over no rows has no sum")
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    return total


class FramePartitions:
    """:class:`CachedPartitions` in a cached DataFrame: works on every session, Spark Connect too.

    ``frame``'s rows are decoded by ``decode(row values)`` in each pass; a pass is a
    ``mapInArrow`` whose results, pickled, come back to the driver with ``toArrow()``.
    """

    def __init__(self, frame: DataFrame, decode: Callable[[tuple], Any], coalesce_to: int = 0,
                 storage: StorageLevel = StorageLevel.MEMORY_AND_DISK) -> None:
        self._cached = frame.persist(storage)
        sizes = partition_sizes(self._cached)  # materialises the cache
        self.count, self.partitions = sum(sizes), len(sizes)
        coalesced = coalesce_to and self.partitions > coalesce_to
        self._passes = self._cached.coalesce(coalesce_to) if coalesced else self._cached
        self._decode = decode

    def collect(self, per_partition: Callable[[Iterator[Any]], Iterator[Any]]) -> list[Any]:
        decode = self._decode

        def run(batches):
            def stored():
                for batch in batches:
                    yield from map(decode, zip(*(column.to_pylist() for column in batch.columns), strict=True))

            for result in per_partition(stored()):
                yield pa.RecordBatch.from_pydict({"result": [pickle.dumps(result, protocol=5)]},
                                                 schema=pa.schema([("result", pa.binary())]))

        results = self._passes.mapInArrow(run, "result binary").toArrow()
        return [pickle.loads(raw) for raw in results.column("result").to_pylist()]

    def frame(self, schema: str) -> DataFrame:
        return self._passes

    def unpersist(self) -> None:
        self._cached.unpersist()


def partition_sizes(frame: DataFrame) -> list[int]:
    """The number of rows in each partition of ``frame``, in order (empty ones too): one job
    that moves one constant per row (Spark Connect has no ``getNumPartitions``)."""

    def count(batches):
        yield pa.RecordBatch.from_pydict({"rows": [sum(batch.num_rows for batch in batches)]},
                                         schema=pa.schema([("rows", pa.int64())]))

    return frame.select(F.lit(True).alias("row")).mapInArrow(count, "rows long").toArrow().column(0).to_pylist()


def cache_partitions(frame: DataFrame, decode: Callable[[tuple], Any], coalesce_to: int = 0,
                     storage: StorageLevel = StorageLevel.MEMORY_AND_DISK) -> CachedPartitions:
    """``frame``'s rows, decoded, cached: in an RDD on a classic session (faster passes), in a
    DataFrame on Spark Connect. ``coalesce_to`` > 0: a pass reads that many partitions at most."""
    if is_connect(frame.sparkSession):
        return FramePartitions(frame, decode, coalesce_to, storage)
    from churn_spark.classic import RddPartitions

    return RddPartitions(frame, decode, coalesce_to, storage)


def _as_matrix(batch: pa.RecordBatch, columns: list[str], array_widths: Mapping[str, int],
               projections: Mapping[str, np.ndarray]) -> np.ndarray:
    """The rows of an Arrow batch as one float64 matrix (nulls -> NaN); ``projections`` holds the
    (size x width) matrix of each projected vector column."""
    parts = []
    for c in columns:
        column = batch.column(c)
        if c in projections:
            matrix = projections[c]
            rows, nulls = arrow_vectors_to_csr(column, matrix.shape[0])
            dense = np.asarray(rows @ matrix, dtype=float)
            dense[nulls] = np.nan
            parts.append(dense)
        elif c in array_widths:
            # every row has the width here (see as_double): the flat values reshape into the matrix
            values = pc.list_flatten(column).to_numpy(zero_copy_only=False).astype(float, copy=False)
            parts.append(values.reshape(len(batch), array_widths[c]))
        else:
            parts.append(column.to_numpy(zero_copy_only=False).astype(float, copy=False)[:, None])
    return np.ascontiguousarray(np.hstack(parts)) if parts else np.empty((len(batch), 0))


def _blocks_of(stored: Iterator[tuple[int, bytes]], width: int, pass_bytes: int = 0) -> Iterator[np.ndarray]:
    """The stored blocks as matrices, consecutive ones stacked into one of at least ``pass_bytes``."""
    pending, size = [], 0
    for rows, raw in stored:
        pending.append(np.frombuffer(raw, dtype=np.float64).reshape(rows, width))
        size += pending[-1].nbytes
        if size >= pass_bytes:
            yield pending[0] if len(pending) == 1 else np.vstack(pending)
            pending, size = [], 0
    if pending:
        yield pending[0] if len(pending) == 1 else np.vstack(pending)


class MatrixBlocks:
    """``df[columns]`` as cached float64 row blocks; ``width`` = number of matrix columns.

    ``columns`` are numeric columns, ``array<double>`` columns of a fixed length
    (``array_widths[name]``), or vector columns entering as their product with a matrix
    (``projected[name]``, ``width`` entries). Nulls become NaN, and so does every entry of an
    array that is null or not of its width, or of a null vector: :meth:`column_moments`
    counts them. The rows are counted first (``df`` is evaluated once more, usually cheaply: a
    count reads no values): an input with partitions of more than ``partition_bytes`` of blocks
    is split (a shuffle); otherwise its partitions are kept. A pass runs one task per core and
    hands its functions the stored blocks stacked into matrices of ``pass_bytes`` or more.
    """

    def __init__(self, df: DataFrame, columns: list[str], array_widths: dict[str, int] | None = None,
                 rows_per_block: int | None = None, projected: Mapping[str, Projected] | None = None,
                 partition_bytes: int = PARTITION_BYTES, pass_bytes: int = PASS_BYTES) -> None:
        array_widths = dict(array_widths or {})
        projected = dict(projected or {})
        for c in columns:
            if isinstance(df.schema[c].dataType, ArrayType) and c not in array_widths:
                raise ValueError(f"array column {c!r} needs its width in array_widths")
        self.columns, self.pass_bytes = list(columns), pass_bytes
        self.width = sum(projected[c].width if c in projected else array_widths.get(c, 1) for c in columns)
        # stored blocks of at most BLOCK_BYTES (wider rows than BLOCK_BYTES / 128 make 16-row blocks)
        rows_per_block = rows_per_block or max(16, BLOCK_BYTES // (8 * max(self.width, 1)))
        names = self.columns

        def block_batch(matrix: np.ndarray) -> pa.RecordBatch:
            return pa.RecordBatch.from_pydict({"rows": [matrix.shape[0]], "block": [matrix.tobytes()]},
                                              schema=pa.schema([("rows", pa.int64()), ("block", pa.binary())]))

        shipped = {c: ship(df.sparkSession, p.matrix) for c, p in projected.items()}

        def to_blocks(batches):
            # each projection's first `width` columns, made contiguous once per task, not per batch
            projections = {c: np.ascontiguousarray(shipped[c].value[:, : p.width]) for c, p in projected.items()}
            pending: list[np.ndarray] = []
            for batch in batches:
                pending.append(_as_matrix(batch, names, array_widths, projections))
                rows = sum(len(m) for m in pending)
                if rows >= rows_per_block:
                    stacked = np.vstack(pending)
                    for start in range(0, rows - rows_per_block + 1, rows_per_block):
                        yield block_batch(np.ascontiguousarray(stacked[start : start + rows_per_block]))
                    rest = stacked[rows - rows % rows_per_block :]
                    pending = [rest] if len(rest) else []
            if pending:
                yield block_batch(np.ascontiguousarray(np.vstack(pending)))

        def as_double(c: str):
            if c in projected:
                return F.col(c)
            if c not in array_widths:
                return F.col(c).cast("double")
            # a null or short array would stop the conversion: it becomes a row of NaNs (= nulls)
            value, width = F.col(c).cast("array<double>"), array_widths[c]
            return F.when(F.size(value) == width, value).otherwise(F.array_repeat(F.lit(float("nan")), width))

        self.spark = df.sparkSession
        frame = df.select(*[as_double(c) for c in columns]).toDF(*columns)
        cores = default_parallelism(self.spark)
        in_partitions = partition_sizes(frame)
        self.rows = sum(in_partitions)
        needed = -(-self.rows * 8 * max(self.width, 1) // partition_bytes)
        if len(in_partitions) < needed:  # only then a shuffle (columns drawn with rand() keep their values)
            frame = frame.repartition(needed)
        self._store = cache_partitions(frame.mapInArrow(to_blocks, BLOCK_SCHEMA),
                                       lambda row: (int(row[0]), bytes(row[1])), coalesce_to=cores)
        self.partitions = self._store.partitions
        self.n_blocks = self._store.count  # the cache is materialised: later passes read the blocks

    def tree_sum(self, partial: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """``Σ_b partial(block_b)`` over all blocks (1-d float64 vectors of one length): one Spark job."""
        width, pass_bytes = self.width, self.pass_bytes

        def partial_sums(stored):
            total = None
            for block in _blocks_of(stored, width, pass_bytes):
                part = np.asarray(partial(block), dtype=np.float64)
                total = part if total is None else total + part
            if total is not None:
                yield total

        return tree_sum_of(self._store, partial_sums)

    def map_frames(self, function: Callable[[np.ndarray], pd.DataFrame], schema: str) -> DataFrame:
        """A DataFrame of ``function(block)`` for every block (each a pandas frame of ``schema``)."""
        width, pass_bytes = self.width, self.pass_bytes

        def frames(batches):
            for pdf in batches:
                yield from map(function, _blocks_of(zip(pdf["rows"], pdf["block"], strict=True), width, pass_bytes))

        # the output rows go back to the JVM in Arrow batches, so the blocks enter as a DataFrame
        return self._store.frame(BLOCK_SCHEMA).mapInPandas(frames, schema)

    def partials(self, partial: Callable[[np.ndarray], np.ndarray]) -> list[np.ndarray]:
        """``partial(block)`` of every matrix a pass sees, on the driver (small summaries only)."""
        width, pass_bytes = self.width, self.pass_bytes

        def per_block(stored):
            for block in _blocks_of(stored, width, pass_bytes):
                yield np.asarray(partial(block), dtype=np.float64)

        return self._store.collect(per_block)

    def column_moments(self) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
        """Rows, and per matrix column the mean, population standard deviation and NaN count (nulls).

        One pass; each block's moments are merged pairwise (Chan, Golub & LeVeque), which stays
        accurate for columns with a large mean, first within a task, so the driver receives one
        small vector per task however many blocks there are. Means and deviations are NaN for
        columns with NaNs.
        """
        width, pass_bytes = self.width, self.pass_bytes

        def partition_moments(stored):
            total, nans = (0, np.zeros(width), np.zeros(width)), np.zeros(width)
            for block in _blocks_of(stored, width, pass_bytes):
                mean = block.mean(axis=0) if len(block) else np.zeros(width)
                total = merge_moments(total, (len(block), mean, ((block - mean) ** 2).sum(axis=0)))
                nans += np.isnan(block).sum(axis=0)
            yield np.concatenate([[total[0]], total[1], total[2], nans])

        total = (0, np.zeros(width), np.zeros(width))
        nans = np.zeros(width)
        for part in self._store.collect(partition_moments):  # one small vector per task
            total = merge_moments(total, (part[0], part[1 : width + 1], part[width + 1 : 2 * width + 1]))
            nans += part[2 * width + 1 :]
        n, mean, m2 = total
        sd = np.sqrt(m2 / n) if n else np.full(width, np.nan)
        return int(n), mean, sd, nans.astype(np.int64)

    def unpersist(self) -> None:
        self._store.unpersist()


def merge_moments(a: tuple, b: tuple) -> tuple:
    """Count, mean and sum of squared deviations of two row sets combined (Chan et al.)."""
    n_a, mean_a, m2_a = a
    n_b, mean_b, m2_b = b
    n = n_a + n_b
    if n == 0:
        return a
    delta = mean_b - mean_a
    return n, mean_a + delta * (n_b / n), m2_a + m2_b + delta**2 * (n_a * n_b / n)
