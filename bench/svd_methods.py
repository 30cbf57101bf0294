"""The LSI's SVD methods side by side on one matrix: seconds, Spark jobs, accuracy against scipy.

Issue 6 asks for the SVD at ``k = 200`` on the generated corpus, both Spark methods beside
scikit-learn's ``TruncatedSVD`` on the same matrix in the same run. :func:`compare_on_lake`
takes the matrix the LSI stage decomposes (the ``vector`` column of ``doc_vectors`` for the
training units with emails, :func:`lsi_training_vectors`), caches it and times

* ``spark-randomized`` — :func:`churn_spark.lsi.svd.randomized_svd` with the configured
  ``lsi.oversampling`` and ``lsi.power_iterations`` (block Krylov, a handful of Spark jobs);
* ``spark-arpack`` — :func:`churn_spark.lsi.svd.arpack_svd` (``RowMatrix.computeSVD``, one
  Spark job per Lanczos step);
* ``sklearn-randomized`` / ``sklearn-arpack`` — ``TruncatedSVD`` with its defaults
  (randomized: ``n_iter=5``, ``n_oversamples=10``) on the same matrix as scipy CSR on the driver.

The driver's copy is read from the Delta table with delta-rs (the same SQL predicate, no
Spark); it is a benchmark reference, so collecting it is allowed here. Its shape and
``‖A‖_F²`` are checked against the Spark side's.

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
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import scipy.linalg
import scipy.sparse as sp
from pyspark.sql import DataFrame, SparkSession

from churn_spark.app.stages.common import LSI_TRAINING_UNITS
from churn_spark.linalg.vectors import arrow_vectors_to_csr
from churn_spark.lsi.svd import arpack_svd, fix_signs, randomized_svd, row_blocks

#: Config overrides that keep every job's status, so that a method's Spark jobs can be counted.
JOB_COUNTING_CONF = ["spark.conf.spark.ui.retainedJobs=100000", "spark.conf.spark.ui.retainedStages=100000"]

#: The accuracy target of issue 6 on the top-k singular values of ``spark-randomized``.
TARGET_REL_ERR = 1e-3

METHODS = ("spark-randomized", "spark-arpack", "sklearn-randomized", "sklearn-arpack")


# ---------------------------------------------------------------------------------------
# the matrix


def lsi_training_vectors(lake) -> DataFrame:
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


def timed(fn: Callable, *args, **kwargs):
    """``(fn(*args, **kwargs), wall seconds)``."""
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


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
    blocks = row_blocks(sample, col)
    blocks.count()
    blocks.unpersist()
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


def compare_on_lake(spark: SparkSession, lake, cfg, k: int = 200, *, arpack_timeout: float | None = None,
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


def log(message: str) -> None:
    print(f"[svd compare] {message}", file=sys.stderr, flush=True)
