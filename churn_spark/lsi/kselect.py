"""Choosing the number of concepts k by 5-fold cross-validated AUC (the paper's Fig. 4).

One SVD at ``k_max`` serves every k: the leading k singular triplets of a rank-``k_max``
SVD are the rank-k SVD, so a candidate k only *slices* the first k concept loadings
(:class:`ConceptSlicer`). :func:`select_k` runs Spark ML's ``CrossValidator`` over
``ConceptSlicer.k`` with the pipeline::

    ConceptSlicer(k) -> VectorAssembler(marketing columns + k concepts) -> logistic regression

and scores each k by the AUC on the held-out fold (``BinaryClassificationEvaluator``,
``areaUnderROC``). Folds are assigned once, ``floor(rand(seed) · folds)``, and handed to
``CrossValidator`` as its ``foldCol`` so that the per-fold AUCs can be reported too.

Choice of k, over the grid's mean AUCs ``m_k`` and standard errors
``se_k = sd_k / √folds`` (``sd_k`` the sample standard deviation of the fold AUCs):

* ``best``   — ``argmax_k m_k``;
* ``one_se`` — the smallest k with ``m_k ≥ m_best − se_best`` (Hastie, Tibshirani &
  Friedman's one-standard-error rule: the simplest model statistically as good as the best).

The logistic regression is plain maximum likelihood (``regParam = 0``) as in the paper.
``classifier="lbfgs"`` (default) uses ``LogisticRegression`` (L-BFGS on internally
standardised features); ``"irls"`` fits the same model with ``GeneralizedLinearRegression``
(binomial/logit, Newton–IRLS). Both maximise the same likelihood and give the same AUCs up
to optimiser tolerance. IRLS needs fewer passes (~6 against ~12 here) but each forms the
p x p weighted Gramian row by row; without a native BLAS (netlib falls back to Java) that
dominates: on 10,000 units x 320 features one fit took 47 s with IRLS and 10 s with L-BFGS
(2 cores, shared machine); on 600 x 9 both take ~9-11 s of job overhead.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass

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

log = logging.getLogger(__name__)

RULES = ("one_se", "best")
CLASSIFIERS = ("irls", "lbfgs")


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


def vector_size(df: DataFrame, col: str, compute: bool = True) -> int | None:
    """Size of a vector column from its ML attribute metadata, else (``compute``) its first row."""
    attrs = df.schema[col].metadata.get("ml_attr", {})
    if "num_attrs" in attrs:
        return int(attrs["num_attrs"])
    if not compute:
        return None
    first = df.select(col).where(F.col(col).isNotNull()).first()
    if first is None:
        raise ValueError(f"column {col!r} has no vectors")
    return int(first[0].size)


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

    def folds_frame(self, spark: SparkSession) -> DataFrame:
        """``(k, fold, auc)``: one row per k and held-out fold."""
        schema = StructType(
            [
                StructField("k", IntegerType(), False),
                StructField("fold", IntegerType(), False),
                StructField("auc", DoubleType(), False),
            ]
        )
        rows = [(s.k, fold, auc) for s in self.scores for fold, auc in enumerate(s.fold_aucs)]
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
    classifier: str = "lbfgs",
    reg_param: float = 0.0,
    max_iter: int = 100,
    parallelism: int = 2,
    fold_col: str | None = None,
) -> KSelection:
    """Cross-validate the logistic model on marketing columns + the first k concepts, per k.

    ``train_df`` holds the training units with ``concepts_col`` (the k_max loadings of one
    LSI fit), numeric non-null ``marketing_cols`` and a 0/1 ``label_col``. Grid values larger
    than the number of concepts are dropped with a warning. Folds are ``floor(rand(seed) ·
    folds)`` unless ``fold_col`` names an integer column of fold ids in ``[0, folds)`` (e.g.
    stratified folds made by the caller). The input is cached for the ``folds · len(k_grid)``
    fits. Returns the per-fold AUCs and the chosen k (``rule``: ``one_se`` | ``best``; see the
    module docstring).
    """
    if rule not in RULES:
        raise ValueError(f"unknown k rule {rule!r}; expected one of {RULES}")
    if folds < 2:
        raise ValueError(f"folds must be at least 2, got {folds}")
    n_concepts = vector_size(train_df, concepts_col)
    grid = sorted({int(k) for k in k_grid if 1 <= int(k) <= n_concepts})
    dropped = sorted({int(k) for k in k_grid} - set(grid))
    if dropped:
        log.warning("k grid values %s dropped: only %d concepts available", dropped, n_concepts)
    if not grid:
        raise ValueError(f"no k of the grid {list(k_grid)} is between 1 and {n_concepts}")

    label, fold, sliced, features = "_label", "_fold", "_concepts_k", "_features"
    data = train_df.select(
        *[F.col(c).cast("double").alias(c) for c in marketing_cols],
        F.col(concepts_col),
        F.col(label_col).cast("double").alias(label),
        (F.col(fold_col) if fold_col else F.floor(F.rand(seed) * folds)).cast("int").alias(fold),
    ).persist()
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
    log.info(
        "k selection (%s): chosen k=%d, best k=%d (mean AUC %.4f)",
        rule,
        selection.chosen_k,
        selection.best_k,
        max(s.mean_auc for s in selection.scores),
    )
    return selection


def plot_k_selection(selection: KSelection, path_png: str, title: str | None = None) -> str:
    """Fig. 4: mean CV AUC ± 1 standard error against k, the chosen k marked. Returns the path."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    ks = [s.k for s in selection.scores]
    means = [s.mean_auc for s in selection.scores]
    ses = [s.se_auc for s in selection.scores]
    fig = Figure(figsize=(7, 4.5))
    FigureCanvasAgg(fig)  # Agg canvas: no display needed
    ax = fig.add_subplot(1, 1, 1)
    ax.errorbar(ks, means, yerr=ses, marker="o", markersize=4, capsize=3, label="mean AUC ± 1 s.e.")
    chosen_mean = next(s.mean_auc for s in selection.scores if s.k == selection.chosen_k)
    ax.axvline(selection.chosen_k, color="tab:red", linestyle="--", linewidth=1)
    ax.plot(
        [selection.chosen_k],
        [chosen_mean],
        marker="*",
        markersize=14,
        color="tab:red",
        label=f"chosen k = {selection.chosen_k} ({selection.rule})",
    )
    ax.set_xlabel("number of concepts k")
    ax.set_ylabel(f"{selection.folds}-fold CV AUC")
    ax.set_title(title or "Choosing the number of LSI concepts")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path_png, dpi=120)
    return path_png
