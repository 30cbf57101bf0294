"""The cost of the k search: :func:`churn_spark.modeling.kselect.select_k` per classifier.

On synthetic training units shaped like the paper's (9,603 units, 20 marketing variables, the
default k grid of 14 values up to 300, 5 folds: 71 logistic fits), it times ``select_k``
(``folds x len(k_grid)`` fits + the final refit) for each classifier asked for.

    .venv/bin/python -m bench.kselect --classifiers lbfgs irls --out bench/results_kselect.json

Results go to ``--out`` as JSON (after each classifier) and are printed. Not part of the tests.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

import numpy as np
import pandas as pd
from pyspark.ml.functions import array_to_vector
from pyspark.sql import DataFrame, SparkSession

from bench.common import timed, write_json
from churn_spark.config import load_config
from churn_spark.modeling.kselect import select_k
from churn_spark.session import get_spark

K_GRID = [10, 20, 30, 40, 50, 60, 80, 100, 120, 140, 170, 200, 250, 300]


def synthetic_units(spark: SparkSession, units: int, marketing: int, concepts: int, seed: int) -> DataFrame:
    """Training units shaped like the paper's (9,603 units, 20 marketing variables, k_max concepts)
    whose churn depends on the marketing variables and, decreasingly, on the leading concepts."""
    rng = np.random.default_rng([seed, 2])
    loadings = rng.standard_normal((units, concepts)) / np.sqrt(units)  # like the columns of U
    market = rng.standard_normal((units, marketing))
    logit = (-1.5 + market[:, :10] @ np.full(10, 0.3)
             + np.sqrt(units) * loadings @ (0.4 * np.exp(-np.arange(concepts) / 50)))
    churn = (rng.random(units) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int32)
    frame = pd.DataFrame(market, columns=[f"m{i}" for i in range(marketing)])
    frame["concepts"] = list(loadings)
    frame["churn"] = churn
    return spark.createDataFrame(frame).withColumn("concepts", array_to_vector("concepts"))


def run_kselect(spark: SparkSession, units: int = 9_603, k_grid: list[int] | None = None, folds: int = 5,
                classifiers: tuple[str, ...] = ("lbfgs",), out: str = "bench/results_kselect.json",
                seed: int = 7) -> dict:
    """Time ``select_k`` per classifier; write the JSON to ``out`` and return it."""
    grid = k_grid or K_GRID
    frame = synthetic_units(spark, units, 20, max(grid), seed).cache()
    frame.count()
    marketing = [c for c in frame.columns if c.startswith("m")]
    results: dict = {"units": units, "k_grid": grid, "folds": folds, "runs": []}
    for classifier in classifiers:
        selection, seconds = timed(select_k, frame, "concepts", marketing, "churn", grid, folds, seed, "one_se",
                                   classifier=classifier)
        best = max(selection.scores, key=lambda s: s.mean_auc)
        results["runs"].append({"classifier": classifier, "seconds": seconds, "fits": folds * len(grid) + 1,
                                "chosen_k": selection.chosen_k, "best_k": best.k, "best_mean_auc": best.mean_auc})
        print(f"[kselect] {classifier}: {seconds:.0f} s, chosen k {selection.chosen_k}", file=sys.stderr, flush=True)
        write_json(out, results)
    frame.unpersist()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.kselect", description=__doc__.splitlines()[0])
    parser.add_argument("--classifiers", nargs="+", default=["lbfgs"], help="select_k classifiers (lbfgs, irls)")
    parser.add_argument("--units", type=int, default=9_603)
    parser.add_argument("--out", default="bench/results_kselect.json")
    parser.add_argument("--conf", action="append", default=[], help="pipeline config override key=value")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("churn_spark").setLevel(logging.INFO)
    spark = get_spark(load_config(["local"], args.conf), app_name="bench-kselect")
    print(json.dumps(run_kselect(spark, args.units, classifiers=tuple(args.classifiers), out=args.out), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
