"""The exact ROC AUC, computed in Spark: the Mann-Whitney statistic with ties counted half.

Positives (label 1) with scores ``X_i``, ``P`` of them; negatives with scores ``Y_j``, ``N`` of
them; the kernel ``psi(x, y) = 1 if x > y, 1/2 if x = y, 0 otherwise``::

    AUC = (1 / (P N)) Σ_i Σ_j psi(X_i, Y_j) = Σ_s pos(s) · (2 neg(< s) + neg(s)) / (2 P N)

the second sum over the distinct scores ``s``, with ``pos(s)``, ``neg(s)`` the positives and
negatives scoring ``s`` and ``neg(< s)`` the negatives scoring below it. It is a sum of integers
(:func:`twice_mann_whitney_u`), so only the final division rounds: the value of scikit-learn's
``roc_auc_score``, the probability that a random positive scores above a random negative.

The DeLong placements (structural components) of a positive and of a negative scoring ``s``,
``V10(s) = (neg(< s) + neg(s) / 2) / N`` and ``V01(s) = (pos(> s) + pos(s) / 2) / P``, both
average to the AUC over their class (DeLong, DeLong & Clarke-Pearson 1988).

Two ways to the per-score counts:

* :func:`score_table` — one set of rows (a model's test units, Table 4): a global sort over all
  partitions; its rows also give the placements and the lift and ROC curves
  (:mod:`churn_spark.evaluation.metrics`); :func:`auc` for just the AUC;
* :func:`auc_by_group` — many groups (the k search's held-out folds): each group ranked in one
  task with numpy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from churn_spark.session import default_parallelism


def twice_mann_whitney_u(pos_at: np.ndarray, neg_at: np.ndarray) -> int:
    """``Σ_s pos(s) (2 neg(< s) + neg(s))`` from the counts per distinct score, scores ascending.

    Twice the positive-negative pairs the positives win, a tie counting half: an exact integer.
    """
    pos_at, neg_at = np.asarray(pos_at, dtype=np.int64), np.asarray(neg_at, dtype=np.int64)
    neg_below = np.cumsum(neg_at) - neg_at
    return int(np.sum(pos_at * (2 * neg_below + neg_at)))


def auc_from_twice_u(twice_u: int, n_pos: int, n_neg: int) -> float:
    """``AUC = twice_u / (2 P N)``; NaN without both classes."""
    return twice_u / (2.0 * n_pos * n_neg) if n_pos and n_neg else math.nan


# ---- one set of rows: the score table ------------------------------------------------------

@dataclass
class ScoreTable:
    """One row per distinct score of a scored set, highest first (cached).

    ``rows`` columns: ``score``, ``n_pos`` and ``n_all`` (positives and units with this score),
    ``pos_above`` and ``all_above`` (with a higher score). ``n_pos``, ``n_neg``, ``twice_u`` are
    the set's totals and its :func:`twice_mann_whitney_u`.
    """

    rows: DataFrame
    sorted_counts: DataFrame
    n_pos: int
    n_neg: int
    twice_u: int

    @property
    def auc(self) -> float:
        return auc_from_twice_u(self.twice_u, self.n_pos, self.n_neg)

    def placements(self) -> tuple[Column, Column]:
        """Column expressions on :attr:`rows`: ``V10 = (neg(< s) + neg(s) / 2) / N`` (for positives)
        and ``V01 = (pos(> s) + pos(s) / 2) / P`` (for negatives)."""
        neg_here = F.col("n_all") - F.col("n_pos")
        neg_below = F.lit(self.n_neg) - (F.col("all_above") - F.col("pos_above")) - neg_here
        v10 = (neg_below + 0.5 * neg_here) / self.n_neg
        v01 = (F.col("pos_above") + 0.5 * F.col("n_pos")) / self.n_pos
        return v10, v01

    def unpersist(self) -> None:
        self.rows.unpersist()
        self.sorted_counts.unpersist()


def score_table(data: DataFrame, score_col: str, label_col: str) -> ScoreTable:
    """The :class:`ScoreTable` of ``data`` (label 1 = positive; no null score or label).

    Built with a global sort, one row per partition to the driver and running sums within each
    partition. The range partitions of a sort are in sort order, so the AUC sums come with the
    partition totals: each partition's own ``twice_u`` plus, for every positive, twice the
    negatives of the partitions after it (all scoring lower). The caller unpersists the table.
    """
    grouped = data.groupBy(F.col(score_col).cast("double").alias("score")).agg(
        F.sum((F.col(label_col) == 1).cast("long")).alias("n_pos"), F.count(F.lit(1)).alias("n_all"))
    # range partitions of a sort are in sort order: partition p holds higher scores than p + 1
    ranged = grouped.orderBy(F.desc("score")).withColumn("_part", F.spark_partition_id()).cache()

    def partition_totals(batches):
        parts = [pdf for pdf in batches if not pdf.empty]
        if parts:
            pdf = pd.concat(parts).sort_values("score")  # ascending, as twice_u wants
            pos, count = pdf["n_pos"].to_numpy(), pdf["n_all"].to_numpy()
            yield pd.DataFrame({"part": [int(pdf["_part"].iloc[0])], "pos": [int(pos.sum())],
                                "all": [int(count.sum())], "twice_u": [twice_mann_whitney_u(pos, count - pos)]})

    totals = sorted((r["part"], r["pos"], r["all"], r["twice_u"]) for r in ranged.mapInPandas(
        partition_totals, "part int, pos long, all long, twice_u long").collect())
    offsets, pos_before, all_before = {}, 0, 0
    for part, pos, count, _ in totals:
        offsets[part] = (pos_before, all_before)
        pos_before, all_before = pos_before + pos, all_before + count
    n_pos, n_neg = pos_before, all_before - pos_before
    twice_u, neg_after = 0, n_neg
    for _, pos, count, own_twice_u in totals:
        neg_after -= count - pos  # the negatives of the later partitions: all score lower
        twice_u += own_twice_u + 2 * pos * neg_after

    def running_sums(batches):
        # one call per partition, rows in sort order: exclusive running sums from the offset
        pos_run = all_run = part = None
        last_score = np.inf
        for pdf in batches:
            if pdf.empty:
                continue
            if pos_run is None:
                part = int(pdf["_part"].iloc[0])
                pos_run, all_run = offsets[part]
            scores = pdf["score"].to_numpy()
            # the running sums are only right on the cached sort order: check it, it is cheap
            if (pdf["_part"] != part).any() or scores[0] > last_score or np.any(np.diff(scores) > 0):
                raise RuntimeError("score table: a partition is not in descending score order")
            last_score = scores[-1]
            n_pos, n_all = pdf["n_pos"].to_numpy(), pdf["n_all"].to_numpy()
            pos_above = pos_run + np.cumsum(n_pos) - n_pos
            all_above = all_run + np.cumsum(n_all) - n_all
            pos_run, all_run = pos_run + int(n_pos.sum()), all_run + int(n_all.sum())
            yield pd.DataFrame({"score": pdf["score"], "n_pos": n_pos, "n_all": n_all,
                                "pos_above": pos_above, "all_above": all_above})

    rows = ranged.mapInPandas(running_sums, "score double, n_pos long, n_all long, pos_above long, "
                                            "all_above long").cache()
    return ScoreTable(rows=rows, sorted_counts=ranged, n_pos=n_pos, n_neg=n_neg, twice_u=twice_u)


def auc(df: DataFrame, score_col: str, label_col: str) -> float:
    """Exact ROC AUC of ``score_col`` against ``label_col`` (1 = positive), ties counted half.

    Rows with a null score or label are left out; NaN without both classes. Distributed
    (:func:`score_table`): no more than one row per partition reaches the driver.
    """
    rows = df.select(F.col(score_col).cast("double").alias("s"), F.col(label_col).alias("y")).dropna()
    table = score_table(rows, "s", "y")
    table.unpersist()  # the AUC is known once the table is sorted: its rows are not needed
    return table.auc


# ---- many groups ----------------------------------------------------------------------------

def auc_by_group(scored: DataFrame, group_col: str, score_col: str, label_col: str) -> dict[object, float]:
    """Exact ROC AUC of every group of ``scored`` (label 1 = positive), ties counted half.

    The rows are hash-partitioned by group (one shuffle) and each partition ranks its groups
    with numpy (:func:`_mann_whitney`, then :func:`twice_mann_whitney_u`). Only one row per
    group reaches the driver; a group's rows are held in one task (like a window function's),
    ~16 bytes each. Rows with a null group, score or label are left out; a group without both
    classes gets NaN.
    """
    group_type = scored.schema[group_col].dataType.simpleString()
    rows = scored.select(F.col(group_col).alias("g"), F.col(score_col).cast("double").alias("s"),
                         (F.col(label_col) == 1).alias("positive")).dropna()
    partitions = default_parallelism(scored.sparkSession) * 2
    per_group = (rows.repartition(partitions, "g")
                 .mapInArrow(_mann_whitney, f"g {group_type}, u2 long, p long, n long").collect())
    return {row["g"]: auc_from_twice_u(row["u2"], row["p"], row["n"]) for row in per_group}


def _mann_whitney(batches):
    """mapInArrow: ``(g, s, positive)`` rows -> per group ``u2`` (:func:`twice_mann_whitney_u`), ``p``, ``n``."""
    batches = list(batches)
    table = pa.Table.from_batches(batches) if batches else None
    if table is None or table.num_rows == 0:
        return
    groups = table.column("g").combine_chunks()
    scores = table.column("s").to_numpy()
    positive = table.column("positive").to_numpy().astype(bool)
    codes = pc.dictionary_encode(groups)
    index = codes.indices.to_numpy()
    out_groups, u2s, ps, ns = [], [], [], []
    for code, group in enumerate(codes.dictionary.to_pylist()):
        mine = index == code
        s, pos = scores[mine], positive[mine]
        order = np.argsort(s, kind="stable")
        s, pos = s[order], pos[order]
        tie = np.cumsum(np.concatenate([[True], s[1:] != s[:-1]])) - 1  # rank of each row's distinct score
        pos_at = np.bincount(tie[pos], minlength=tie[-1] + 1)
        neg_at = np.bincount(tie[~pos], minlength=tie[-1] + 1)
        out_groups.append(group)
        u2s.append(twice_mann_whitney_u(pos_at, neg_at))
        ps.append(int(pos_at.sum()))
        ns.append(int(neg_at.sum()))
    yield pa.RecordBatch.from_arrays([pa.array(out_groups, groups.type), pa.array(u2s, pa.int64()),
                                      pa.array(ps, pa.int64()), pa.array(ns, pa.int64())],
                                     names=["g", "u2", "p", "n"])
