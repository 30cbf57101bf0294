"""MatrixBlocks: the cached float64 row blocks hold exactly the DataFrame's values.

Every test runs with both stores: the RDD of a classic session and the cached DataFrame that a
Spark Connect session uses (which works on a classic session too).
"""

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from churn_spark.classic import RddPartitions
from churn_spark.linalg import blocks as blocks_module
from churn_spark.linalg.blocks import FramePartitions, MatrixBlocks, partition_sizes


@pytest.fixture(autouse=True, params=["rdd", "frame"])
def store(request, monkeypatch):
    kind = {"rdd": RddPartitions, "frame": FramePartitions}[request.param]
    monkeypatch.setattr(blocks_module, "cache_partitions", kind)
    return kind


def cached_blocks(blocks: MatrixBlocks) -> list[list[tuple[int, int]]]:
    """(rows, bytes) of every cached block, per cached partition (empty ones too)."""
    store = blocks._store
    if isinstance(store, RddPartitions):
        return store._cached.mapPartitions(lambda stored: [[(rows, len(raw)) for rows, raw in stored]]).collect()

    def listing(batches):
        pairs = [(r, len(b)) for batch in batches
                 for r, b in zip(batch.column(0).to_pylist(), batch.column(1).to_pylist(), strict=True)]
        yield pa.RecordBatch.from_pylist([{"rows": [p[0] for p in pairs], "bytes": [p[1] for p in pairs]}])

    got = store._cached.mapInArrow(listing, "rows array<long>, bytes array<long>").collect()
    return [list(zip(row["rows"], row["bytes"], strict=True)) for row in got]


def pass_partitions(blocks: MatrixBlocks) -> int:
    store = blocks._store
    return store._passes.getNumPartitions() if isinstance(store, RddPartitions) else len(partition_sizes(store._passes))


@pytest.fixture(scope="module")
def frame(spark):
    rng = np.random.default_rng(3)
    n = 103
    pdf = pd.DataFrame({"y": rng.integers(0, 2, n).astype(float), "a": rng.normal(size=n),
                        "v": [list(row) for row in rng.normal(size=(n, 4))], "i": rng.integers(0, 9, n)})
    return spark.createDataFrame(pdf, "y double, a double, v array<double>, i long").repartition(5), pdf


def test_blocks_hold_the_rows_in_column_order(frame):
    df, pdf = frame
    # blocks of 10 rows x 6 values x 8 bytes = 480 bytes; a pass stacks three into 1,440 >= 1,000
    blocks = MatrixBlocks(df, ["y", "v", "i"], array_widths={"v": 4}, rows_per_block=10, pass_bytes=1000)
    try:
        assert blocks.width == 6
        expected = np.column_stack([pdf["y"], np.stack(pdf["v"]), pdf["i"]])
        # sums of the columns and of their outer products: any lost, repeated or shuffled value changes them
        total = blocks.tree_sum(lambda b: np.concatenate([[len(b)], b.sum(axis=0), (b.T @ b).ravel()]))
        assert total[0] == len(pdf)
        np.testing.assert_allclose(total[1:7], expected.sum(axis=0), rtol=1e-12)
        np.testing.assert_allclose(total[7:].reshape(6, 6), expected.T @ expected, rtol=1e-12)
        rows = blocks.map_frames(lambda b: pd.DataFrame({"y": b[:, 0], "i": b[:, 5]}), "y double, i double")
        got = rows.toPandas().sort_values(["i", "y"]).to_numpy()
        want = pdf[["y", "i"]].astype(float).sort_values(["i", "y"]).to_numpy()
        np.testing.assert_array_equal(got, want)
        stored = [rows for part in cached_blocks(blocks) for rows, _ in part]
        assert len(stored) == blocks.n_blocks and max(stored) == 10  # the last of a partition less
        parts = blocks.partials(lambda b: np.array([len(b)]))
        assert sum(p[0] for p in parts) == len(pdf) and max(p[0] for p in parts) == 30
        assert len(parts) < blocks.n_blocks
    finally:
        blocks.unpersist()


