"""Choosing the number of concepts k by 5-fold cross-validated AUC (the paper's Fig. 4).

One SVD at ``k_max`` serves every k: the leading k singular triplets of a rank-``k_max``
SVD are the rank-k SVD, so a candidate k only *slices* the first k concept loadings.
For every k of the grid and every fold f, :func:`select_k` fits the plain maximum-likelihood
logistic regression (as in the paper) on the marketing columns + the first k concepts of the
units outside fold f and scores it by the AUC on fold f. Folds are assigned once,
``floor(rand(seed) · folds)`` (or taken from the caller's ``fold_col``).

Choice of k, over the grid's mean AUCs ``m_k`` and standard errors
``se_k = sd_k / √folds`` (``sd_k`` the sample standard deviation of the fold AUCs):

* ``best``   — ``argmax_k m_k``;
* ``one_se`` — the smallest k with ``m_k ≥ m_best − se_best`` (Hastie, Tibshirani &
  Friedman's one-standard-error rule: the simplest model statistically as good as the best).

Three classifiers compute the same per-fold AUCs.

``classifier="newton"`` (default) fits all ``len(k_grid) · folds`` models at once with the
batched distributed Newton–Raphson of the logistic engine (:mod:`churn_spark.linalg.logistic`),
exact maximum likelihood on marketing columns + the first k concepts, and scores each by the
exact held-out AUC: :func:`churn_spark.modeling.newton_cv.newton_cv_fits` (~7 passes for all
models instead of ``len(k_grid) · folds`` fits of ~100 L-BFGS iterations each).

``classifier="lbfgs"`` and ``"irls"`` are the Spark ML reference: ``CrossValidator`` over
``ConceptSlicer.k`` (:class:`ConceptSlicer`) with the pipeline::

    ConceptSlicer(k) -> VectorAssembler(marketing columns + k concepts) -> logistic regression

scored by ``BinaryClassificationEvaluator`` (``areaUnderROC``), with the folds handed over
as its ``foldCol``. ``lbfgs`` uses ``LogisticRegression`` (L-BFGS on internally standardised
features, stopped at a relative tolerance, so AUCs agree with newton to ~1e-4, not
exactly); ``irls`` fits the same model with ``GeneralizedLinearRegression`` (binomial/logit,
Newton–IRLS) but forms the p x p weighted Gramian row by row, which without a native BLAS
(netlib falls back to Java) dominates: on 10,000 units x 320 features one fit took 47 s with
IRLS and 10 s with L-BFGS (2 cores, shared machine). The evaluator bins the ROC curve into
``numBins = 1000`` points when a fold holds more than ~2,000 distinct scores, a further
~1e-4 difference on large folds.

When to use which: ``newton`` for the k search (fast, exact maximum likelihood, exact AUC);
``lbfgs`` to cross-check it against Spark ML, or with ``reg_param > 0`` (an L2 penalty,
which only the CrossValidator path supports); ``irls`` only with a native BLAS.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from pyspark.ml import Pipeline, Transformer
from pyspark.ml.classification import LogisticRegression
from pyspark.ml.evaluation import BinaryClassificationEvaluator, Evaluator
from pyspark.ml.feature import VectorAssembler, VectorSlicer
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import HasInputCol, HasOutputCol
from pyspark.ml.regression import GeneralizedLinearRegression
from pyspark.ml.tuning import CrossValidator, ParamGridBuilder
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, BooleanType, DoubleType, IntegerType, StructField, StructType

from churn_spark.linalg.vectors import vector_size
from churn_spark.modeling.newton_cv import newton_cv_fits

if TYPE_CHECKING:
    from churn_spark.lsi.model import LatentSemanticIndexingModel

log = logging.getLogger(__name__)

RULES = ("one_se", "best")
CLASSIFIERS = ("newton", "lbfgs", "irls")


class ConceptSlicer(
    Transformer, HasInputCol, HasOutputCol, DefaultParamsReadable["ConceptSlicer"], DefaultParamsWritable
):
    """Keep the first ``k`` entries of a concept-loading vector (the rank-k LSI features).

    ``k`` is a Param so that ``CrossValidator``/``ParamGridBuilder`` can grid it; the work is
    done by Spark's ``VectorSlicer`` in the JVM.
    """

    k: Param[int] = Param(
        Params._dummy(), "k", "number of leading concepts to keep (>= 1)", typeConverter=TypeConverters.toInt
    )

    def __init__(self, *, inputCol: str = "concepts", outputCol: str = "concepts_k", k: int = 170) -> None:
        super().__init__()
        self._setDefault(inputCol="concepts", outputCol="concepts_k", k=170)
        self._set(inputCol=inputCol, outputCol=outputCol, k=k)

    def getK(self) -> int:
        return self.getOrDefault(self.k)

    def setK(self, value: int) -> ConceptSlicer:
        return self._set(k=value)

    def _transform(self, dataset: DataFrame) -> DataFrame:
        k = self.getK()
        if k < 1:
            raise ValueError(f"ConceptSlicer.k must be at least 1, got {k}")
        size = vector_size(dataset, self.getInputCol(), compute=False)
        if size is not None and k > size:
            raise ValueError(f"ConceptSlicer.k={k} exceeds the {size} concepts in {self.getInputCol()!r}")
        slicer = VectorSlicer(inputCol=self.getInputCol(), outputCol=self.getOutputCol(), indices=list(range(k)))
        return slicer.transform(dataset)


@dataclass(frozen=True)
class KScore:
    """Cross-validated AUC of the model with the first ``k`` concepts."""

    k: int
    mean_auc: float
    std_auc: float  # sample standard deviation of the fold AUCs (ddof = 1)
    se_auc: float  # std_auc / sqrt(folds)
    fold_aucs: tuple[float, ...]


@dataclass(frozen=True)
class KSelection:
    """The CV scores of every k of the grid and the k the rule chose."""

    scores: tuple[KScore, ...]
    chosen_k: int
    best_k: int
    rule: str
    folds: int

    def scores_frame(self, spark: SparkSession) -> DataFrame:
        """``(k, mean_auc, std_auc, se_auc, fold_aucs array<double>, chosen, best)``: Fig. 4's data."""
        schema = StructType(
            [
                StructField("k", IntegerType(), False),
                StructField("mean_auc", DoubleType(), False),
                StructField("std_auc", DoubleType(), False),
                StructField("se_auc", DoubleType(), False),
                StructField("fold_aucs", ArrayType(DoubleType(), False), False),
                StructField("chosen", BooleanType(), False),
                StructField("best", BooleanType(), False),
            ]
        )
        rows = [
            (
                s.k,
                s.mean_auc,
                s.std_auc,
                s.se_auc,
                list(s.fold_aucs),
                s.k == self.chosen_k,
                s.k == self.best_k,
            )
            for s in self.scores
        ]
        return spark.createDataFrame(rows, schema)



