"""A smoke job: write, read, overwrite and time-travel one table through the lake.

It proves on a new machine that Spark, the Python workers and the Delta layer work together,
and prints what it saw.
"""

from __future__ import annotations

from pyspark.sql import functions as F


def run_smoke(ctx) -> dict:
    spark, lake = ctx.spark, ctx.lake
    first = spark.range(1000).select(F.col("id").alias("unit"), (F.col("id") % 10).alias("decile"))
    v0 = lake.write(first, "smoke_check")
    second = first.where("decile < 5").withColumn("decile", F.col("decile") + 100)
    v1 = lake.write(second, "smoke_check")
    now, then = lake.read("smoke_check"), lake.read("smoke_check", version=v0)
    result = {
        "backend": lake.backend,
        "table": lake.path("smoke_check"),
        "versions": [c.version for c in lake.history("smoke_check")],
        "rows_now": now.count(),
        "rows_at_v0": then.count(),
        "max_decile_now": now.agg(F.max("decile")).first()[0],
        "max_decile_at_v0": then.agg(F.max("decile")).first()[0],
    }
    assert v1 == v0 + 1 and result["rows_now"] == 500 and result["rows_at_v0"] == 1000
    print(f"smoke: Delta backend {result['backend']}, table {result['table']}")
    print(f"smoke: wrote version {v0} (1000 rows), overwrote as version {v1} (500 rows)")
    print(f"smoke: now {result['rows_now']} rows (max decile {result['max_decile_now']}); "
          f"time travel to v{v0}: {result['rows_at_v0']} rows (max decile {result['max_decile_at_v0']})")
    return result