def test_array_column_needs_its_width(frame):
    df, _ = frame
    with pytest.raises(ValueError, match="array_widths"):
        MatrixBlocks(df, ["y", "v"])


def test_column_moments_match_numpy_and_count_nulls(spark):
    rng = np.random.default_rng(5)
    values = rng.normal(1e6, 3.0, size=(57, 3))  # a large mean: the pairwise merge must keep the deviation
    pdf = pd.DataFrame(values, columns=["a", "b", "c"])
    pdf.loc[[4, 9], "c"] = None
    df = spark.createDataFrame(pdf.astype(object).where(pdf.notna(), None), "a double, b double, c double")
    blocks = MatrixBlocks(df.repartition(3), ["a", "b", "c"], rows_per_block=8)
    try:
        n, mean, sd, nans = blocks.column_moments()
    finally:
        blocks.unpersist()
    assert n == 57 and list(nans) == [0, 0, 2]
    np.testing.assert_allclose(mean[:2], values[:, :2].mean(axis=0), rtol=1e-14)
    np.testing.assert_allclose(sd[:2], values[:, :2].std(axis=0), rtol=1e-9)


def test_null_or_short_arrays_become_nan_rows_counted_by_the_moments(spark):
    df = spark.createDataFrame([(1.0, [1.0, 2.0]), (2.0, None), (3.0, [5.0]), (4.0, [3.0, 4.0])],
                               "a double, v array<double>")
    blocks = MatrixBlocks(df.coalesce(1), ["a", "v"], array_widths={"v": 2})
    try:
        n, mean, _, nans = blocks.column_moments()
    finally:
        blocks.unpersist()
    assert n == 4 and list(nans) == [0, 2, 2]
    assert mean[0] == 2.5


def test_blocks_are_cached_in_partitions_of_bounded_size(frame):
    df, pdf = frame
    # 103 rows x 6 values x 8 bytes = 4,944 bytes; at most 1,000 bytes per partition: one input
    # partition is split into 5 (a shuffle); 40 small ones are kept as they are
    for source, partitions in ((df.coalesce(1), 5), (df.repartition(40), 40)):
        blocks = MatrixBlocks(source, ["y", "v", "i"], array_widths={"v": 4}, partition_bytes=1000)
        try:
            assert blocks.rows == len(pdf) and blocks.partitions == partitions
            sizes = [sum(rows for rows, _ in part) for part in cached_blocks(blocks)]
            # at most one row over the bound
            assert len(sizes) == partitions and sum(sizes) == len(pdf) and max(sizes) * 6 * 8 <= 1000 + 6 * 8
            # a pass runs one task per core over the cached partitions, and sees every row once
            assert pass_partitions(blocks) == blocks.spark.sparkContext.defaultParallelism
            expected = np.column_stack([pdf["y"], np.stack(pdf["v"]), pdf["i"]])
            total = blocks.tree_sum(lambda b: np.concatenate([[len(b)], b.sum(axis=0)]))
            assert total[0] == len(pdf)
            np.testing.assert_allclose(total[1:], expected.sum(axis=0), rtol=1e-12)
        finally:
            blocks.unpersist()


def test_default_blocks_stay_under_one_mebibyte(spark):
    # a cached block of 1 MiB or more would be a humongous object in a G1 heap of 4-8 GiB
    width, n = 300, 2000
    values = np.random.default_rng(5).normal(size=(n, width))
    df = spark.createDataFrame(pd.DataFrame({"x": list(values)}), "x array<double>").coalesce(1)
    blocks = MatrixBlocks(df, ["x"], array_widths={"x": width})
    try:
        sizes = [size for part in cached_blocks(blocks) for _, size in part]
        assert max(sizes) < 1 << 20 and sum(sizes) == n * width * 8 and len(sizes) > 1
    finally:
        blocks.unpersist()