def summarize_k(fold_aucs_by_k: dict[int, Sequence[float]], rule: str = "one_se") -> KSelection:
    """Mean, standard deviation and standard error per k, and the k chosen by ``rule``."""
    if rule not in RULES:
        raise ValueError(f"unknown k rule {rule!r}; expected one of {RULES}")
    scores = []
    for k in sorted(fold_aucs_by_k):
        aucs = np.asarray(fold_aucs_by_k[k], dtype=float)
        std = float(np.std(aucs, ddof=1)) if len(aucs) > 1 else 0.0
        scores.append(KScore(k, float(aucs.mean()), std, std / math.sqrt(len(aucs)), tuple(map(float, aucs))))
    best = max(scores, key=lambda s: (s.mean_auc, -s.k))
    if rule == "best":
        chosen = best
    else:
        chosen = next(s for s in scores if s.mean_auc >= best.mean_auc - best.se_auc)
    folds = len(scores[0].fold_aucs)
    return KSelection(tuple(scores), chosen.k, best.k, rule, folds)


class _RecordingEvaluator(Evaluator):
    """Wraps an evaluator and records ``(fold, k, metric)`` for every call ``CrossValidator`` makes.

    ``CrossValidator`` keeps only the mean and standard deviation per parameter map; this
    reads k from the slicer column's metadata and the fold from the held-out rows' fold
    column (one tiny job), so the per-fold AUCs cost no extra evaluation.
    """

    def __init__(self, inner: BinaryClassificationEvaluator, sliced_col: str, fold_col: str) -> None:
        super().__init__()
        self.inner = inner
        self.sliced_col = sliced_col
        self.fold_col = fold_col
        self.records: list[tuple[int, int, float]] = []
        self._lock = threading.Lock()

    def _evaluate(self, dataset: DataFrame) -> float:
        metric = self.inner.evaluate(dataset)
        k = int(dataset.schema[self.sliced_col].metadata["ml_attr"]["num_attrs"])
        fold = int(dataset.select(self.fold_col).first()[0])
        with self._lock:
            self.records.append((fold, k, metric))
        return metric

    def isLargerBetter(self) -> bool:
        return self.inner.isLargerBetter()


