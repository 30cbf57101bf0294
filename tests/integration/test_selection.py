"""Forward selection by score chi-square and the distributed Newton fit, against statsmodels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy.stats import chi2 as chi2_dist
from sklearn.linear_model import LogisticRegression

from churn_spark.linalg.logistic import fit_logistic
from churn_spark.modeling.selection import forward_select

CANDIDATES = ["x_strong", "money", "small", "is_x1", "noise_a", "noise_b", "constant", "combo", "leak"]


def _data(n: int = 2500, seed: int = 11) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x_strong = rng.normal(size=n)
    money = rng.normal(1000.0, 100.0, n)                      # large mean: tests the internal centring
    small = rng.normal(0.0, 0.01, n)                          # tiny scale
    is_x1 = (rng.random(n) < 0.3).astype(float)
    eta = -1.4 + 0.9 * x_strong + 0.006 * (money - 1000.0) + 25.0 * small + 0.45 * is_x1
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-eta))).astype(float)
    return pd.DataFrame({
        "x_strong": x_strong, "money": money, "small": small, "is_x1": is_x1,
        "noise_a": rng.normal(size=n), "noise_b": rng.exponential(size=n),
        "constant": np.full(n, 3.0),
        "combo": x_strong + 0.002 * money,                    # best single predictor; enters first
        "leak": y + rng.uniform(0.0, 0.5, n),                 # separates the classes perfectly
        "churn": y,
    })


def _reference_forward(pdf: pd.DataFrame, candidates: list[str], entry_p: float = 0.05):
    """Forward selection written with statsmodels' Logit fit and score_test (skipping candidates
    that are constant or in the span of the model's columns; ties go to candidate order)."""
    y = pdf["churn"].to_numpy()
    selected: list[str] = []
    steps = []
    rest = list(candidates)
    while rest:
        exog = np.column_stack([np.ones(len(y))] + [pdf[c].to_numpy() for c in selected])
        fit = sm.Logit(y, exog).fit(disp=0, method="newton", tol=1e-12, maxiter=100)
        scores = {}
        for c in rest:
            extra = pdf[[c]].to_numpy()
            if np.linalg.matrix_rank(np.column_stack([exog, extra])) <= exog.shape[1]:
                continue
            scores[c] = float(np.squeeze(fit.score_test(exog_extra=extra)[0]))
        best = max(scores.values())
        name = next(c for c in rest if c in scores and scores[c] >= best * (1 - 1e-7))
        p_value = chi2_dist.sf(scores[name], 1)
        if p_value >= entry_p:
            break
        steps.append((name, scores[name], p_value))
        selected.append(name)
        rest.remove(name)
    return steps


@pytest.fixture(scope="module")
def data(spark):
    pdf = _data()
    return pdf, spark.createDataFrame(pdf).repartition(3)


@pytest.fixture(scope="module")
def selection(data):
    _, df = data
    return forward_select(df, CANDIDATES, "churn", entry_p=0.05, max_variables=25, max_iter=8,
                          labels={"is_x1": "edition is X1"})


def test_selection_order_and_score_statistics_match_statsmodels(data, selection):
    pdf, _ = data
    # the reference never sees the separating column (statsmodels fails on it)
    reference = _reference_forward(pdf, [c for c in CANDIDATES if c != "leak"])
    assert [s.variable for s in selection.steps] == [name for name, _, _ in reference]
    # the default tol (1e-4 on the standardised Newton step) bounds the score chi2's relative error
    for step, (_, score, p_value) in zip(selection.steps, reference, strict=True):
        assert step.score_chi2 == pytest.approx(score, rel=1e-4)
        assert np.log(step.p_value) == pytest.approx(np.log(p_value), rel=1e-4)
    # combo = x_strong + money / 500 enters first; with x_strong in, money is in the model's span
    assert selection.selected == ["combo", "x_strong", "small", "is_x1"]
    assert [r["step"] for r in selection.rows()] == list(range(1, len(reference) + 1))
    assert selection.rows()[3]["label"] == "edition is X1"
    assert selection.stop_reason == "no remaining candidate with p < 0.05"
    # every candidate left out scores p >= 0.05 at the final model
    assert all(p >= 0.05 for _, p in selection.final_scores.values())


