"""The exact ROC AUC, computed in Spark: the Mann-Whitney statistic with ties counted half.

For a group's rows with scores ``s`` and labels (1 = positive), ``P`` positives, ``N`` negatives::

    AUC = Σ_s pos(s) · (2 neg(< s) + neg(s)) / (2 P N)

summed over the distinct scores ``s`` in exact integer arithmetic: the probability that a random
positive scores above a random negative, a tie counting half.
"""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame
from pyspark.sql import functions as F


def auc_by_group(scored: DataFrame, group_col: str, score_col: str, label_col: str) -> dict[object, float]:
    """Exact ROC AUC of every group of ``scored`` (label 1 = positive), ties counted half.

    The Mann–Whitney statistic: the rows are hash-partitioned by group (one shuffle) and each
    partition ranks its groups with numpy (:func:`_mann_whitney`),
    ``AUC = Σ_s pos(s) (2 neg(< s) + neg(s)) / (2 P N)`` in exact integer arithmetic. Only one
    row per group reaches the driver; a group's rows are held in one task (like a window
    function's), ~16 bytes each. Rows with a null group, score or label are left out; a group
    without both classes gets NaN.
    """
    group_type = scored.schema[group_col].dataType.simpleString()
    rows = scored.select(F.col(group_col).alias("g"), F.col(score_col).cast("double").alias("s"),
                         (F.col(label_col) == 1).alias("positive")).dropna()
    partitions = scored.sparkSession.sparkContext.defaultParallelism * 2
    per_group = (rows.repartition(partitions, "g")
                 .mapInArrow(_mann_whitney, f"g {group_type}, u2 long, p long, n long").collect())
    return {row["g"]: row["u2"] / (2.0 * row["p"] * row["n"]) if row["p"] and row["n"] else math.nan
            for row in per_group}


def _mann_whitney(batches):
    """mapInArrow: ``(g, s, positive)`` rows -> per group ``u2 = Σ_s pos(s) (2 neg(< s) + neg(s))``, ``p``, ``n``."""
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
        pos_at = np.bincount(tie[pos], minlength=tie[-1] + 1).astype(np.int64)
        neg_at = np.bincount(tie[~pos], minlength=tie[-1] + 1).astype(np.int64)
        neg_below = np.cumsum(neg_at) - neg_at
        out_groups.append(group)
        u2s.append(int(np.sum(pos_at * (2 * neg_below + neg_at))))
        ps.append(int(pos_at.sum()))
        ns.append(int(neg_at.sum()))
    yield pa.RecordBatch.from_arrays([pa.array(out_groups, groups.type), pa.array(u2s, pa.int64()),
                                      pa.array(ps, pa.int64()), pa.array(ns, pa.int64())],
                                     names=["g", "u2", "p", "n"])