def _classifier(kind: str, features: str, label: str, reg_param: float, max_iter: int):
    """The estimator and the name of its score column (what the evaluator ranks by)."""
    if kind == "lbfgs":
        clf = LogisticRegression(
            featuresCol=features,
            labelCol=label,
            regParam=reg_param,
            maxIter=max_iter,
            tol=1e-7,
            family="binomial",
        )
        return clf, "rawPrediction"
    if kind == "irls":
        clf = GeneralizedLinearRegression(
            featuresCol=features,
            labelCol=label,
            family="binomial",
            link="logit",
            regParam=reg_param,
            maxIter=max_iter,
            tol=1e-8,
            predictionCol="_p_churn",
        )
        return clf, "_p_churn"
    raise ValueError(f"unknown classifier {kind!r}; expected one of {CLASSIFIERS}")


# ---------------------------------------------------------------------------------------
# the k search


def select_k(
    train_df: DataFrame,
    concepts_col: str,
    marketing_cols: list[str],
    label_col: str,
    k_grid: Sequence[int],
    folds: int = 5,
    seed: int = 42,
    rule: str = "one_se",
    *,
    classifier: str = "newton",
    reg_param: float = 0.0,
    max_iter: int = 100,
    parallelism: int = 2,
    fold_col: str | None = None,
    newton_max_iter: int = 25,
    newton_tol: float = 1e-8,
    newton_information_rows: int = 0,
    fold_in: LatentSemanticIndexingModel | None = None,
) -> KSelection:
    """Cross-validate the logistic model on marketing columns + the first k concepts, per k.

    ``train_df`` holds the training units with ``concepts_col`` (the k_max loadings of one
    LSI fit; a vector, or for ``newton`` also an array<double>; for ``newton`` with ``fold_in``
    the units' term vectors, which the LSI model ``fold_in`` folds in), numeric non-null
    ``marketing_cols`` and a 0/1 ``label_col``. Grid values larger than the number of
    concepts are dropped with a warning. Folds are ``floor(rand(seed) · folds)`` unless
    ``fold_col`` names an integer column of fold ids in ``[0, folds)`` (e.g. stratified folds
    made by the caller). ``classifier``: ``newton`` (:func:`~churn_spark.modeling.newton_cv.newton_cv_fits`, with
    ``newton_max_iter``, ``newton_tol`` and ``newton_information_rows``; plain maximum likelihood only) | ``lbfgs`` |
    ``irls`` (``CrossValidator``, with ``reg_param``, ``max_iter`` and ``parallelism``); see
    the module docstring. Returns the per-fold AUCs and the chosen k (``rule``: ``one_se`` |
    ``best``).
    """
    if rule not in RULES:
        raise ValueError(f"unknown k rule {rule!r}; expected one of {RULES}")
    if classifier not in CLASSIFIERS:
        raise ValueError(f"unknown classifier {classifier!r}; expected one of {CLASSIFIERS}")
    if classifier == "newton" and reg_param != 0.0:
        raise ValueError("classifier 'newton' fits plain maximum likelihood: use lbfgs for reg_param > 0")
    if folds < 2:
        raise ValueError(f"folds must be at least 2, got {folds}")
    if fold_in is not None and classifier != "newton":
        raise ValueError("fold_in (concepts folded in from the term vectors) needs classifier 'newton'")
    n_concepts = fold_in.numConcepts if fold_in is not None else vector_size(train_df, concepts_col)
    grid = sorted({int(k) for k in k_grid if 1 <= int(k) <= n_concepts})
    dropped = sorted({int(k) for k in k_grid} - set(grid))
    if dropped:
        log.warning("k grid values %s dropped: only %d concepts available", dropped, n_concepts)
    if not grid:
        raise ValueError(f"no k of the grid {list(k_grid)} is between 1 and {n_concepts}")

    label, fold = "_label", "_fold"
    data = train_df.select(
        *[F.col(c).cast("double").alias(c) for c in marketing_cols],
        F.col(concepts_col),
        F.col(label_col).cast("double").alias(label),
        (F.col(fold_col) if fold_col else F.floor(F.rand(seed) * folds)).cast("int").alias(fold),
    )
    started = time.perf_counter()
    if classifier == "newton":
        fits = newton_cv_fits(data, marketing_cols, concepts_col, label, fold, grid, folds,
                              max_iter=newton_max_iter, tol=newton_tol,
                              information_rows=newton_information_rows, fold_in=fold_in)
        by_k: dict[int, list[float]] = {k: [math.nan] * folds for k in grid}
        for fit in fits:
            by_k[fit.k][fit.fold] = fit.auc
        selection = summarize_k(by_k, rule)
    else:
        selection = _cross_validate(data, concepts_col, marketing_cols, label, fold, grid, folds, seed, rule,
                                    classifier, reg_param, max_iter, parallelism)
    log.info(
        "k selection (%s, %s): chosen k=%d, best k=%d (mean AUC %.4f), %.1f s",
        classifier,
        rule,
        selection.chosen_k,
        selection.best_k,
        max(s.mean_auc for s in selection.scores),
        time.perf_counter() - started,
    )
    return selection


