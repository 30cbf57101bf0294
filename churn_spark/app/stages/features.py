"""``features``: the paper's Appendix C marketing variables per renewal point -> ``observations``."""

from __future__ import annotations

import time
from typing import Any

from pyspark.sql import functions as F

from churn_spark.app.context import Context
from churn_spark.app.stages import Stage
from churn_spark.app.stages.generate import MARKETING_TABLES


def run(ctx: Context) -> dict[str, Any]:
    """Compute ``observations`` from the marketing tables; returns sizes and the churn rate."""
    from churn_spark.features import FEATURE_DOCS, build_observations

    lake = ctx.lake
    t0 = time.time()
    version = lake.write(build_observations(lake, ctx.cfg), "observations")
    row = lake.read("observations").agg(
        F.count("*").alias("units"), F.avg("churn").alias("churn_rate"),
        F.sum(F.when(F.col("split") == "test", 1).otherwise(0)).alias("test"),
        F.sum(F.when(F.col("split") == "score", 1).otherwise(0)).alias("score")).first()
    result = {"table": "observations", "version": version, "units": row["units"],
              "churn_rate": row["churn_rate"], "train": row["units"] - row["test"] - row["score"],
              "test": row["test"], "score": row["score"],
              "variables": len(FEATURE_DOCS), "seconds": round(time.time() - t0, 2)}
    print(f"features: observations v{version}: {result['units']:,} units ({result['train']:,} train, "
          f"{result['test']:,} test, {result['score']:,} to score), churn rate {result['churn_rate']:.4f}, "
          f"{result['variables']} variables, {result['seconds']:.1f} s")
    return result


STAGE = Stage("features", run, inputs=MARKETING_TABLES, outputs=("observations",), config=("features", "run"),
              help="Appendix C variables per renewal point")
