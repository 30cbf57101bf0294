"""Test-set evaluation on Spark (Table 4): AUC with DeLong confidence interval, the DeLong test of
two correlated AUCs, decile lift, cumulative lift and ROC curves (numbers only: the application draws them).

Notation: ``n1`` churners (positives) with scores ``X_i``, ``n0`` non-churners with scores
``Y_j``; the Mann-Whitney kernel ``psi(x, y) = 1 if x > y, 1/2 if x = y, 0 otherwise``.

* AUC ``theta = (1 / (n1 n0)) sum_i sum_j psi(X_i, Y_j)`` (ties count one half: the value
  of scikit-learn's ``roc_auc_score``), exact: :mod:`churn_spark.evaluation.auc`.
* DeLong, DeLong & Clarke-Pearson (1988) placement values (structural components)
  ``V10(X_i) = (1/n0) sum_j psi(X_i, Y_j)`` and ``V01(Y_j) = (1/n1) sum_i psi(X_i, Y_j)``;
  both average to ``theta``. For models ``a, b`` on the same units
  ``S10_ab = sum_i (V10_a(X_i) - theta_a)(V10_b(X_i) - theta_b) / (n1 - 1)``, ``S01_ab``
  likewise over the non-churners, and ``Cov(theta_a, theta_b) = S10_ab / n1 + S01_ab / n0``.
* 95% CI: ``theta +- z se`` with ``se^2 = Var(theta)`` (``ci_method="delong"``, as pROC's
  ``ci.auc(method="delong")``), or on the logit scale
  ``logit(theta) +- z se / (theta (1 - theta))`` mapped back (``"logit"``, stays in (0, 1)).
* Test of ``theta_a = theta_b``: ``chi2 = (theta_a - theta_b)^2 / (Var_a + Var_b - 2 Cov_ab)``,
  1 d.f.
* Ranking by score, highest first; ``C(t)`` = churners among the top ``t`` units, with a
  group of tied scores counted pro rata (the expectation under random tie-breaking,
  consistent with the ROC's straight segments through ties). Decile ``d`` lift
  ``= [(C(d n/10) - C((d-1) n/10)) / (n/10)] / (n1/n)``; cumulative lift at share ``x``:
  ``[C(x n) / (x n)] / (n1/n)``; ROC point at share ``x``: ``((x n - C(x n)) / n0, C(x n) / n1)``.

Distributed: per model, the units are grouped by distinct score and globally sorted into a
:class:`~churn_spark.evaluation.auc.ScoreTable` (counts above each score from per-partition totals,
one small collect of one row per partition, plus a running sum inside each partition); the AUC
comes with the partition totals, the curve points are an aggregation of the table, and a join of
the units with the tables gives every unit its placements for the covariances. Only
per-partition totals and the curve points (``curve_points`` per model) reach the driver.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from scipy.stats import chi2 as chi2_dist
from scipy.stats import norm

from churn_spark.evaluation.auc import ScoreTable, score_table

METRICS_SCHEMA = ("model string, n long, n_pos long, auc double, auc_se double, auc_ci_low double, "
                  "auc_ci_high double, top_decile_lift double, delong_chi2 double, delong_p double")
CURVE_SCHEMA = "model string, x double, y double"
DECILE_SCHEMA = "model string, decile int, n double, n_pos double, churn_rate double, lift double"
DELONG_SCHEMA = ("model_a string, model_b string, auc_a double, auc_b double, auc_diff double, "
                 "se_diff double, chi2 double, p_value double")


@dataclass
class Evaluation:
    """Everything the evaluation produced, as small row lists (one dict per table row).

    ``metrics`` -> table ``model_metrics``; ``roc_curve`` / ``lift_curve`` -> tables of
    (model, x, y); ``decile_lift`` one row per (model, decile); ``delong`` one row per
    comparison of a model with the reference model; ``auc_covariance`` the DeLong
    covariance matrix of the AUCs (models in ``models`` order).
    """

    models: list[str]
    metrics: list[dict[str, Any]]
    roc_curve: list[dict[str, Any]]
    lift_curve: list[dict[str, Any]]
    decile_lift: list[dict[str, Any]]
    delong: list[dict[str, Any]]
    auc_covariance: np.ndarray = field(repr=False)

    def metric(self, model: str) -> dict[str, Any]:
        return next(m for m in self.metrics if m["model"] == model)

    def frames(self, spark: SparkSession) -> dict[str, DataFrame]:
        """The tables ``model_metrics``, ``roc_curve``, ``lift_curve``, ``decile_lift``, ``delong_test``."""
        return {"model_metrics": spark.createDataFrame(self.metrics, METRICS_SCHEMA),
                "roc_curve": spark.createDataFrame(self.roc_curve, CURVE_SCHEMA),
                "lift_curve": spark.createDataFrame(self.lift_curve, CURVE_SCHEMA),
                "decile_lift": spark.createDataFrame(self.decile_lift, DECILE_SCHEMA),
                "delong_test": spark.createDataFrame(self.delong, DELONG_SCHEMA)}


def evaluate(df: DataFrame, label_col: str, score_cols: Mapping[str, str], curve_points: int = 200,
             ci_level: float = 0.95, ci_method: str = "delong", reference: str | None = None) -> Evaluation:
    """Evaluate the score columns of ``df`` against the 0/1 ``label_col``.

    ``score_cols`` maps model name -> score column (higher = more likely to churn).
    ``reference`` (default: the first model) is the model every other one is tested
    against with DeLong's test. ``curve_points`` (a multiple of 10) is the number of
    ranking shares ``x = 1/Q, 2/Q, ..., 1`` at which the lift and ROC curves are given.
    Rows with a null label are ignored; a null or NaN score is an error.
    """
    if curve_points < 10 or curve_points % 10:
        raise ValueError(f"curve_points must be a positive multiple of 10, got {curve_points}")
    if ci_method not in ("delong", "logit"):
        raise ValueError(f"ci_method must be 'delong' or 'logit', got {ci_method!r}")
    models = list(score_cols)
    if not models:
        raise ValueError("no score columns to evaluate")
    reference = reference or models[0]
    if reference not in score_cols:
        raise ValueError(f"reference model {reference!r} is not among {models}")

    scores = [f"_s{i}" for i in range(len(models))]
    casts = [F.col(score_cols[m]).cast("double").alias(s) for m, s in zip(models, scores, strict=True)]
    data = (df.select(F.col(label_col).cast("double").alias("_y"), *casts)
            .where(F.col("_y").isNotNull()).cache())
    tables: list[ScoreTable] = []
    try:
        n, n_pos = _check_and_count(data, label_col, scores, score_cols, models)
        n_neg = n - n_pos
        for s in scores:
            tables.append(score_table(data, s, "_y"))
        aucs = [table.auc for table in tables]
        curves = [_curve_points(table.rows, n, curve_points) for table in tables]
        covariance = _delong_covariance(data, tables, scores)
    finally:
        data.unpersist()
        for table in tables:
            table.unpersist()

    z = float(norm.ppf(0.5 + ci_level / 2))
    rate = n_pos / n
    metrics, roc, lift, deciles, delong = [], [], [], [], []
    ref = models.index(reference)
    for i, model in enumerate(models):
        cum_pos = curves[i]                       # C(q n / Q) for q = 0..Q
        share = np.arange(curve_points + 1) / curve_points
        targeted = share * n
        roc.extend({"model": model, "x": float((t - c) / n_neg), "y": float(c / n_pos)}
                   for t, c in zip(targeted, cum_pos, strict=True))
        lift.extend({"model": model, "x": float(x), "y": float(c / t / rate)}
                    for x, t, c in zip(share[1:], targeted[1:], cum_pos[1:], strict=True))
        per_decile = cum_pos[:: curve_points // 10]
        for d in range(1, 11):
            positives = float(per_decile[d] - per_decile[d - 1])
            deciles.append({"model": model, "decile": d, "n": n / 10, "n_pos": positives,
                            "churn_rate": positives / (n / 10), "lift": positives / (n / 10) / rate})
        se = math.sqrt(max(covariance[i, i], 0.0))
        low, high = _auc_interval(aucs[i], se, z, ci_method)
        row = {"model": model, "n": n, "n_pos": n_pos, "auc": aucs[i], "auc_se": se,
               "auc_ci_low": low, "auc_ci_high": high,
               "top_decile_lift": deciles[10 * i]["lift"], "delong_chi2": None, "delong_p": None}
        if i != ref:
            test = _delong_test(models, aucs, covariance, ref, i)
            delong.append(test)
            row["delong_chi2"], row["delong_p"] = test["chi2"], test["p_value"]
        metrics.append(row)
    return Evaluation(models=models, metrics=metrics, roc_curve=roc, lift_curve=lift, decile_lift=deciles,
                      delong=delong, auc_covariance=covariance)


def _check_and_count(data: DataFrame, label_col: str, scores: list[str], score_cols: Mapping[str, str],
                     models: list[str]) -> tuple[int, int]:
    """n and n_pos in one job; fails on labels other than 0/1, null/NaN scores, a single class."""
    bad_scores = [F.sum((F.col(s).isNull() | F.isnan(s)).cast("long")).alias(s) for s in scores]
    row = data.agg(F.count(F.lit(1)).alias("n"), F.sum("_y").alias("n_pos"),
                   F.sum((~F.col("_y").isin(0.0, 1.0)).cast("long")).alias("bad_labels"), *bad_scores).first()
    if row["bad_labels"]:
        raise ValueError(f"label {label_col!r} must be 0/1; {row['bad_labels']} rows are not")
    invalid = {score_cols[m]: row[s] for m, s in zip(models, scores, strict=True) if row[s]}
    if invalid:
        raise ValueError(f"null or NaN scores (column: rows): {invalid}")
    n, n_pos = int(row["n"]), int(row["n_pos"] or 0)
    if n_pos == 0 or n_pos == n:
        raise ValueError(f"AUC needs both classes among the labelled units (n={n}, positives={n_pos})")
    return n, n_pos


def _curve_points(table: DataFrame, n: int, points: int) -> np.ndarray:
    """``C(q n / Q)`` for ``q = 0..Q``: churners among the top ``q/Q`` share of units.

    Grid point ``q`` falls in the tie group with ``all_above < q n / Q <= all_above + n_all``
    (integer arithmetic), which contributes its churners pro rata.
    """
    first = F.expr(f"(all_above * {points}) div {n}") + 1
    last = F.expr(f"((all_above + n_all) * {points}) div {n}")
    # sequence(a, b) counts down when a > b: such a group holds no grid point
    grid = F.when(first <= last, F.sequence(first, last)).otherwise(F.array().cast("array<long>"))
    at = (table.select("*", F.explode(grid).alias("q"))
          .select("q", (F.col("pos_above") + F.col("n_pos")
                        * (F.col("q") * n / points - F.col("all_above")) / F.col("n_all")).alias("c")))
    cum_pos = np.zeros(points + 1)
    for row in at.collect():
        cum_pos[int(row["q"])] = row["c"]
    return cum_pos


def _delong_covariance(data: DataFrame, tables: list[ScoreTable], scores: list[str]) -> np.ndarray:
    """The DeLong covariance matrix of the AUCs, ``S10 / n1 + S01 / n0``, in one pass over the units.

    Each unit gets its placements by joining its score with the score tables; sums of the
    placements and of their products (shifted by 1/2 against cancellation) give the sample
    means and the covariances.
    """
    n_pos, n_neg = tables[0].n_pos, tables[0].n_neg
    placed = data
    for i, (table, s) in enumerate(zip(tables, scores, strict=True)):
        v10, v01 = table.placements()
        placed = placed.join(table.rows.select(F.col("score").alias(s), (v10 - 0.5).alias(f"_v10_{i}"),
                                               (v01 - 0.5).alias(f"_v01_{i}")), s)
    m = len(scores)
    is_pos = F.col("_y") == 1.0

    def over_positives(value):
        return F.sum(F.when(is_pos, value).otherwise(0.0))

    def over_negatives(value):
        return F.sum(F.when(is_pos, 0.0).otherwise(value))

    sums = [over_positives(F.col(f"_v10_{a}")).alias(f"m10_{a}") for a in range(m)]
    sums += [over_negatives(F.col(f"_v01_{a}")).alias(f"m01_{a}") for a in range(m)]
    for a in range(m):
        for b in range(a, m):
            sums += [over_positives(F.col(f"_v10_{a}") * F.col(f"_v10_{b}")).alias(f"s10_{a}_{b}"),
                     over_negatives(F.col(f"_v01_{a}") * F.col(f"_v01_{b}")).alias(f"s01_{a}_{b}")]
    row = placed.agg(*sums).first()
    # the shifted placements' sample means (V10 and V01 both average to the AUC, up to rounding)
    mean10 = [row[f"m10_{a}"] / n_pos for a in range(m)]
    mean01 = [row[f"m01_{a}"] / n_neg for a in range(m)]
    covariance = np.full((m, m), np.nan)
    for a in range(m):
        for b in range(a, m):
            if n_pos > 1 and n_neg > 1:
                s10 = (row[f"s10_{a}_{b}"] - n_pos * mean10[a] * mean10[b]) / (n_pos - 1)
                s01 = (row[f"s01_{a}_{b}"] - n_neg * mean01[a] * mean01[b]) / (n_neg - 1)
                covariance[a, b] = covariance[b, a] = s10 / n_pos + s01 / n_neg
    return covariance


def auc_confidence_interval(auc: float, se: float, level: float = 0.95,
                            method: str = "delong") -> tuple[float, float]:
    """Two-sided interval for an AUC with standard error ``se``.

    ``"delong"``: ``auc +- z se`` clipped to [0, 1]; ``"logit"``: ``logit(auc) +- z se / (auc (1 - auc))``
    mapped back with the logistic function (always inside (0, 1)).
    """
    return _auc_interval(auc, se, float(norm.ppf(0.5 + level / 2)), method)


def _auc_interval(auc: float, se: float, z: float, method: str) -> tuple[float, float]:
    if method == "logit" and 0.0 < auc < 1.0:
        centre, half = math.log(auc / (1 - auc)), z * se / (auc * (1 - auc))
        return 1 / (1 + math.exp(-(centre - half))), 1 / (1 + math.exp(-(centre + half)))
    return max(0.0, auc - z * se), min(1.0, auc + z * se)


def _delong_test(models: list[str], aucs: list[float], covariance: np.ndarray, a: int,
                 b: int) -> dict[str, Any]:
    variance = covariance[a, a] + covariance[b, b] - 2 * covariance[a, b]
    diff = aucs[b] - aucs[a]
    chi2 = float(diff ** 2 / variance) if variance > 0 else float("nan")
    return {"model_a": models[a], "model_b": models[b], "auc_a": aucs[a], "auc_b": aucs[b], "auc_diff": diff,
            "se_diff": math.sqrt(max(variance, 0.0)), "chi2": chi2,
            "p_value": float(chi2_dist.sf(chi2, 1)) if variance > 0 else float("nan")}