def _cross_validate(data: DataFrame, concepts_col: str, marketing_cols: list[str], label: str, fold: str,
                    grid: list[int], folds: int, seed: int, rule: str, classifier: str, reg_param: float,
                    max_iter: int, parallelism: int) -> KSelection:
    """The Spark ML reference: ``CrossValidator`` over ``ConceptSlicer.k``, the folds as its ``foldCol``."""
    sliced, features = "_concepts_k", "_features"
    data = data.persist()
    try:
        slicer = ConceptSlicer(inputCol=concepts_col, outputCol=sliced, k=grid[0])
        assembler = VectorAssembler(inputCols=[*marketing_cols, sliced], outputCol=features)
        clf, score_col = _classifier(classifier, features, label, reg_param, max_iter)
        auc = BinaryClassificationEvaluator(rawPredictionCol=score_col, labelCol=label, metricName="areaUnderROC")
        recorder = _RecordingEvaluator(auc, sliced, fold)
        cv = CrossValidator(
            estimator=Pipeline(stages=[slicer, assembler, clf]),
            estimatorParamMaps=ParamGridBuilder().addGrid(slicer.k, grid).build(),
            evaluator=recorder,
            numFolds=folds,
            seed=seed,
            foldCol=fold,
            parallelism=parallelism,
        )
        cv_model = cv.fit(data)
    finally:
        data.unpersist()

    by_k: dict[int, list[float]] = {k: [math.nan] * folds for k in grid}
    for fold_id, k, metric in recorder.records:
        by_k[k][fold_id] = metric
    selection = summarize_k(by_k, rule)
    # the recorded folds must reproduce CrossValidator's own averages exactly
    for score, cv_mean in zip(selection.scores, cv_model.avgMetrics, strict=True):
        if not math.isclose(score.mean_auc, cv_mean, rel_tol=1e-12, abs_tol=1e-12):
            raise RuntimeError(f"per-fold AUCs of k={score.k} disagree with CrossValidator's mean")
    return selection


