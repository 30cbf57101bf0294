"""``rank_by_probability`` without RDDs: the ranks of a global sort, partition offsets plus row numbers."""

from __future__ import annotations

import contextlib

import numpy as np
import pandas as pd
from pyspark.sql import types as T

from churn_spark.app.stages.score import rank_by_probability

SCHEMA = T.StructType([T.StructField("unit_id", T.LongType(), False),
                       T.StructField("p_churn", T.DoubleType(), True),
                       T.StructField("model", T.StringType(), True)])


@contextlib.contextmanager
def _conf(spark, **settings):
    before = {k: spark.conf.get(k) for k in settings}
    for k, v in settings.items():
        spark.conf.set(k, v)
    try:
        yield
    finally:
        for k, v in before.items():
            spark.conf.set(k, v)


def _expected(pdf: pd.DataFrame) -> pd.DataFrame:
    """The reference: sort by p_churn descending (nulls last), then unit_id; rank 1..n, decile."""
    ordered = pdf.sort_values(["p_churn", "unit_id"], ascending=[False, True], na_position="last")
    n = len(ordered)
    ranks = np.arange(1, n + 1)
    return pd.DataFrame({"unit_id": ordered["unit_id"].to_numpy(), "rank": ranks,
                         "decile": (ranks - 1) * 10 // max(n, 1) + 1})


def test_ranks_equal_a_sort_with_ties_nulls_and_many_partitions(spark):
    rng = np.random.default_rng(7)
    n = 5003
    p = np.round(rng.random(n), 2)  # many ties: unit_id breaks them
    rows = [(int(u), None if u % 97 == 0 else float(p[u]), "m") for u in rng.permutation(n)]
    pdf = pd.DataFrame(rows, columns=["unit_id", "p_churn", "model"])
    with _conf(spark, **{"spark.sql.shuffle.partitions": "7",
                         "spark.sql.adaptive.coalescePartitions.enabled": "false"}):
        df = spark.createDataFrame(rows, SCHEMA).repartition(5)
        ranked = rank_by_probability(df, "p_churn")
        got = ranked.toPandas().sort_values("rank").reset_index(drop=True)
    assert ranked.columns == ["unit_id", "p_churn", "model", "rank", "decile"]
    assert [(f.dataType, f.nullable) for f in ranked.schema.fields][3:] == [(T.LongType(), False),
                                                                             (T.IntegerType(), True)]
    assert ranked.schema.fields[:3] == SCHEMA.fields
    expected = _expected(pdf)
    assert got["unit_id"].tolist() == expected["unit_id"].tolist()
    assert got["rank"].tolist() == expected["rank"].tolist()
    assert got["decile"].tolist() == expected["decile"].tolist()


def test_ranks_of_one_row_and_of_no_rows(spark):
    one = rank_by_probability(spark.createDataFrame([(3, 0.5, "m")], SCHEMA), "p_churn").collect()
    assert [(r.unit_id, r["rank"], r.decile) for r in one] == [(3, 1, 1)]
    none = rank_by_probability(spark.createDataFrame([], SCHEMA), "p_churn")
    assert none.columns == ["unit_id", "p_churn", "model", "rank", "decile"]
    assert none.count() == 0
