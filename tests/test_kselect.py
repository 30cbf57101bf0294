"""Choosing k: ConceptSlicer, the one-standard-error rule, CrossValidator AUCs against sklearn."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pyspark.ml.linalg import Vectors
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from churn_spark.lsi import ConceptSlicer, KSelection, plot_k_selection, select_k, summarize_k


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


def test_select_k_chooses_a_small_k_and_matches_sklearn_per_fold(spark, churn_units, tmp_path):
    concepts, marketing, churn, folds = churn_units
    rows = [
        (float(marketing[i]), Vectors.dense(concepts[i].tolist()), int(churn[i]), int(folds[i]))
        for i in range(len(churn))
    ]
    frame = spark.createDataFrame(rows, ["tenure", "concepts", "churn", "fold"])
    grid = [1, 2, 8, 20]  # 20 > 8 concepts: dropped with a warning
    selection = select_k(
        frame, "concepts", ["tenure"], "churn", grid, folds=2, seed=1, rule="one_se", fold_col="fold"
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

    table = selection.folds_frame(spark)
    assert table.count() == 3 * 2 and table.columns == ["k", "fold", "auc"]
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
