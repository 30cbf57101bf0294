"""Evaluation (AUC, DeLong, lift, curves, charts) against independent numpy/scikit-learn code,
and the report files."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2 as chi2_dist
from scipy.stats import norm
from sklearn.metrics import roc_auc_score

from churn_spark.app.report import plot_lift, plot_roc, write_report
from churn_spark.evaluation.metrics import auc_confidence_interval, evaluate
from churn_spark.modeling.kselect import summarize_k

N = 3000
Q = 100


def _scores(n: int = N, seed: int = 21) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.2).astype(int)
    coarse = np.round(0.8 * y + rng.normal(size=n), 1)        # many ties
    better = coarse + 0.4 * y + 0.5 * rng.normal(size=n)      # correlated with coarse, no ties
    smooth = rng.normal(size=n) + 0.6 * y                     # independent, no ties
    return pd.DataFrame({"churn": y, "coarse": coarse, "better": better, "smooth": smooth})


@pytest.fixture(scope="module")
def result(spark):
    pdf = _scores()
    df = spark.createDataFrame(pdf).repartition(5)
    # keep the shuffle's 4 partitions so that the per-partition offsets of the sort are exercised
    key = "spark.sql.adaptive.coalescePartitions.enabled"
    before = spark.conf.get(key)
    spark.conf.set(key, "false")
    try:
        ev = evaluate(df, "churn", {"coarse": "coarse", "better": "better", "smooth": "smooth"},
                      curve_points=Q)
    finally:
        spark.conf.set(key, before)
    return pdf, ev


def _placements(y: np.ndarray, s: np.ndarray):
    """O(n^2) structural components with the Mann-Whitney kernel."""
    pos, neg = s[y == 1], s[y == 0]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    return psi.mean(axis=1), psi.mean(axis=0), psi.mean()


def _delong_reference(y, a, b):
    v10a, v01a, auc_a = _placements(y, a)
    v10b, v01b, auc_b = _placements(y, b)
    s10, s01 = np.cov(np.vstack([v10a, v10b])), np.cov(np.vstack([v01a, v01b]))
    cov = s10 / len(v10a) + s01 / len(v01a)
    chi2 = (auc_a - auc_b) ** 2 / (cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    return cov, chi2


def _cumulative_positives(y: np.ndarray, s: np.ndarray, t: float) -> float:
    """Churners among the top t units, tie groups shared pro rata (interval overlap)."""
    total, start = 0.0, 0
    for value in np.unique(s)[::-1]:
        group = s == value
        size = group.sum()
        overlap = max(0.0, min(t, start + size) - start)
        total += y[group].sum() * overlap / size
        start += size
    return total


def test_auc_equals_sklearn(result):
    pdf, ev = result
    for model in ("coarse", "better", "smooth"):
        assert ev.metric(model)["auc"] == pytest.approx(roc_auc_score(pdf["churn"], pdf[model]), abs=1e-12)
        assert ev.metric(model)["n"] == N and ev.metric(model)["n_pos"] == pdf["churn"].sum()


def test_delong_variance_and_test_equal_the_quadratic_reference(result):
    pdf, ev = result
    y = pdf["churn"].to_numpy()
    for other in ("better", "smooth"):
        cov, chi2 = _delong_reference(y, pdf["coarse"].to_numpy(), pdf[other].to_numpy())
        test = next(t for t in ev.delong if t["model_b"] == other)
        assert test["model_a"] == "coarse"
        assert test["chi2"] == pytest.approx(chi2, rel=1e-9)
        assert test["p_value"] == pytest.approx(chi2_dist.sf(chi2, 1), rel=1e-7)
        assert ev.metric(other)["delong_chi2"] == test["chi2"]
        i = ev.models.index(other)
        np.testing.assert_allclose(ev.auc_covariance[[0, i]][:, [0, i]], cov, rtol=1e-9)
    assert ev.metric("coarse")["delong_chi2"] is None
    # 95% CI = AUC +- 1.96 se with the DeLong standard error
    m = ev.metric("better")
    assert m["auc_se"] == pytest.approx(np.sqrt(ev.auc_covariance[1, 1]))
    assert m["auc_ci_low"] == pytest.approx(m["auc"] - norm.ppf(0.975) * m["auc_se"])
    assert m["auc_ci_high"] == pytest.approx(m["auc"] + norm.ppf(0.975) * m["auc_se"])


def test_decile_lift_without_ties_equals_sort_and_slice(result):
    pdf, ev = result
    y = pdf["churn"].to_numpy()
    ranked = y[np.argsort(-pdf["smooth"].to_numpy())]
    expected = [ranked[d * N // 10:(d + 1) * N // 10].mean() / y.mean() for d in range(10)]
    got = [r["lift"] for r in ev.decile_lift if r["model"] == "smooth"]
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert ev.metric("smooth")["top_decile_lift"] == pytest.approx(expected[0])


def test_lift_and_roc_curves_with_ties_equal_the_reference(result):
    pdf, ev = result
    y, s = pdf["churn"].to_numpy(), pdf["coarse"].to_numpy()
    n_pos, n_neg = y.sum(), len(y) - y.sum()
    lift = [r for r in ev.lift_curve if r["model"] == "coarse"]
    roc = [r for r in ev.roc_curve if r["model"] == "coarse"]
    assert len(lift) == Q and len(roc) == Q + 1
    for q in (1, 7, 10, 33, 50, 99, 100):
        t = q * N / Q
        c = _cumulative_positives(y, s, t)
        assert lift[q - 1]["x"] == pytest.approx(q / Q)
        assert lift[q - 1]["y"] == pytest.approx(c / t / y.mean(), rel=1e-12)
        assert roc[q]["x"] == pytest.approx((t - c) / n_neg, rel=1e-12)
        assert roc[q]["y"] == pytest.approx(c / n_pos, rel=1e-12)
    assert (roc[0]["x"], roc[0]["y"]) == (0.0, 0.0)
    assert roc[-1]["x"] == pytest.approx(1.0) and roc[-1]["y"] == pytest.approx(1.0)
    deciles = [r["lift"] for r in ev.decile_lift if r["model"] == "coarse"]
    assert deciles[0] == pytest.approx(lift[Q // 10 - 1]["y"])
    # the decile lifts average to 1 (every churner is in some decile)
    assert np.mean(deciles) == pytest.approx(1.0)


def test_confidence_interval_methods():
    low, high = auc_confidence_interval(0.75, 0.02, 0.95, "delong")
    assert (low, high) == pytest.approx((0.75 - 1.959964 * 0.02, 0.75 + 1.959964 * 0.02), rel=1e-6)
    low, high = auc_confidence_interval(0.98, 0.02, 0.95, "logit")
    logit = np.log(0.98 / 0.02)
    half = 1.959964 * 0.02 / (0.98 * 0.02)
    expit = 1 / (1 + np.exp(-np.array([logit - half, logit + half])))
    assert (low, high) == pytest.approx(tuple(expit), rel=1e-6)
    assert 0 < low < 0.98 < high < 1


def test_invalid_scores_are_refused(spark):
    df = spark.createDataFrame(pd.DataFrame({"churn": [0, 1, 0, 1], "s": [0.1, None, 0.3, 0.4]}))
    with pytest.raises(ValueError, match="null or NaN"):
        evaluate(df, "churn", {"m": "s"})
    with pytest.raises(ValueError, match="multiple of 10"):
        evaluate(df, "churn", {"m": "s"}, curve_points=15)


def test_charts_are_png_files(result, tmp_path):
    _, ev = result
    for path in (plot_roc(ev.roc_curve, tmp_path / "roc.png", {"coarse": 0.7}),
                 plot_lift(ev.lift_curve, tmp_path / "lift.png")):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000


def test_report_and_summary_follow_the_data_contract(result, tmp_path):
    _, ev = result
    renamed = {"coarse": "structured", "better": "structured_text", "smooth": "smooth"}

    def rename(rows):
        return [{**r, "model": renamed[r["model"]]} for r in rows]

    selection = [{"step": 1, "variable": "time_since_complaint", "score_chi2": 120.5, "p_value": 1e-20,
                  "label": "time since last complaint"},
                 {"step": 2, "variable": "edition_is_X1", "score_chi2": 30.25, "p_value": 2e-4}]
    coefficients = [{"model": "structured", "variable": "intercept", "coefficient": -1.2, "std_error": 0.1,
                     "wald_chi2": 144.0, "p_value": 1e-30}]
    k_selection = summarize_k({k: [0.7 + k / 1000 + f / 100 for f in range(3)] for k in (10, 20, 40)})
    delong = {**ev.delong[0], "model_a": "structured", "model_b": "structured_text"}
    paths = write_report(tmp_path / "report", n_train=9000, n_test=N, k=20, selection=selection,
                         metrics=rename(ev.metrics), delong=delong, roc_curve=rename(ev.roc_curve),
                         lift_curve=rename(ev.lift_curve), decile_lift=rename(ev.decile_lift),
                         coefficients=coefficients, k_selection=k_selection,
                         data_sizes={"emails": 12345}, oracle_auc={"structured": 0.71})
    summary = json.loads(paths["summary"].read_text(encoding="utf-8"))
    assert summary["n_train"] == 9000 and summary["n_test"] == N and summary["k"] == 20
    structured, text = summary["models"]["structured"], summary["models"]["structured_text"]
    assert structured["auc"] == pytest.approx(ev.metric("coarse")["auc"])
    assert structured["top_decile_lift"] == pytest.approx(ev.metric("coarse")["top_decile_lift"])
    assert structured["variables"] == ["time_since_complaint", "edition_is_X1"]
    assert text["auc"] == pytest.approx(ev.metric("better")["auc"]) and 0 < text["auc"] < 1
    assert summary["delong"]["chi2"] == pytest.approx(ev.delong[0]["chi2"])
    assert summary["delong"]["p_value"] == pytest.approx(ev.delong[0]["p_value"])
    assert structured["oracle_auc"] == 0.71

    report = paths["report"].read_text(encoding="utf-8")
    assert "Table 3" in report and "time since last complaint" in report
    assert "| structured | " in report and "73.80" in report and "77.75" in report
    for image in ("roc.png", "lift.png", "cv_auc_by_k.png"):
        assert f"]({image})" in report and (tmp_path / "report" / image).exists()
    with pytest.raises(ValueError, match="structured_text"):
        write_report(tmp_path / "bad", n_train=1, n_test=1, k=1, selection=[],
                     metrics=[{"model": "structured", "auc": 0.5, "top_decile_lift": 1.0}], delong={},
                     roc_curve=[], lift_curve=[])
