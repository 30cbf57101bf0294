"""Choosing k: ConceptSlicer, the one-standard-error rule, newton and CrossValidator AUCs against sklearn."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest
from pyspark.ml.linalg import Vectors, VectorUDT
from pyspark.sql.types import DoubleType, IntegerType, StructField, StructType
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from churn_spark.app.report import plot_k_selection
from churn_spark.evaluation.auc import auc_by_group
from churn_spark.modeling.kselect import (
    ConceptSlicer,
    KSelection,
    select_k,
    summarize_k,
)
from churn_spark.modeling.newton_cv import newton_cv_fits


def test_summarize_k_one_se_picks_the_smallest_k_within_one_standard_error_of_the_best():
    fold_aucs = {
        10: [0.60, 0.62, 0.61],
        50: [0.70, 0.74, 0.72],  # mean 0.72
        100: [0.73, 0.75, 0.74],  # mean 0.74 (best), sd 0.01, se 0.00577
        170: [0.72, 0.76, 0.74],  # mean 0.74, a tie with 100 goes to the smaller k
    }
    one_se = summarize_k(fold_aucs, "one_se")
    assert one_se.best_k == 100 and one_se.chosen_k == 100  # 0.72 < 0.74 - 0.00577
    best_score = next(s for s in one_se.scores if s.k == 100)
    assert best_score.std_auc == pytest.approx(0.01) and best_score.se_auc == pytest.approx(
        0.01 / math.sqrt(3)
    )

    fold_aucs[50] = [0.735, 0.737, 0.736]  # mean 0.736 >= 0.74 - 0.00577
    assert summarize_k(fold_aucs, "one_se").chosen_k == 50
    assert summarize_k(fold_aucs, "best").chosen_k == 100
    with pytest.raises(ValueError, match="unknown k rule"):
        summarize_k(fold_aucs, "elbow")


def test_concept_slicer_keeps_the_leading_concepts(spark):
    frame = spark.createDataFrame([(Vectors.dense([1.0, 2.0, 3.0, 4.0]),)], ["c"])
    frame = frame.select(frame["c"].alias("c", metadata={"ml_attr": {"num_attrs": 4}}))
    sliced = ConceptSlicer(inputCol="c", outputCol="c2", k=2).transform(frame)
    assert sliced.first()["c2"].toArray().tolist() == [1.0, 2.0]
    assert sliced.schema["c2"].metadata["ml_attr"]["num_attrs"] == 2
    with pytest.raises(ValueError, match="exceeds the 4 concepts"):
        ConceptSlicer(inputCol="c", outputCol="c5", k=5).transform(frame)


@pytest.fixture(scope="module")
def churn_units():
    """Units whose churn depends on one marketing variable and the first 2 of 8 concepts."""
    rng = np.random.default_rng(11)
    n = 600
    concepts = rng.standard_normal((n, 8))
    marketing = rng.standard_normal(n)
    logit = -1.0 + 1.5 * concepts[:, 0] - 1.2 * concepts[:, 1] + 0.5 * marketing
    churn = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(int)
    folds = rng.permutation(np.arange(n) % 2)
    return concepts, marketing, churn, folds


def test_select_k_lbfgs_chooses_a_small_k_and_matches_sklearn_per_fold(spark, churn_units, tmp_path):
    concepts, marketing, churn, folds = churn_units
    rows = [
        (float(marketing[i]), Vectors.dense(concepts[i].tolist()), int(churn[i]), int(folds[i]))
        for i in range(len(churn))
    ]
    frame = spark.createDataFrame(rows, ["tenure", "concepts", "churn", "fold"])
    grid = [1, 2, 8, 20]  # 20 > 8 concepts: dropped with a warning
    selection = select_k(
        frame, "concepts", ["tenure"], "churn", grid, folds=2, seed=1, rule="one_se", fold_col="fold",
        classifier="lbfgs",
    )
    assert [s.k for s in selection.scores] == [1, 2, 8]
    assert selection.chosen_k == 2  # the signal lives in the first two concepts

    # an independent computation: sklearn's unpenalised logistic regression on the same folds
    for score in selection.scores:
        features = np.column_stack([marketing, concepts[:, : score.k]])
        for fold in range(2):
            train, held_out = folds != fold, folds == fold
            clf = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(features[train], churn[train])
            expected = roc_auc_score(churn[held_out], clf.decision_function(features[held_out]))
            assert score.fold_aucs[fold] == pytest.approx(expected, abs=1e-6)
        assert score.mean_auc == pytest.approx(np.mean(score.fold_aucs))

    summary = {r["k"]: r for r in selection.scores_frame(spark).collect()}
    assert summary[2]["chosen"] and not summary[8]["chosen"]

    png = plot_k_selection(selection, str(tmp_path / "k.png"))
    with open(png, "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"


def test_select_k_rejects_a_grid_without_valid_k(spark):
    frame = spark.createDataFrame([(Vectors.dense([1.0, 2.0]), 1)], ["concepts", "churn"])
    with pytest.raises(ValueError, match="no k of the grid"):
        select_k(frame, "concepts", [], "churn", [5, 10])
    assert isinstance(summarize_k({3: [0.5, 0.6]}), KSelection)


# ---------------------------------------------------------------------------------------
# newton: batched distributed Newton against scikit-learn, and against the CrossValidator path


def _sklearn_fold_fit(features, churn, folds, fold):
    """Unpenalised maximum likelihood (exact Newton, tight tolerance) and the held-out AUC."""
    train, held_out = folds != fold, folds == fold
    clf = LogisticRegression(C=np.inf, solver="newton-cholesky", tol=1e-12, max_iter=1000)
    clf.fit(features[train], churn[train])
    coef = np.concatenate([clf.intercept_, clf.coef_[0]])
    return coef, roc_auc_score(churn[held_out], clf.decision_function(features[held_out]))


@pytest.fixture(scope="module")
def lsi_like_units():
    """1,500 units: 4 marketing columns on their own scales, 10 correlated concepts of LSI-sized loadings."""
    rng = np.random.default_rng(5)
    n = 1500
    marketing = np.column_stack([
        rng.normal(700.0, 250.0, n),  # tenure in days
        rng.integers(0, 2, n).astype(float),  # a 0/1 flag
        rng.poisson(2.0, n).astype(float),  # a count
        rng.normal(0.0, 1.0, n),
    ])
    mixing = np.eye(10) + 0.4 * rng.standard_normal((10, 10))
    concepts = 0.02 * (rng.standard_normal((n, 10)) @ mixing) + 0.05  # small loadings, far from centred
    logit = -1.2 + 0.002 * (marketing[:, 0] - 700.0) + 0.6 * marketing[:, 1] + 40.0 * (concepts[:, 0] - 0.05) \
        - 30.0 * (concepts[:, 3] - 0.05)
    churn = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(int)
    folds = rng.permutation(np.arange(n) % 3)
    return marketing, concepts, churn, folds


def test_newton_fits_and_fold_aucs_equal_sklearn(spark, lsi_like_units):
    marketing, concepts, churn, folds = lsi_like_units
    names = ["tenure", "flag", "count", "noise"]
    rows = [(*map(float, marketing[i]), concepts[i].tolist(), int(churn[i]), int(folds[i])) for i in range(len(churn))]
    frame = spark.createDataFrame(rows, [*names, "concepts", "churn", "fold"])  # concepts as array<double>
    fits = newton_cv_fits(frame, names, "concepts", "churn", "fold", [2, 5, 10], 3)

    assert [(f.k, f.fold) for f in fits] == [(k, f) for k in (2, 5, 10) for f in range(3)]
    for fit in fits:
        assert fit.converged and fit.message == "" and 3 <= fit.n_iter <= 10
        coef, auc = _sklearn_fold_fit(np.column_stack([marketing, concepts[:, : fit.k]]), churn, folds, fit.fold)
        assert fit.auc == pytest.approx(auc, abs=1e-6)
        np.testing.assert_allclose(fit.coef, coef, rtol=1e-4, atol=1e-4 * np.abs(coef).max())



def test_newton_with_information_from_a_row_subsample_reaches_the_same_fits(spark, lsi_like_units):
    marketing, concepts, churn, folds = lsi_like_units
    names = ["tenure", "flag", "count", "noise"]
    rows = [(*map(float, marketing[i]), concepts[i].tolist(), int(churn[i]), int(folds[i])) for i in range(len(churn))]
    frame = spark.createDataFrame(rows, [*names, "concepts", "churn", "fold"])
    exact = newton_cv_fits(frame, names, "concepts", "churn", "fold", [2, 10], 3)
    # X'WX from every 2nd row only: a cheaper step direction, the same fixed point U = 0
    subsampled = newton_cv_fits(frame, names, "concepts", "churn", "fold", [2, 10], 3, information_rows=750)
    for a, b in zip(exact, subsampled, strict=True):
        assert b.converged and (a.k, a.fold) == (b.k, b.fold)
        np.testing.assert_allclose(b.coef, a.coef, rtol=1e-6, atol=1e-6 * np.abs(a.coef).max())
        assert b.auc == pytest.approx(a.auc, abs=1e-9)
        assert b.loglik == pytest.approx(a.loglik, rel=1e-10)
    assert max(b.n_iter for b in subsampled) > max(a.n_iter for a in exact)  # linear, not quadratic, convergence


def test_newton_keeps_an_exact_information_near_the_optimum_and_reaches_the_same_fits(
        spark, lsi_like_units, monkeypatch, caplog):
    """Near its optimum a model sums X'WX once over all its rows and keeps it: later passes sum
    only ℓ and U. The fixed point is unchanged; the step is exact again, so it converges in fewer passes."""
    from churn_spark.modeling import newton_cv

    marketing, concepts, churn, folds = lsi_like_units
    names = ["tenure", "flag", "count", "noise"]
    rows = [(*map(float, marketing[i]), concepts[i].tolist(), int(churn[i]), int(folds[i])) for i in range(len(churn))]
    frame = spark.createDataFrame(rows, [*names, "concepts", "churn", "fold"])
    with monkeypatch.context() as patch:
        patch.setattr(newton_cv, "_KEEP_INFORMATION_BELOW", 0.0)  # never kept: a subsampled X'WX every pass
        always = newton_cv_fits(frame, names, "concepts", "churn", "fold", [2, 10], 3, information_rows=750)
    with caplog.at_level(logging.INFO, logger="churn_spark.modeling.newton_cv"):
        kept = newton_cv_fits(frame, names, "concepts", "churn", "fold", [2, 10], 3, information_rows=750)
    for a, b in zip(always, kept, strict=True):
        assert a.converged and b.converged and (a.k, a.fold) == (b.k, b.fold)
        np.testing.assert_allclose(b.coef, a.coef, rtol=1e-6, atol=1e-6 * np.abs(a.coef).max())
        assert b.auc == pytest.approx(a.auc, abs=1e-9)
        assert b.loglik == pytest.approx(a.loglik, rel=1e-10)
    # per pass: (iteration, active models, models summing X'WX, of them over all rows, ...)
    passes = [r.args for r in caplog.records if r.msg.startswith("newton pass")]
    assert any(p[3] > 0 for p in passes)  # an exact X'WX was summed ...
    assert passes[-1][2] == 0  # ... and kept: the last pass summed none
    assert max(b.n_iter for b in kept) < max(a.n_iter for a in always)


def test_newton_and_lbfgs_draw_the_same_folds_choose_the_same_k_and_agree(spark, churn_units):
    """The Spark ML reference and newton on the same rand(seed) folds.

    L-BFGS stops at a relative tolerance (1e-7 on the loss), so its coefficients differ from
    the exact maximum likelihood in the 4th-5th digit, which can swap a few near-tied
    held-out pairs: each swap moves the AUC by 1 / (P · N) ~ 2e-5 here. The evaluator's
    ROC binning (numBins = 1000) only starts above ~2,000 distinct held-out scores (300
    here). 1e-3 leaves room for both without hiding a wrong fold or a wrong model.
    """
    concepts, marketing, churn, _ = churn_units
    rows = [(float(marketing[i]), Vectors.dense(concepts[i].tolist()), int(churn[i])) for i in range(len(churn))]
    frame = spark.createDataFrame(rows, ["tenure", "concepts", "churn"]).repartition(3)
    common = dict(k_grid=[1, 2, 8], folds=2, seed=3, rule="one_se")
    newton = select_k(frame, "concepts", ["tenure"], "churn", classifier="newton", **common)
    lbfgs = select_k(frame, "concepts", ["tenure"], "churn", classifier="lbfgs", **common)
    assert newton.chosen_k == lbfgs.chosen_k == 2
    for ours, reference in zip(newton.scores, lbfgs.scores, strict=True):
        np.testing.assert_allclose(ours.fold_aucs, reference.fold_aucs, atol=1e-3)


def test_newton_survives_a_constant_column_and_separation(spark):
    """A constant column is left out (coefficient 0); a flag that only churners have makes the
    likelihood increase without bound: those fits stop at max_iter, flagged, with finite AUCs."""
    rng = np.random.default_rng(2)
    n = 600
    concepts = rng.standard_normal((n, 4))
    tenure = rng.standard_normal(n)
    churn = (rng.random(n) < 1.0 / (1.0 + np.exp(1.0 - 1.5 * concepts[:, 0] - 0.5 * tenure))).astype(int)
    flag = np.where((churn == 1) & (rng.random(n) < 0.3), 1.0, 0.0)  # quasi-complete separation
    folds = np.arange(n) % 2
    rows = [(float(tenure[i]), 7.0, float(flag[i]), Vectors.dense(concepts[i].tolist()), int(churn[i]),
             int(folds[i])) for i in range(n)]
    frame = spark.createDataFrame(rows, ["tenure", "region", "flag", "concepts", "churn", "fold"])
    fits = newton_cv_fits(frame, ["tenure", "region", "flag"], "concepts", "churn", "fold", [1, 4], 2, max_iter=12)

    assert len(fits) == 4
    for fit in fits:
        assert not fit.converged and "no convergence in 12" in fit.message
        assert fit.coef[2] == 0.0  # the constant column
        assert fit.coef[3] > 5.0  # the separating flag's coefficient runs away
        assert 0.5 < fit.auc < 1.0 and np.isfinite(fit.loglik)
        # the held-out ranking is that of sklearn's nearly unpenalised fit on the same columns
        features = np.column_stack([tenure, flag, concepts[:, : fit.k]])
        train, held_out = folds != fit.fold, folds == fit.fold
        clf = LogisticRegression(C=1e6, max_iter=10_000, tol=1e-10).fit(features[train], churn[train])
        expected = roc_auc_score(churn[held_out], clf.decision_function(features[held_out]))
        assert fit.auc == pytest.approx(expected, abs=5e-3)


def test_auc_by_group_counts_ties_half_like_sklearn(spark):
    rng = np.random.default_rng(9)
    groups = np.repeat([0, 1, 2], 400)
    scores = rng.integers(0, 6, len(groups)).astype(float)  # heavy ties
    labels = (rng.random(len(groups)) < 0.2 + 0.1 * scores).astype(float)
    labels[groups == 2] = 1.0  # one class only: AUC undefined
    frame = spark.createDataFrame(
        [(int(g), float(s), float(y)) for g, s, y in zip(groups, scores, labels, strict=True)], ["g", "s", "y"]
    )
    aucs = auc_by_group(frame, "g", "s", "y")
    for g in (0, 1):
        assert aucs[g] == pytest.approx(roc_auc_score(labels[groups == g], scores[groups == g]), abs=1e-12)
    assert math.isnan(aucs[2])


def test_auc_by_group_many_groups_across_partitions_ignores_null_labels(spark):
    rng = np.random.default_rng(21)
    groups = rng.integers(0, 25, 3000)
    scores = np.round(rng.normal(size=len(groups)), 2)  # some ties
    labels = (rng.random(len(groups)) < 1 / (1 + np.exp(-scores - groups / 10))).astype(float)
    rows = [(int(g), float(s), float(y)) for g, s, y in zip(groups, scores, labels, strict=True)]
    rows += [(3, 99.0, None), (4, -99.0, None)]  # no label: left out
    frame = spark.createDataFrame(rows, "g int, s double, y double").repartition(7)
    aucs = auc_by_group(frame, "g", "s", "y")
    assert set(aucs) == set(groups.tolist())
    for g in set(groups.tolist()):
        mine = groups == g
        assert aucs[g] == pytest.approx(roc_auc_score(labels[mine], scores[mine]), abs=1e-12)


def test_newton_rejects_null_nan_infinite_and_short_rows_naming_the_entries(spark):
    rng = np.random.default_rng(5)
    n = 60
    rows = [(float(rng.standard_normal()), Vectors.dense(rng.standard_normal(3).tolist()), int(i % 3 == 0), i % 2)
            for i in range(n)]
    schema = StructType([StructField("tenure", DoubleType()), StructField("concepts", VectorUDT()),
                         StructField("churn", IntegerType()), StructField("fold", IntegerType())])

    def fit(bad_rows):
        frame = spark.createDataFrame(rows[: n - len(bad_rows)] + bad_rows, schema)
        return newton_cv_fits(frame, ["tenure"], "concepts", "churn", "fold", [1, 3], 2)

    assert len(fit([])) == 4  # the clean rows fit
    with pytest.raises(ValueError, match=r"tenure \(1 null or NaN\)"):
        fit([(None, Vectors.dense([0.0, 1.0, 2.0]), 0, 0)])
    with pytest.raises(ValueError, match=r"concept 1 \(1 null or NaN\)"):
        fit([(0.5, Vectors.dense([0.0, float("nan"), 2.0]), 1, 1)])
    with pytest.raises(ValueError, match=r"concept 2 \(infinite\)"):
        fit([(0.5, Vectors.dense([0.0, 1.0, float("inf")]), 0, 1)])
    with pytest.raises(ValueError, match="1 rows have no concepts or fewer concepts than the largest k"):
        fit([(0.5, Vectors.dense([0.0, 1.0]), 0, 1)])
