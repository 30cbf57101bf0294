"""Benchmark: distributed LSI SVD (randomized vs ARPACK) against scikit-learn on one matrix.

For each corpus size, a unit-by-term matrix shaped like the generated corpus is synthesised
*on the executors* (a topic model: every unit mixes Zipf-distributed background words with
words of two of ``n_topics`` topics; weights ``log2(1 + count) · idf``, ~110 nonzeros per
unit), cached, and decomposed at rank ``k`` by

* ``spark-randomized`` — :func:`churn_spark.lsi.svd.randomized_svd` (a handful of passes);
* ``spark-arpack``     — :func:`churn_spark.lsi.svd.arpack_svd` (``RowMatrix.computeSVD``);
* ``sklearn-randomized`` / ``sklearn-arpack`` — ``TruncatedSVD`` on the same matrix,
  regenerated block by block on the driver with the same seeds (a single process).

Accuracy is measured against ``scipy.sparse.linalg.svds`` (ARPACK to machine precision, the
reference): the largest relative error over the top-k singular values, and the largest
principal angle between the top-``k`` (and top-``k/2``) right singular subspaces. The
measurement is :func:`bench.svd_methods.compare_svd_methods`, shared with ``make bench``.

    .venv/bin/python bench/bench_svd.py --sizes 100k [1M] --k 200 --out bench/results_svd.json

``--warehouse DIR`` instead compares the methods on the LSI matrix of a finished pipeline run
kept in ``DIR`` (``make bench BENCH_ARGS=--keep`` keeps them; the same comparison ``make bench``
runs after each size): :func:`bench.svd_methods.compare_on_lake`.

    .venv/bin/python bench/bench_svd.py --warehouse /tmp/wh_100k --k 200 --out /tmp/svd_100k.json

Results go to ``--out`` as JSON and are printed as a Markdown table. Not part of the tests.

``--kselect [lbfgs] [irls]`` instead times :func:`churn_spark.modeling.kselect.select_k` on
synthetic training units shaped like the paper's (9,603 units, 20 marketing variables, the
default k grid of 14 values up to 300, 5 folds: 71 logistic fits), per classifier.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import scipy.sparse as sp
from pyspark import cloudpickle
from pyspark.ml.linalg import VectorUDT
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import StructField, StructType

from bench.svd_methods import (
    JOB_COUNTING_CONF,
    compare_on_lake,
    compare_svd_methods,
    markdown_table,
    timed,
)
from churn_spark.linalg.vectors import csr_to_arrow_vectors


@dataclass(frozen=True)
class CorpusShape:
    """The unit-by-term matrix of a corpus of ``emails`` emails (1.47 emails per unit)."""

    name: str
    emails: int
    units: int
    terms: int
    topics: int = 400
    tokens_per_unit: int = 128  # drawn word tokens per unit; ~110 distinct terms survive


SHAPES = {
    "10k": CorpusShape("10k", 10_000, 6_800, 12_000),
    "100k": CorpusShape("100k", 100_000, 68_000, 30_000),
    "1M": CorpusShape("1M", 1_000_000, 680_000, 40_000),
}
BLOCK_ROWS = 4_000


# ---------------------------------------------------------------------------------------
# Synthetic unit-by-term matrix
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _World:
    background_cdf: np.ndarray
    topic_terms: np.ndarray  # (topics, terms per topic) term ids
    topic_term_cdf: np.ndarray
    topic_cdf: np.ndarray
    idf: np.ndarray


def _zipf_cdf(n: int, exponent: float, shift: float = 0.0) -> np.ndarray:
    weights = 1.0 / (np.arange(1, n + 1) + shift) ** exponent
    return np.cumsum(weights / weights.sum())


def _world(shape: CorpusShape, seed: int) -> _World:
    rng = np.random.default_rng([seed, 0])
    background_cdf = _zipf_cdf(shape.terms, 1.07, 40.0)  # top ~40 (stopwords) pruned
    popularity = np.diff(background_cdf, prepend=0.0)
    per_topic = 250
    # topics draw their words mostly from the middle of the frequency range
    topic_pick = np.sqrt(popularity) / np.sqrt(popularity).sum()
    topic_terms = np.stack(
        [rng.choice(shape.terms, per_topic, replace=False, p=topic_pick) for _ in range(shape.topics)]
    )
    topic_term_cdf = _zipf_cdf(per_topic, 1.0, 1.0)
    topic_cdf = _zipf_cdf(shape.topics, 0.8, 1.0)
    # expected share of units containing each term -> an idf like the pipeline's log2(n/df) + 1
    token_prob = 0.5 * popularity
    np.add.at(
        token_prob,
        topic_terms.ravel(),
        0.5 * np.outer(np.diff(topic_cdf, prepend=0.0), np.diff(topic_term_cdf, prepend=0.0)).ravel(),
    )
    df_share = 1.0 - np.exp(-shape.tokens_per_unit * token_prob)
    idf = np.log2(1.0 / np.maximum(df_share, 1.0 / shape.units)) + 1.0
    return _World(background_cdf, topic_terms, topic_term_cdf, topic_cdf, idf)


def synthetic_block(shape: CorpusShape, world: _World, block: int, rows: int, seed: int) -> sp.csr_matrix:
    """Rows ``[block·BLOCK_ROWS, +rows)`` of the synthetic matrix (deterministic per block)."""
    rng = np.random.default_rng([seed, 1, block])
    tokens = 1 + rng.poisson(shape.tokens_per_unit - 1, size=rows)
    unit = np.repeat(np.arange(rows), tokens)
    n = len(unit)
    term = np.searchsorted(world.background_cdf, rng.random(n) * world.background_cdf[-1])
    unit_topics = np.searchsorted(world.topic_cdf, rng.random((rows, 2)) * world.topic_cdf[-1])
    topical = rng.random(n) < 0.5
    which = unit_topics[unit[topical], rng.integers(0, 2, size=topical.sum())]
    rank = np.searchsorted(world.topic_term_cdf, rng.random(topical.sum()) * world.topic_term_cdf[-1])
    term[topical] = world.topic_terms[which, rank]
    counts = sp.csr_matrix((np.ones(n), (unit, np.minimum(term, shape.terms - 1))), shape=(rows, shape.terms))
    counts.sum_duplicates()
    counts.data = np.log2(1.0 + counts.data) * world.idf[counts.indices]
    return counts


def _blocks(shape: CorpusShape) -> list[tuple[int, int]]:
    return [(b, min(BLOCK_ROWS, shape.units - b * BLOCK_ROWS)) for b in range(-(-shape.units // BLOCK_ROWS))]


def synthetic_frame(spark: SparkSession, shape: CorpusShape, seed: int) -> DataFrame:
    """The synthetic matrix as a DataFrame ``(v vector)``, generated block by block on the executors."""
    if __name__ != "__main__":  # imported (e.g. by `make bench`): ship this module's code to the workers
        cloudpickle.register_pickle_by_value(sys.modules[__name__])
    blocks = _blocks(shape)
    partitions = max(2, spark.sparkContext.defaultParallelism * 2)

    def generate(batches):
        world = _world(shape, seed)  # rebuilt per partition: cheap, and deterministic from the seed
        for batch in batches:
            for block in batch.column(0).to_numpy():
                matrix = synthetic_block(shape, world, int(block), blocks[int(block)][1], seed)
                yield pa.RecordBatch.from_arrays([csr_to_arrow_vectors(matrix)], names=["v"])

    schema = StructType([StructField("v", VectorUDT())])
    return spark.range(0, len(blocks), numPartitions=partitions).mapInArrow(generate, schema)


def synthetic_matrix(shape: CorpusShape, seed: int) -> sp.csr_matrix:
    """The same matrix on the driver (for scikit-learn / scipy)."""
    world = _world(shape, seed)
    return sp.vstack([synthetic_block(shape, world, b, rows, seed) for b, rows in _blocks(shape)], format="csr")


# ---------------------------------------------------------------------------------------
# Measurements
# ---------------------------------------------------------------------------------------


def bench_size(
    spark: SparkSession,
    shape: CorpusShape,
    k: int,
    seed: int,
    oversampling: int,
    power_iterations: int,
    with_arpack: bool,
    with_sklearn: bool,
    arpack_timeout: float = 2400.0,
) -> dict:
    """Time every method on one synthetic matrix and measure its accuracy against scipy
    (:func:`bench.svd_methods.compare_svd_methods`)."""
    entry: dict = {"size": shape.name, **asdict(shape)}
    frame = synthetic_frame(spark, shape, seed).cache()
    _, entry["spark_generate_seconds"] = timed(frame.count)
    matrix, entry["driver_generate_seconds"] = timed(synthetic_matrix, shape, seed)
    entry["nnz_per_unit"] = matrix.nnz / matrix.shape[0]
    entry["max_term_unit_share"] = float(matrix.getnnz(axis=0).max() / matrix.shape[0])
    _log(f"[{shape.name}] {matrix.shape[0]} x {matrix.shape[1]}, nnz/unit {entry['nnz_per_unit']:.1f}")
    entry.update(compare_svd_methods(spark, frame, "v", matrix, k, oversampling=oversampling,
                                     power_iterations=power_iterations, seed=seed, with_arpack=with_arpack,
                                     with_sklearn=with_sklearn, arpack_timeout=arpack_timeout))
    frame.unpersist()
    return entry


def run(
    spark: SparkSession,
    sizes: list[str],
    k: int = 200,
    out: str = "bench/results_svd.json",
    *,
    seed: int = 7,
    oversampling: int = 600,
    power_iterations: int = 15,
    arpack_max_units: int = 100_000,
    arpack_timeout: float = 2400.0,
    sklearn: bool = True,
) -> dict:
    """Benchmark every size (names of :data:`SHAPES`); write the JSON to ``out`` and return it.

    ``spark-arpack`` is skipped above ``arpack_max_units`` units and cancelled after
    ``arpack_timeout`` seconds (one Spark job per Lanczos step makes it slow).
    """
    results: dict = {
        "k": k,
        "oversampling": oversampling,
        "power_iterations": power_iterations,
        "seed": seed,
        "machine": {
            "cpus": spark.sparkContext.defaultParallelism,
            "python": platform.python_version(),
            "spark": spark.version,
            "load_average_at_start": list(os.getloadavg()),
            "driver_blas_threads": _blas_threads(),
        },
        "sizes": [],
    }
    for name in sizes:
        shape = SHAPES[name]
        with_arpack = shape.units <= arpack_max_units
        entry = bench_size(spark, shape, k, seed, oversampling, power_iterations, with_arpack, sklearn, arpack_timeout)
        results["sizes"].append(entry)
        _write(results, out)  # after each size, so a long run leaves partial results
    print(markdown(results))
    return results


def _blas_threads() -> int | None:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    return max((pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"), default=None)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------
# k selection (CrossValidator over ConceptSlicer.k): cost of the ~70 logistic fits
# ---------------------------------------------------------------------------------------

K_GRID = [10, 20, 30, 40, 50, 60, 80, 100, 120, 140, 170, 200, 250, 300]


def synthetic_units(spark: SparkSession, units: int, marketing: int, concepts: int, seed: int) -> DataFrame:
    """Training units shaped like the paper's (9,603 units, 20 marketing variables, k_max concepts)
    whose churn depends on the marketing variables and, decreasingly, on the leading concepts."""
    from pyspark.ml.functions import array_to_vector

    rng = np.random.default_rng([seed, 2])
    loadings = rng.standard_normal((units, concepts)) / np.sqrt(units)  # like the columns of U
    market = rng.standard_normal((units, marketing))
    logit = (
        -1.5 + market[:, :10] @ np.full(10, 0.3) + np.sqrt(units) * loadings @ (0.4 * np.exp(-np.arange(concepts) / 50))
    )
    churn = (rng.random(units) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int32)
    frame = pd.DataFrame(market, columns=[f"m{i}" for i in range(marketing)])
    frame["concepts"] = list(loadings)
    frame["churn"] = churn
    df = spark.createDataFrame(frame)
    return df.withColumn("concepts", array_to_vector("concepts"))


def run_kselect(
    spark: SparkSession,
    units: int = 9_603,
    k_grid: list[int] | None = None,
    folds: int = 5,
    classifiers: tuple[str, ...] = ("lbfgs",),
    out: str = "bench/results_kselect.json",
    seed: int = 7,
) -> dict:
    """Time ``select_k`` (CrossValidator, ``folds x len(k_grid)`` fits + the final refit) per classifier."""
    from churn_spark.modeling.kselect import select_k

    grid = k_grid or K_GRID
    frame = synthetic_units(spark, units, 20, max(grid), seed).cache()
    frame.count()
    marketing = [c for c in frame.columns if c.startswith("m")]
    results: dict = {"units": units, "k_grid": grid, "folds": folds, "runs": []}
    for classifier in classifiers:
        selection, seconds = timed(
            select_k, frame, "concepts", marketing, "churn", grid, folds, seed, "one_se", classifier=classifier
        )
        best = max(selection.scores, key=lambda s: s.mean_auc)
        results["runs"].append(
            {
                "classifier": classifier,
                "seconds": seconds,
                "fits": folds * len(grid) + 1,
                "chosen_k": selection.chosen_k,
                "best_k": best.k,
                "best_mean_auc": best.mean_auc,
            }
        )
        _log(f"[kselect] {classifier}: {seconds:.0f} s, chosen k {selection.chosen_k}")
        _write(results, out)
    frame.unpersist()
    return results


def _write(results: dict, out: str) -> None:
    with open(out, "w", encoding="utf-8") as fh:
        json.dump(results, fh, indent=2)


def markdown(results: dict) -> str:
    """The results as a Markdown table (one row per size and method)."""
    lines = [
        f"k = {results['k']}, randomized: oversampling {results['oversampling']}, "
        f"power iterations {results['power_iterations']}",
        "",
        "| size | units x terms | method | seconds | Spark jobs | max rel err s (top k) "
        "| max angle top k (deg) | max angle top k/2 (deg) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for entry in results["sizes"]:
        dims = f"{entry['units']:,} x {entry['terms']:,}"
        for run_ in entry["runs"]:
            if run_.get("timed_out"):
                lines.append(
                    f"| {entry['size']} | {dims} | {run_['method']} | > {run_['seconds']:.0f} (cancelled) | - | - | - |"
                )
                continue
            lines.append(
                f"| {entry['size']} | {dims} | {run_['method']} | {run_['seconds']:.1f} "
                f"| {run_.get('spark_jobs', '-')} | {run_['max_rel_err_s']:.1e} | {run_['max_angle_deg_top_k']:.2f} "
                f"| {run_['max_angle_deg_top_half']:.3f} |"
            )
        lines.append(
            f"| {entry['size']} | {dims} | scipy svds (reference) "
            f"| {entry['reference']['seconds']:.1f} | - | 0 | 0 | 0 |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from churn_spark.config import load_config
    from churn_spark.session import get_spark

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["100k"], choices=sorted(SHAPES))
    parser.add_argument("--k", type=int, default=200)
    parser.add_argument("--out", default="bench/results_svd.json")
    # --warehouse uses the pipeline's lsi.oversampling / lsi.power_iterations instead (set them with --conf)
    parser.add_argument("--oversampling", type=int, default=600, help="synthetic sizes only")
    parser.add_argument("--power-iterations", type=int, default=15, help="synthetic sizes only")
    parser.add_argument("--arpack-max-units", type=int, default=100_000)
    parser.add_argument("--arpack-timeout", type=float, default=2400.0, help="seconds before ARPACK is cancelled")
    parser.add_argument("--no-sklearn", action="store_true")
    parser.add_argument("--conf", action="append", default=[], help="pipeline config override key=value")
    parser.add_argument("--blas-threads", type=int, default=0, help="cap the driver's BLAS threads (0 = leave as is)")
    parser.add_argument("--warehouse", help="compare on the LSI matrix of this finished pipeline run instead")
    parser.add_argument("--kselect", nargs="*", metavar="CLASSIFIER", help="time select_k instead (lbfgs, irls)")
    parser.add_argument("--kselect-units", type=int, default=9_603)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("churn_spark").setLevel(logging.INFO)  # the SVD's own time breakdown
    if args.blas_threads:
        # on a shared or oversubscribed machine, OpenBLAS threads spinning against other
        # processes slow the driver's dense algebra (and scipy's svds) by up to ~5x
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.blas_threads)
    # keep the status of every job (ARPACK runs hundreds) so that jobs can be counted
    overrides = [*JOB_COUNTING_CONF, *args.conf]
    cfg = load_config(["local"], overrides)
    spark = get_spark(cfg, app_name="bench-svd")
    if args.warehouse:
        from churn_spark.lake.tables import Lake

        comparison = compare_on_lake(spark, Lake(spark, cfg, root=args.warehouse), cfg, args.k,
                                     arpack_timeout=args.arpack_timeout, with_sklearn=not args.no_sklearn)
        _write({"warehouse": os.path.abspath(args.warehouse), **comparison}, args.out)
        print("\n".join(markdown_table(comparison)))
        return 0
    if args.kselect is not None:
        out = args.out if args.out != "bench/results_svd.json" else "bench/results_kselect.json"
        print(
            json.dumps(
                run_kselect(spark, args.kselect_units, classifiers=tuple(args.kselect or ["lbfgs"]), out=out), indent=2
            )
        )
        return 0
    run(
        spark,
        args.sizes,
        args.k,
        args.out,
        oversampling=args.oversampling,
        power_iterations=args.power_iterations,
        arpack_max_units=args.arpack_max_units,
        arpack_timeout=args.arpack_timeout,
        sklearn=not args.no_sklearn,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
