"""The LSI's SVD methods side by side on one matrix: seconds, Spark jobs, accuracy against scipy.

The SVD at ``k = 200`` on the generated corpus, both Spark methods beside
scikit-learn's ``TruncatedSVD`` on the same matrix in the same run. :func:`compare_svd_methods`
caches the matrix and times

* ``spark-randomized`` — :func:`churn_spark.lsi.svd.randomized_svd` (block Krylov, a handful of
  Spark jobs);
* ``spark-arpack`` — :func:`churn_spark.lsi.svd.arpack_svd` (``RowMatrix.computeSVD``, one
  Spark job per Lanczos step);
* ``sklearn-randomized`` / ``sklearn-arpack`` — ``TruncatedSVD`` with its defaults
  (randomized: ``n_iter=5``, ``n_oversamples=10``) on the same matrix as scipy CSR on the driver
  (a benchmark reference, so collecting it is allowed here).

The matrix is either

* the one the LSI stage decomposes in a finished pipeline run (:func:`compare_on_lake`, after
  each size of ``make bench``, or ``--warehouse DIR``): the ``vector`` column of ``doc_vectors``
  for the training units with emails (:func:`lsi_training_vectors`), with the configured
  ``lsi.oversampling`` and ``lsi.power_iterations``. The driver's copy is read from the Delta
  table with delta-rs (the same SQL predicate, no Spark); its shape and ``‖A‖_F²`` are checked
  against the Spark side's; or
* a unit-by-term matrix shaped like the generated corpus (``--sizes``, :data:`SHAPES`),
  synthesised *on the executors* (a topic model: every unit mixes Zipf-distributed background
  words with words of two of ``topics`` topics; weights ``log2(1 + count) · idf``, ~110 nonzeros
  per unit) and regenerated block by block on the driver with the same seeds
  (:func:`compare_on_synthetic`).

The reference is ``scipy.sparse.linalg.svds(A, k, tol=0)`` (ARPACK to machine precision),
timed too. A method giving singular values ``ŝ`` and right singular vectors ``V̂`` is scored,
for ``j = k`` and ``j = k // 2``, by

    max rel err s (top j) = max_{i ≤ j} |ŝ_i − s_i| / s_i
    max angle (top j)     = the largest principal angle (degrees) between span V̂[:, :j] and span V[:, :j]

An angle of the top ``k`` can be large while every singular value is right when ``s_k`` and
``s_{k+1}`` are nearly equal (the subspace is then ill-defined at its edge); the top ``k/2``
has no such edge.

Counting jobs needs the Spark UI to retain them (``spark.ui.retainedJobs``, 1000 by default,
a static setting): :data:`JOB_COUNTING_CONF` raises it; a count at the limit is flagged.

    .venv/bin/python -m bench.svd --sizes 100k [1M] --k 200 --out bench/results_svd.json
    .venv/bin/python -m bench.svd --warehouse /tmp/wh_100k --k 200 --out /tmp/svd_100k.json

Results go to ``--out`` as JSON and are printed as a Markdown table. Not part of the tests.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import pyarrow as pa
import scipy.linalg
import scipy.sparse as sp
from pyspark import cloudpickle
from pyspark.ml.linalg import VectorUDT
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import StructField, StructType

from bench.common import timed, write_json
from churn_spark.app.stages.units import LSI_TRAINING_UNITS
from churn_spark.config import Config, load_config
from churn_spark.lake.tables import Lake
from churn_spark.linalg.vectors import arrow_vectors_to_csr, csr_to_arrow_vectors
from churn_spark.lsi.svd import arpack_svd, fix_signs, randomized_svd, row_blocks
from churn_spark.session import get_spark

#: Config overrides that keep every job's status, so that a method's Spark jobs can be counted.
JOB_COUNTING_CONF = ["spark.conf.spark.ui.retainedJobs=100000", "spark.conf.spark.ui.retainedStages=100000"]

#: The accuracy target on the top-k singular values of ``spark-randomized``.
TARGET_REL_ERR = 1e-3

METHODS = ("spark-randomized", "spark-arpack", "sklearn-randomized", "sklearn-arpack")


# ---------------------------------------------------------------------------------------
# the LSI stage's matrix


def lsi_training_vectors(lake: Lake) -> DataFrame:
    """``doc_vectors`` of the units the LSI stage fits on (all columns; the SVD reads ``vector``)."""
    return lake.read("doc_vectors").where(LSI_TRAINING_UNITS)


def lsi_training_matrix(warehouse: str) -> sp.csr_matrix:
    """The same rows as scipy CSR on the driver, read with delta-rs (DataFusion SQL), not Spark.

    Row order may differ from Spark's; it changes neither the singular values nor ``V``.
    """
    from deltalake import DeltaTable, QueryBuilder

    table = DeltaTable(os.path.join(warehouse, "doc_vectors"))
    query = f"SELECT vector FROM doc_vectors WHERE {LSI_TRAINING_UNITS} AND vector IS NOT NULL"
    rows = pa.table(QueryBuilder().register("doc_vectors", table).execute(query).read_all())
    matrix, _ = arrow_vectors_to_csr(rows.column("vector"))
    return matrix


# ---------------------------------------------------------------------------------------
# a synthetic matrix shaped like the generated corpus


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
# measurements


def svd_accuracy(s: np.ndarray, v: np.ndarray, ref_s: np.ndarray, ref_v: np.ndarray) -> dict[str, float]:
    """Largest relative error of the singular values and largest principal angle (degrees) between
    the right singular subspaces, over the top ``k`` and the top ``k // 2`` (see the module docstring)."""
    k = min(len(s), len(ref_s))
    half = max(k // 2, 1)
    rel = np.abs(s[:k] - ref_s[:k]) / ref_s[:k]

    def angle(j: int) -> float:
        return float(np.degrees(scipy.linalg.subspace_angles(v[:, :j], ref_v[:, :j]).max()))

    return {"max_rel_err_s": float(rel.max()), "max_rel_err_s_top_half": float(rel[:half].max()),
            "max_angle_deg_top_k": angle(k), "max_angle_deg_top_half": angle(half)}


def spark_timed(spark: SparkSession, fn: Callable, *args, timeout: float | None = None, **kwargs):
    """Run ``fn`` in its own Spark job group: ``(result or None if cancelled, seconds, number of jobs)``.

    With ``timeout``, the group's jobs are cancelled after that many seconds.
    """
    sc = spark.sparkContext
    group = f"bench-svd-{time.time_ns()}"
    sc.setJobGroup(group, "bench_svd", interruptOnCancel=True)
    timer = threading.Timer(timeout, sc.cancelJobGroup, args=(group,)) if timeout else None
    if timer:
        timer.start()
    start = time.perf_counter()
    try:
        result = fn(*args, **kwargs)
    except Exception as err:  # py4j error of a cancelled job
        if timeout is None or time.perf_counter() - start < timeout:
            raise
        log(f"cancelled after {timeout:.0f} s: {type(err).__name__}")
        result = None
    finally:
        if timer:
            timer.cancel()
        sc.setLocalProperty("spark.jobGroup.id", None)
    seconds = time.perf_counter() - start
    return result, seconds, len(sc.statusTracker().getJobIdsForGroup(group))


def warm_up_python_workers(frame: DataFrame, col: str) -> None:
    """Start a Python worker per core, import pyarrow/scipy there and read every cached partition once,
    so that no method pays for it (measured at 100k under load: ~20 s on the first pass, ~4 s after).

    A sample keeps every partition (one task each) but little data.
    """
    sample = frame.sample(fraction=0.002, seed=0)
    row_blocks(sample, col).unpersist()  # built and counted when made
    sample.rdd.map(lambda row: row[0].size).count()


def reference_svd(matrix: sp.spmatrix, k: int, seed: int) -> tuple[np.ndarray, np.ndarray, float]:
    """``scipy.sparse.linalg.svds(matrix, k, tol=0)``: ``s`` descending, ``V`` (signs fixed), seconds."""
    from scipy.sparse.linalg import svds

    (_, s, vt), seconds = timed(svds, matrix, k=k, tol=0, random_state=seed)
    order = np.argsort(s)[::-1]
    return s[order], fix_signs(vt[order].T), seconds


def compare_svd_methods(spark: SparkSession, frame: DataFrame, col: str, matrix: sp.csr_matrix, k: int, *,
                        oversampling: int, power_iterations: int, seed: int, with_arpack: bool = True,
                        with_sklearn: bool = True, arpack_timeout: float | None = None) -> dict:
    """Time every method on one matrix — ``frame[col]`` (cached by the caller) for Spark, its copy
    ``matrix`` for scikit-learn — and score each against :func:`reference_svd`.

    Returns ``{"reference": {...}, "runs": [{method, seconds, [spark_jobs], accuracy...}], "same_matrix":
    bool}``; a Spark ARPACK run cancelled after ``arpack_timeout`` seconds is kept as ``timed_out``.
    """
    from sklearn.decomposition import TruncatedSVD

    out: dict = {"runs": []}
    ref_s, ref_v, ref_seconds = reference_svd(matrix, k, seed)
    out["reference"] = {"method": "scipy.sparse.linalg.svds (ARPACK, tol=0)", "seconds": ref_seconds,
                        "s_1": float(ref_s[0]), "s_k": float(ref_s[-1]), "s_k_over_s_1": float(ref_s[-1] / ref_s[0])}
    log(f"reference svds at k={k}: {ref_seconds:.1f} s")
    retained = int(spark.sparkContext.getConf().get("spark.ui.retainedJobs", "1000"))

    def record(method: str, seconds: float, s: np.ndarray, v: np.ndarray, jobs: int | None = None) -> None:
        run = {"method": method, "seconds": seconds, **svd_accuracy(s, v, ref_s, ref_v)}
        if jobs is not None:
            run.update(spark_jobs=jobs, spark_jobs_capped=jobs >= retained)
        out["runs"].append(run)
        log(f"{method}: {seconds:.1f} s" + (f", {jobs} Spark jobs" if jobs is not None else "")
            + f", max rel err s {run['max_rel_err_s']:.1e}")

    warm_up_python_workers(frame, col)
    result, seconds, jobs = spark_timed(spark, randomized_svd, frame, col, k, oversampling=oversampling,
                                        power_iterations=power_iterations, seed=seed)
    record("spark-randomized", seconds, result.singular_values, result.term_loadings, jobs)
    # the Spark rows and the driver's copy are the same matrix: same shape and sum of squares
    out["same_matrix"] = bool((result.n_rows, result.n_cols) == matrix.shape
                              and np.isclose(result.frobenius_norm2, float(matrix.data @ matrix.data), rtol=1e-9))
    if with_arpack:
        result, seconds, jobs = spark_timed(spark, arpack_svd, frame, col, k, timeout=arpack_timeout)
        if result is None:
            out["runs"].append({"method": "spark-arpack", "seconds": seconds, "timed_out": True, "spark_jobs": jobs})
        else:
            record("spark-arpack", seconds, result.singular_values, result.term_loadings, jobs)
    if with_sklearn:
        for algorithm in ("randomized", "arpack"):
            svd = TruncatedSVD(n_components=k, algorithm=algorithm, random_state=seed)
            _, seconds = timed(svd.fit, matrix)
            record(f"sklearn-{algorithm}", seconds, svd.singular_values_, fix_signs(svd.components_.T))
    return out


# ---------------------------------------------------------------------------------------
# on the LSI stage's matrix, on synthetic matrices


def compare_on_lake(spark: SparkSession, lake: Lake, cfg: Config, k: int = 200, *, arpack_timeout: float | None = None,
                    with_sklearn: bool = True) -> dict:
    """:func:`compare_svd_methods` on the LSI stage's matrix in ``lake`` (a finished pipeline run).

    ``cfg.lsi.oversampling`` / ``power_iterations`` and ``cfg.run.seed`` as the pipeline uses them.
    Adds the matrix's size, the load average before and after, ``arpack_over_randomized`` (Spark
    seconds) and whether ``spark-randomized`` is within :data:`TARGET_REL_ERR` on the top ``k``.
    """
    lc = cfg.lsi
    out: dict = {"k": k, "oversampling": lc.oversampling, "power_iterations": lc.power_iterations,
                 "seed": cfg.run.seed, "load_average_start": list(os.getloadavg())}
    frame = lsi_training_vectors(lake).select("vector").cache()
    try:
        _, out["spark_cache_seconds"] = timed(frame.count)
        matrix, out["driver_read_seconds"] = timed(lsi_training_matrix, lake.root)
        out["matrix"] = {"rows": matrix.shape[0], "cols": matrix.shape[1], "nnz": int(matrix.nnz)}
        log(f"LSI matrix {matrix.shape[0]:,} x {matrix.shape[1]:,} (nnz {matrix.nnz:,}); k = {k}")
        out.update(compare_svd_methods(spark, frame, "vector", matrix, k, oversampling=lc.oversampling,
                                       power_iterations=lc.power_iterations, seed=cfg.run.seed,
                                       with_sklearn=with_sklearn, arpack_timeout=arpack_timeout))
    finally:
        frame.unpersist()
    out["load_average_end"] = list(os.getloadavg())
    runs = {r["method"]: r for r in out["runs"]}
    randomized, arpack = runs["spark-randomized"], runs.get("spark-arpack")
    if arpack:  # a cancelled ARPACK gives a lower bound
        out["arpack_over_randomized"] = arpack["seconds"] / randomized["seconds"]
        out["arpack_over_randomized_is_lower_bound"] = bool(arpack.get("timed_out"))
    out["randomized_within_target"] = randomized["max_rel_err_s"] <= TARGET_REL_ERR
    return out


def compare_on_synthetic(spark: SparkSession, shape: CorpusShape, k: int, seed: int, oversampling: int,
                         power_iterations: int, with_arpack: bool, with_sklearn: bool,
                         arpack_timeout: float = 2400.0) -> dict:
    """:func:`compare_svd_methods` on the synthetic matrix of ``shape``, generated on the executors and
    (for scikit-learn and scipy) on the driver."""
    entry: dict = {"size": shape.name, **asdict(shape)}
    frame = synthetic_frame(spark, shape, seed).cache()
    _, entry["spark_generate_seconds"] = timed(frame.count)
    matrix, entry["driver_generate_seconds"] = timed(synthetic_matrix, shape, seed)
    entry["nnz_per_unit"] = matrix.nnz / matrix.shape[0]
    entry["max_term_unit_share"] = float(matrix.getnnz(axis=0).max() / matrix.shape[0])
    log(f"[{shape.name}] {matrix.shape[0]} x {matrix.shape[1]}, nnz/unit {entry['nnz_per_unit']:.1f}")
    entry.update(compare_svd_methods(spark, frame, "v", matrix, k, oversampling=oversampling,
                                     power_iterations=power_iterations, seed=seed, with_arpack=with_arpack,
                                     with_sklearn=with_sklearn, arpack_timeout=arpack_timeout))
    frame.unpersist()
    return entry


def run_synthetic(spark: SparkSession, sizes: list[str], k: int = 200, out: str = "bench/results_svd.json", *,
                  seed: int = 7, oversampling: int = 600, power_iterations: int = 15,
                  arpack_max_units: int = 100_000, arpack_timeout: float = 2400.0, sklearn: bool = True) -> dict:
    """Compare the methods on every size (names of :data:`SHAPES`); write the JSON to ``out`` and return it.

    ``spark-arpack`` is skipped above ``arpack_max_units`` units and cancelled after
    ``arpack_timeout`` seconds (one Spark job per Lanczos step makes it slow).
    """
    results: dict = {"k": k, "oversampling": oversampling, "power_iterations": power_iterations, "seed": seed,
                     "machine": {"cpus": spark.sparkContext.defaultParallelism, "python": platform.python_version(),
                                 "spark": spark.version, "load_average_at_start": list(os.getloadavg()),
                                 "driver_blas_threads": _blas_threads()},
                     "sizes": []}
    for name in sizes:
        shape = SHAPES[name]
        with_arpack = shape.units <= arpack_max_units
        results["sizes"].append(compare_on_synthetic(spark, shape, k, seed, oversampling, power_iterations,
                                                     with_arpack, sklearn, arpack_timeout))
        write_json(out, results)  # after each size, so a long run leaves partial results
    print(synthetic_markdown(results))
    return results


def _blas_threads() -> int | None:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    return max((pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"), default=None)


# ---------------------------------------------------------------------------------------
# the tables


def markdown_table(comparison: dict) -> list[str]:
    """The comparison as Markdown lines: one row per method plus the reference."""
    c, runs = comparison, comparison["runs"]
    arpack = next((r for r in runs if r["method"] == "spark-arpack"), None)
    m = c["matrix"]
    lines = [f"SVD at k = {c['k']} of the LSI matrix ({m['rows']:,} units x {m['cols']:,} terms, {m['nnz']:,} "
             f"nonzeros), cached; spark-randomized: oversampling {c['oversampling']}, power iterations "
             f"{c['power_iterations']}; accuracy against scipy svds (tol=0); load average "
             f"{c['load_average_start'][0]:.1f} -> {c['load_average_end'][0]:.1f}.", "",
             "| method | seconds | Spark jobs | spark-arpack s / this | max rel err s (top k) | (top k/2) "
             "| max angle top k (deg) | (top k/2) |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for run in runs:
        jobs = f"{run['spark_jobs']}{'+' if run.get('spark_jobs_capped') else ''}" if "spark_jobs" in run else "—"
        if run.get("timed_out"):
            lines.append(f"| {run['method']} | > {run['seconds']:.0f} (cancelled) | {jobs} | — | — | — | — | — |")
            continue
        ratio = arpack["seconds"] / run["seconds"] if arpack else float("nan")
        bound = "≥ " if arpack and arpack.get("timed_out") else ""
        lines.append(f"| {run['method']} | {run['seconds']:.1f} | {jobs} | {bound}{ratio:.2f} "
                     f"| {run['max_rel_err_s']:.1e} | {run['max_rel_err_s_top_half']:.1e} "
                     f"| {run['max_angle_deg_top_k']:.3f} | {run['max_angle_deg_top_half']:.4f} |")
    ref = c["reference"]
    ratio = f"{arpack['seconds'] / ref['seconds']:.2f}" if arpack else "—"
    lines.append(f"| scipy svds (reference) | {ref['seconds']:.1f} | — | {ratio} | 0 | 0 | 0 | 0 |")
    if "arpack_over_randomized" in c:
        bound = "at least " if c["arpack_over_randomized_is_lower_bound"] else ""
        lines += ["", f"spark-arpack / spark-randomized = {bound}{c['arpack_over_randomized']:.1f}x (target ≥ 5x); "
                      f"spark-randomized top-{c['k']} singular values within {TARGET_REL_ERR:g} relative: "
                      f"{'yes' if c['randomized_within_target'] else 'NO'}."]
    if not c.get("same_matrix", True):
        lines.append("WARNING: the driver's copy of the matrix differs from Spark's (shape or sum of squares).")
    return lines


def synthetic_markdown(results: dict) -> str:
    """The synthetic sizes' results as a Markdown table (one row per size and method)."""
    lines = [f"k = {results['k']}, randomized: oversampling {results['oversampling']}, "
             f"power iterations {results['power_iterations']}", "",
             "| size | units x terms | method | seconds | Spark jobs | max rel err s (top k) "
             "| max angle top k (deg) | max angle top k/2 (deg) |", "|---|---|---|---|---|---|---|---|"]
    for entry in results["sizes"]:
        dims = f"{entry['units']:,} x {entry['terms']:,}"
        for run in entry["runs"]:
            if run.get("timed_out"):
                lines.append(f"| {entry['size']} | {dims} | {run['method']} | > {run['seconds']:.0f} (cancelled) "
                             "| - | - | - |")
                continue
            lines.append(f"| {entry['size']} | {dims} | {run['method']} | {run['seconds']:.1f} "
                         f"| {run.get('spark_jobs', '-')} | {run['max_rel_err_s']:.1e} "
                         f"| {run['max_angle_deg_top_k']:.2f} | {run['max_angle_deg_top_half']:.3f} |")
        lines.append(f"| {entry['size']} | {dims} | scipy svds (reference) | {entry['reference']['seconds']:.1f} "
                     "| - | 0 | 0 | 0 |")
    return "\n".join(lines)


def log(message: str) -> None:
    print(f"[svd compare] {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.svd", description=__doc__.splitlines()[0])
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
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("churn_spark").setLevel(logging.INFO)  # the SVD's own time breakdown
    if args.blas_threads:
        # on a shared or oversubscribed machine, OpenBLAS threads spinning against other
        # processes slow the driver's dense algebra (and scipy's svds) by up to ~5x
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.blas_threads)
    cfg = load_config(["local"], [*JOB_COUNTING_CONF, *args.conf])
    spark = get_spark(cfg, app_name="bench-svd")
    if args.warehouse:
        comparison = compare_on_lake(spark, Lake(spark, cfg, root=args.warehouse), cfg, args.k,
                                     arpack_timeout=args.arpack_timeout, with_sklearn=not args.no_sklearn)
        write_json(args.out, {"warehouse": os.path.abspath(args.warehouse), **comparison})
        print("\n".join(markdown_table(comparison)))
        return 0
    run_synthetic(spark, args.sizes, args.k, args.out, oversampling=args.oversampling,
                  power_iterations=args.power_iterations, arpack_max_units=args.arpack_max_units,
                  arpack_timeout=args.arpack_timeout, sklearn=not args.no_sklearn)
    return 0


if __name__ == "__main__":
    sys.exit(main())