def test_a_tighter_tol_gives_the_score_statistics_to_that_precision(data, selection):
    pdf, df = data
    tight = forward_select(df, CANDIDATES, "churn", entry_p=0.05, max_variables=25, max_iter=8, tol=1e-7)
    reference = _reference_forward(pdf, [c for c in CANDIDATES if c != "leak"])
    assert tight.selected == selection.selected and tight.passes > selection.passes
    for step, (_, score, _) in zip(tight.steps, reference, strict=True):
        assert step.score_chi2 == pytest.approx(score, rel=1e-7)


def test_skipped_candidates_carry_a_reason(selection):
    assert selection.skipped["constant"] == "constant"
    assert selection.skipped["money"].startswith("collinear with the model")
    assert selection.skipped["leak"].startswith("fit did not converge after entry")
    assert not set(selection.skipped) & set(selection.selected)


def test_final_fit_matches_statsmodels(data, selection):
    pdf, _ = data
    exog = sm.add_constant(pdf[selection.selected].to_numpy())
    ref = sm.Logit(pdf["churn"].to_numpy(), exog).fit(disp=0, method="newton", tol=1e-12)
    fit = selection.fit
    assert fit.converged and fit.names == ["intercept", *selection.selected]
    np.testing.assert_allclose(fit.coef, ref.params, rtol=1e-6)
    np.testing.assert_allclose(fit.se, ref.bse, rtol=1e-6)
    assert fit.loglik == pytest.approx(ref.llf, rel=1e-9)


def test_max_variables_caps_the_selection(data):
    _, df = data
    capped = forward_select(df, CANDIDATES[:4], "churn", max_variables=2)
    assert capped.selected == ["x_strong", "money"]
    assert capped.stop_reason == "max_variables=2 reached"
    assert set(capped.final_scores) == {"small", "is_x1"}
    assert capped.passes <= 12                                # a few Newton passes per step


def test_fit_logistic_matches_sklearn_and_statsmodels(data):
    pdf, df = data
    cols = ["x_strong", "money", "small", "is_x1", "noise_a"]
    fit = fit_logistic(df, cols, "churn")
    X, y = pdf[cols].to_numpy(), pdf["churn"].to_numpy()
    sk = LogisticRegression(C=np.inf, tol=1e-10, max_iter=10_000).fit((X - X.mean(0)) / X.std(0), y)
    # sklearn on standardised inputs (lbfgs struggles with raw scales); map back to raw units
    slopes = sk.coef_[0] / X.std(0)
    intercept = sk.intercept_[0] - np.sum(slopes * X.mean(0))
    np.testing.assert_allclose(fit.coef, np.concatenate([[intercept], slopes]), rtol=1e-4)
    ref = sm.Logit(y, sm.add_constant(X)).fit(disp=0, method="newton", tol=1e-12)
    np.testing.assert_allclose(fit.se, ref.bse, rtol=1e-6)
    np.testing.assert_allclose(fit.wald_chi2, (ref.params / ref.bse) ** 2, rtol=1e-6)
    # tiny p-values amplify rounding: compare them on the log scale
    np.testing.assert_allclose(np.log(fit.p_value), np.log(ref.pvalues), rtol=1e-6)
    rows = fit.rows("structured")
    assert rows[0]["variable"] == "intercept" and rows[1]["variable"] == "x_strong"
    assert fit.n == len(y) and fit.n_pos == int(y.sum())


def test_fit_logistic_refuses_collinear_and_constant_columns(data):
    _, df = data
    with pytest.raises(ValueError, match="collinear"):
        fit_logistic(df, ["x_strong", "money", "combo"], "churn")
    with pytest.raises(ValueError, match="constant"):
        fit_logistic(df, ["x_strong", "constant"], "churn")


def test_bad_inputs_fail_with_a_message(spark):
    df = spark.createDataFrame(pd.DataFrame({"x": [1.0, None, 2.0, 3.0], "churn": [0, 1, 0, 1]}))
    with pytest.raises(ValueError, match="nulls"):
        forward_select(df, ["x"], "churn")
    df = spark.createDataFrame(pd.DataFrame({"x": [1.0, 2.0, 3.0], "churn": [0, 0, 0]}))
    with pytest.raises(ValueError, match="both classes"):
        fit_logistic(df, ["x"], "churn")
