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

``classifier="newton"`` (default; :func:`newton_cv_fits`) fits all ``len(k_grid) · folds``
models at once with batched distributed Newton–Raphson. Each row's design vector is
``x = (1, z_1..z_M, c_1..c_K)``: the marketing columns and the first ``K = max(k_grid)``
concepts, centred and scaled by their mean and standard deviation over all rows (the fit is
invariant to it; it only conditions ``I``; constant columns are left out). Model ``(k, f)``
uses the first ``1 + M + k`` entries ``x_S`` and the training rows ``T_f = {i : fold_i ≠ f}``::

    η_i = x_iS'β,   p_i = 1 / (1 + exp(−η_i)),   w_i = p_i (1 − p_i)
    ℓ(β) = Σ_{i∈T_f} y_i η_i − log(1 + e^{η_i})                     (log-likelihood)
    U(β) = Σ_{i∈T_f} x_iS (y_i − p_i),   I(β) = Σ_{i∈T_f} w_i x_iS x_iS'
    β ← β + I⁻¹U,  from β = (logit(ȳ_f), 0, …, 0)

halved back towards the previous β while ℓ decreases, until ``max|I⁻¹U| < tol``. One Spark
pass computes ``(ℓ, U, I)`` of every model still iterating: each partition sums its rows
into one flat vector (numpy BLAS), reduced with ``treeReduce``; the driver solves the p x p
systems (Cholesky; a tiny ridge, then least squares, if ``I`` is singular). Newton converges
quadratically: ~7 passes for all models instead of ``len(k_grid) · folds`` fits of ~100
L-BFGS iterations each. The rows are cached once as numpy blocks (:mod:`churn_spark.linalg.blocks`);
all models share one matrix product per block for their ``η`` and one for their ``U`` (a
model's held-out rows get weight 0). ``I`` — ``p²`` per row, the dominant cost — is needed
only for the step's *direction*: ``ℓ`` and ``U`` are always exact, so the iteration stops at
the exact maximum-likelihood β whatever ``I`` it uses. On large data it is therefore summed
over a systematic row subsample (``information_rows``, rescaled) while far from the optimum;
once a model's step is below ``_KEEP_INFORMATION_BELOW``, its next ``I`` is summed over all
its rows and then kept (near the optimum ``I`` hardly moves), so its remaining passes cost
``ℓ`` and ``U`` only and converge in one or two steps. At 1M emails: 4 subsampled passes of
~5 s, one exact of ~11 s, two of ~3 s (always summing a subsampled ``I``: 14 passes of ~4.5 s).
The blocks are
built straight from the input, which is evaluated once; the rows, labels and folds are
checked from the blocks.

The held-out AUC is the Mann–Whitney statistic with ties counted half, computed in Spark:
the held-out scores ``s_i = x_iS'β`` are counted per
``(model, score)``, a running sum ordered by score gives the negatives ranked below, and::

    AUC = Σ_s pos(s) · (neg(< s) + ½ neg(s)) / (P · N)

so only one number per model reaches the driver, never a row's score.

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
import pandas as pd
from pyspark.ml import Pipeline, Transformer
from pyspark.ml.classification import LogisticRegression
from pyspark.ml.evaluation import BinaryClassificationEvaluator, Evaluator
from pyspark.ml.feature import VectorAssembler, VectorSlicer
from pyspark.ml.functions import vector_to_array
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import HasInputCol, HasOutputCol
from pyspark.ml.regression import GeneralizedLinearRegression
from pyspark.ml.tuning import CrossValidator, ParamGridBuilder
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, BooleanType, DoubleType, IntegerType, StructField, StructType
from scipy import linalg
from scipy.special import expit

from churn_spark.evaluation.auc import auc_by_group
from churn_spark.linalg.blocks import MatrixBlocks, Projected
from churn_spark.linalg.vectors import vector_size

if TYPE_CHECKING:
    from churn_spark.lsi.model import LatentSemanticIndexingModel
from churn_spark.modeling.selection import _CONSTANT_TOL, _solve_spd

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
# newton: every (k, fold) model advanced by one Newton step per pass over the data

# step halvings allowed in a row before a worse log-likelihood is accepted (as in selection)
_MAX_HALVINGS = 20
# largest Newton step (standardised scale) after which a model's information matrix is kept for
# its next passes: near the optimum X'WX hardly moves, and U alone costs a fraction of a pass
_KEEP_INFORMATION_BELOW = 1e-2
# ridge added to a singular information matrix, relative to its mean diagonal
_RIDGE = 1e-8


@dataclass(frozen=True)
class FoldFit:
    """One model of the newton path: the first ``k`` concepts, trained on the rows outside ``fold``.

    ``coef`` is in the columns' own units, ordered intercept, marketing columns, concepts
    ``0..k-1`` (a constant column is left out of the fit and gets 0). ``auc`` is the AUC on
    the rows of ``fold``; ``n_iter`` counts the passes the model took part in.
    """

    k: int
    fold: int
    coef: np.ndarray
    loglik: float
    n_iter: int
    converged: bool
    auc: float
    message: str = ""


@dataclass(frozen=True)
class _Standardiser:
    """Turns a pandas batch of the design frame into ``(x, y, fold)``.

    ``x`` is the intercept column followed by the kept (non-constant) entries of ``_x``,
    centred and scaled; model ``(k, f)`` uses its first ``width`` columns.
    """

    width: int  # entries of ``_x``: marketing columns + K concepts
    keep: np.ndarray  # the entries used, in order
    mean: np.ndarray  # of the kept entries
    sd: np.ndarray

    def batch(self, block: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A block ``[_y, _f, _bad_x, _x...]`` of :func:`_design_blocks` as ``(x, y, fold)``."""
        raw = block[:, _X_START:]
        x = np.empty((len(raw), 1 + len(self.keep)))
        x[:, 0] = 1.0
        x[:, 1:] = (raw[:, self.keep] - self.mean) / self.sd
        return x, block[:, 0], block[:, 1].astype(np.int64)


@dataclass
class _ModelState:
    """The Newton iterate of one ``(k, fold)`` model on the standardised scale."""

    k: int
    fold: int
    width: int  # columns of x used: intercept + kept marketing columns + kept concepts among the first k
    beta: np.ndarray
    previous: tuple[np.ndarray, float] | None = None  # last accepted iterate and its log-likelihood
    loglik: float = -math.inf
    halvings: int = 0
    information: np.ndarray | None = None  # X'WX kept from an earlier pass while the steps contract
    exact_next: bool = False  # near the optimum: the next pass sums X'WX over all rows, to be kept
    last_step: float = math.inf  # max |step| of the last update
    n_iter: int = 0
    converged: bool = False
    done: bool = False
    message: str = ""


def _design_frame(data: DataFrame, marketing_cols: list[str], concepts_col: str, label_col: str, fold_col: str,
                  n_concepts: int, terms: bool = False) -> DataFrame:
    """``(_y, _f, _bad_x, _x)``: label, fold, and marketing columns + the first ``n_concepts`` concepts as one array.

    A row without concepts, or with fewer than ``n_concepts``, gets ``_bad_x = 1`` (and NaNs in
    the blocks), so that it is counted (and refused) from the blocks without a job of its own.
    With ``terms``, ``concepts_col`` holds the term vectors the blocks fold in: ``_x`` is then
    the marketing columns only, followed by the vectors as ``_v``.
    """
    marketing = F.array(*[F.col(c).cast("double") for c in marketing_cols])
    if terms:
        x, width, vectors = marketing, len(marketing_cols), [F.col(concepts_col).alias("_v")]
        x_ok = F.col(concepts_col).isNotNull()
    else:
        concepts = F.col(concepts_col)
        if not isinstance(data.schema[concepts_col].dataType, ArrayType):
            concepts = vector_to_array(concepts)
        x = F.slice(concepts.cast("array<double>"), 1, n_concepts)
        if marketing_cols:
            x = F.concat(marketing, x)
        width, vectors = len(marketing_cols) + n_concepts, []
        x_ok = x.isNotNull() & (F.size(x) == width)
    return data.select(
        F.col(label_col).cast("double").alias("_y"), F.col(fold_col).cast("double").alias("_f"),
        F.when(x_ok, 0.0).otherwise(1.0).alias("_bad_x"),
        x.alias("_x"), *vectors,
    )


def _fold_counts(blocks: MatrixBlocks, folds: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows and positives per fold, from the blocks (one pass); raises on rows the fit cannot use.

    The entries' values are checked afterwards, from the blocks' column moments
    (:func:`_check_finite`): a per-entry test on the DataFrame (``forall`` is interpreted, not
    compiled) took ~3 s per 50,000 rows x 328 entries and core, most of the k search's set-up
    at 1M emails.
    """

    def counts(block: np.ndarray) -> np.ndarray:
        y, fold, bad_x = block[:, 0], block[:, 1], block[:, 2]
        good_y, good_fold = (y == 0) | (y == 1), (fold >= 0) & (fold < folds) & (fold == np.floor(fold))
        fold_id = np.where(good_fold, fold, 0).astype(np.int64)
        return np.concatenate([[bad_x.sum(), np.sum(~good_y), np.sum(~good_fold)],
                               np.bincount(fold_id[good_fold], minlength=folds),
                               np.bincount(fold_id[good_fold], weights=y[good_fold] == 1, minlength=folds)])

    total = blocks.tree_sum(counts)
    bad_x, bad_y, bad_fold = (int(v) for v in total[:3])
    if bad_x:
        raise ValueError(f"{bad_x} rows have no concepts or fewer concepts than the largest k")
    if bad_y:
        raise ValueError(f"the label must be 0/1; {bad_y} rows are not")
    if bad_fold:
        raise ValueError(f"{bad_fold} rows have a fold id outside [0, {folds})")
    n, pos = total[3 : 3 + folds], total[3 + folds :]
    for f in range(folds):
        train_n, train_pos = n.sum() - n[f], pos.sum() - pos[f]
        if not (0 < pos[f] < n[f] and 0 < train_pos < train_n):
            raise ValueError(f"fold {f} and the rows outside it both need churners and non-churners "
                             f"(fold: {pos[f]:.0f} of {n[f]:.0f}; outside: {train_pos:.0f} of {train_n:.0f})")
    return n, pos


_X_START = 3  # block columns: _y, _f, _bad_x, then the entries of _x


def _check_finite(nans: np.ndarray, mean: np.ndarray, sd: np.ndarray, names: list[str]) -> None:
    """Raise naming the design entries with nulls/NaN (counted per block) or infinities (mean or sd not finite)."""
    bad = [f"{name} ({int(n)} null or NaN)" if n else f"{name} (infinite)"
           for name, n, m, s in zip(names, nans, mean, sd, strict=True) if n or not (np.isfinite(m) and np.isfinite(s))]
    if bad:
        raise ValueError(f"marketing values and concepts must be finite and not null: {', '.join(bad[:10])}"
                         + (f" and {len(bad) - 10} more" if len(bad) > 10 else ""))


def _design_blocks(design: DataFrame, width: int, fold_in: Projected | None = None) -> MatrixBlocks:
    """The design frame as cached float64 blocks ``[_y, _f, _bad_x, _x_1 .. _x_width]`` (converted once);
    with ``fold_in``, the last ``fold_in.width`` entries are the fold-in of the term vectors ``_v``."""
    if fold_in is None:
        return MatrixBlocks(design, ["_y", "_f", "_bad_x", "_x"], array_widths={"_x": width})
    return MatrixBlocks(design, ["_y", "_f", "_bad_x", "_x", "_v"], array_widths={"_x": width - fold_in.width},
                        projected={"_v": fold_in})


def _stacked_betas(models: list[_ModelState], standardiser: _Standardiser) -> tuple[np.ndarray, np.ndarray]:
    """Every β as one column of a ``(1 + kept columns) x models`` matrix (zeros past its width), and the folds."""
    betas = np.zeros((1 + len(standardiser.keep), len(models)))
    for j, m in enumerate(models):
        betas[: m.width, j] = m.beta
    return betas, np.array([m.fold for m in models])


def _newton_pass(blocks: MatrixBlocks, standardiser: _Standardiser, models: list[_ModelState],
                 train_rows: np.ndarray, stride: int = 1) -> list[tuple[float, np.ndarray, np.ndarray | None]]:
    """``(ℓ, U, I)`` of every model at its current β, over its training rows: one Spark job.

    ``I`` is ``None`` for a model that keeps its information from an earlier pass
    (``model.information``, see :func:`_advance`): the pass then costs it only ``ℓ`` and ``U``.
    A model with ``exact_next`` gets ``I`` summed over all its rows, whatever ``stride``.

    ``ℓ`` and ``U`` are exact float64 sums over all training rows of the model's fold
    (``train_rows[f]`` rows). ``I`` — the dominant cost, ``p²`` per row — is summed in float32
    over every ``stride``-th row of each block and scaled to the full training rows. Both only
    change the *direction* of the step ``I⁻¹U``, never the fixed point ``U = 0``: the fits
    converge to the exact maximum-likelihood β (linearly instead of quadratically when
    ``stride > 1``, with a rate of about ``√(p / rows used)``).

    Each block gives one flat vector, model after model ``[ℓ, rows in I, U (p), I (p x p)]``;
    the vectors are summed with ``treeReduce``.
    """
    specs = [(m.fold, m.width, m.beta) for m in models]
    fresh = [m.information is None for m in models]  # models whose X'WX this pass sums
    exact = [m.exact_next for m in models]  # ... over all rows instead of every stride-th
    sizes = [2 + width + (width * width if needed else 0) for (_, width, _), needed in zip(specs, fresh, strict=True)]
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(int)
    betas, model_folds = _stacked_betas(models, standardiser)
    summed_over = [(stride, [i for i in range(len(specs)) if fresh[i] and not exact[i]]),
                   (1, [i for i in range(len(specs)) if fresh[i] and exact[i]])]  # (row step, models)

    def partial_sums(block: np.ndarray) -> np.ndarray:
        total = np.zeros(sum(sizes))
        x, y, fold = standardiser.batch(block)
        # every model at once: one product reads x for all η, one for all U (the pass is memory-bound);
        # a model's held-out rows get weight 0 instead of being copied out
        eta = x @ betas
        train = fold[:, None] != model_folds[None, :]
        loglik = np.sum(np.where(train, y[:, None] * eta - np.logaddexp(0.0, eta), 0.0), axis=0)
        p = expit(eta)
        gradients = x.T @ np.where(train, y[:, None] - p, 0.0)
        for i, (_, width, _) in enumerate(specs):
            total[offsets[i]] += loglik[i]
            total[offsets[i] + 2 : offsets[i] + 2 + width] += gradients[:width, i]
        # X'WX in float32, for the models that need it: over every stride-th row, or all rows
        for step, chosen in summed_over:
            if not chosen:
                continue
            x32, p_used, fold_used = x[::step].astype(np.float32), p[::step], fold[::step]
            for f in sorted({specs[i][0] for i in chosen}):
                rows = fold_used != f
                x_f = x32[rows]
                for i in (i for i in chosen if specs[i][0] == f):
                    width, offset = specs[i][1], offsets[i]
                    w32 = np.sqrt(p_used[rows, i] * (1.0 - p_used[rows, i])).astype(np.float32)
                    xw = x_f[:, :width] * w32[:, None]
                    total[offset + 1] += len(x_f)
                    total[offset + 2 + width : offset + sizes[i]] += (xw.T @ xw).ravel()  # numpy: syrk
        return total

    flat = blocks.tree_sum(partial_sums)
    stats, offset = [], 0
    for (f, width, _), size, needed in zip(specs, sizes, fresh, strict=True):
        block = flat[offset : offset + size]
        information = None
        if needed:
            scale = train_rows[f] / block[1] if block[1] else 1.0
            information = scale * block[2 + width :].reshape(width, width)
        stats.append((float(block[0]), block[2 : 2 + width], information))
        offset += size
    return stats


def _newton_direction(model: _ModelState, gradient: np.ndarray, information: np.ndarray) -> np.ndarray:
    """``I⁻¹U`` by Cholesky; a singular ``I`` (collinear columns, separation) gets a tiny ridge."""
    try:
        return linalg.cho_solve(linalg.cho_factor(information), gradient)
    except linalg.LinAlgError:
        if not model.message:
            log.warning("newton: k=%d fold %d: singular information matrix, ridge step (collinear columns "
                        "in the training rows or separation of the classes?)", model.k, model.fold)
            model.message = "singular information matrix: ridge steps"
        ridge = _RIDGE * max(float(np.mean(np.diag(information))), np.finfo(float).tiny)
        return _solve_spd(information + ridge * np.eye(len(gradient)), gradient)


def _advance(model: _ModelState, loglik: float, gradient: np.ndarray, information: np.ndarray | None, tol: float,
             last_pass: bool, exact_information: bool = True) -> None:
    """One Newton update of ``model`` from the pass at its current β (see the module docstring).

    ``information`` is ``None`` when the pass reused ``model.information``; ``exact_information``
    says whether a fresh one was summed over all the model's rows. Once a step is below
    ``_KEEP_INFORMATION_BELOW``, the model's next ``I`` is summed over all its rows and kept for
    the passes after it, which then cost only ``ℓ`` and ``U``; it is dropped when a step
    overshoots, or shrinks by less than half (then summed afresh near the optimum).
    """
    model.n_iter += 1
    reused = information is None
    if reused:
        information = model.information
    if model.previous is not None and model.halvings < _MAX_HALVINGS \
            and not loglik >= model.previous[1] - 1e-10 * abs(model.previous[1]):
        # the step overshot: go back half-way (rare away from separation)
        model.halvings += 1
        model.information, model.exact_next = None, False
        model.beta = 0.5 * (model.beta + model.previous[0])
        if last_pass:
            model.beta, model.loglik = model.previous
            model.done = True
            model.message = model.message or f"no convergence in {model.n_iter} Newton iterations"
        return
    model.halvings = 0
    model.loglik = loglik
    step = _newton_direction(model, gradient, information)
    size = float(np.max(np.abs(step)))
    if reused and not size < 0.5 * model.last_step:
        model.information, model.exact_next = None, True  # too slow with the kept I: a fresh one next pass
    elif not reused and size < _KEEP_INFORMATION_BELOW:
        if exact_information:
            model.information, model.exact_next = information, False
        else:
            model.exact_next = True
    model.last_step = size
    if size < tol:
        model.beta = model.beta + step
        model.converged = model.done = True
    elif last_pass:
        model.done = True
        model.message = model.message or f"no convergence in {model.n_iter} Newton iterations"
    else:
        model.previous = (model.beta, loglik)
        model.beta = model.beta + step


def _held_out_aucs(blocks: MatrixBlocks, standardiser: _Standardiser, models: list[_ModelState]) -> list[float]:
    """AUC of every model on its held-out fold: one pass writes ``(model, score, label)`` rows, Spark ranks them."""
    betas, model_folds = _stacked_betas(models, standardiser)

    def held_out_scores(block: np.ndarray) -> pd.DataFrame:
        x, y, fold = standardiser.batch(block)
        scores = x @ betas  # all models in one product
        held_out = fold[:, None] == model_folds[None, :]
        rows, model_ids = np.nonzero(held_out)
        return pd.DataFrame({"model": model_ids.astype(np.int32), "score": scores[rows, model_ids],
                             "label": y[rows]})

    scored = blocks.map_frames(held_out_scores, "model int, score double, label double")
    aucs = auc_by_group(scored, "model", "score", "label")
    return [aucs.get(model_id, math.nan) for model_id in range(len(models))]


def newton_cv_fits(
    data: DataFrame,
    marketing_cols: list[str],
    concepts_col: str,
    label_col: str,
    fold_col: str,
    k_grid: Sequence[int],
    folds: int,
    *,
    max_iter: int = 25,
    tol: float = 1e-8,
    information_rows: int = 0,
    fold_in: LatentSemanticIndexingModel | None = None,
) -> list[FoldFit]:
    """Maximum-likelihood logistic fits on marketing + the first k concepts, every k and fold, and their AUCs.

    ``data`` holds numeric non-null ``marketing_cols``, ``concepts_col`` (vector or
    array<double> with at least ``max(k_grid)`` entries), a 0/1 ``label_col`` and the fold id
    ``fold_col`` in ``[0, folds)``. With ``fold_in`` (an LSI model), ``concepts_col`` holds the
    units' term vectors instead, and the concepts are their fold-in, formed where the numeric
    blocks are built (:class:`churn_spark.linalg.blocks.Projected`): only the vectors' entries cross
    from the JVM, not ``max(k_grid)`` dense loadings per row. Model ``(k, f)`` is trained on the rows with
    ``fold != f`` by batched Newton–Raphson (``max_iter`` passes at most; converged when the
    largest step on the standardised scale is below ``tol``) and scored by the exact AUC on
    the rows of fold ``f``. Passes: one check, one for the column moments, the Newton
    passes, one for the AUCs. Returns the fits ordered by (k, fold).

    ``information_rows`` > 0 sums the information matrices over about that many rows (every
    ``⌊rows / information_rows⌋``-th row) instead of all until a model is near its optimum
    (see the module docstring): the same maximum-likelihood fits (the gradient stays exact)
    in much cheaper passes on large data. 0 = all rows.
    """
    grid = sorted({int(k) for k in k_grid})
    n_marketing, n_concepts = len(marketing_cols), grid[-1]
    width = n_marketing + n_concepts
    started = time.perf_counter()
    # the blocks are built straight from the input (evaluated once); every check reads them
    projection = fold_in.fold_in_projection(n_concepts) if fold_in is not None else None
    design = _design_frame(data, marketing_cols, concepts_col, label_col, fold_col, n_concepts,
                           terms=projection is not None)
    blocks = _design_blocks(design, width, projection)
    try:
        rows, positives = _fold_counts(blocks, folds)
        _, mean, sd, nans = blocks.column_moments()
        mean, sd = mean[_X_START:], sd[_X_START:]
        names = [*marketing_cols, *(f"concept {j}" for j in range(n_concepts))]
        _check_finite(nans[_X_START:], mean, sd, names)
        keep = np.flatnonzero(sd > _CONSTANT_TOL * (1.0 + np.abs(mean)))
        if len(keep) < width:
            log.warning("newton: constant columns left out of every fit: %s", [names[j] for j in range(width)
                                                                                if j not in set(keep)])
        standardiser = _Standardiser(width, keep, mean[keep], sd[keep])
        models = []
        for k in grid:
            columns = 1 + int(np.sum(keep < n_marketing + k))
            for f in range(folds):
                beta = np.zeros(columns)
                train_pos, train_n = positives.sum() - positives[f], rows.sum() - rows[f]
                beta[0] = math.log(train_pos / (train_n - train_pos))  # logit of the training churn rate
                models.append(_ModelState(k, f, columns, beta))
        stride = max(1, int(rows.sum() // information_rows)) if information_rows > 0 else 1
        log.info("newton: %d models (%d k x %d folds) on %d rows, up to %d columns, information from every "
                 "%d. row; setup %.1f s", len(models), len(grid), folds, int(rows.sum()), 1 + len(keep), stride,
                 time.perf_counter() - started)

        for iteration in range(1, max_iter + 1):
            active = [m for m in models if not m.done]
            if not active:
                break
            pass_started = time.perf_counter()
            exact = [stride == 1 or m.exact_next for m in active]  # X'WX over all rows (read before the update)
            summing = [m.information is None for m in active]
            summing_all = sum(s and e for s, e in zip(summing, exact, strict=True))
            stats = _newton_pass(blocks, standardiser, active, rows.sum() - rows, stride)
            for model, (loglik, gradient, information), all_rows in zip(active, stats, exact, strict=True):
                _advance(model, loglik, gradient, information, tol, last_pass=iteration == max_iter,
                         exact_information=all_rows)
            log.info("newton pass %d: %d active models (%d summing X'WX, %d of them over all rows), %d still "
                     "iterating, largest step %.1e, %.1f s", iteration, len(active), sum(summing), summing_all,
                     sum(not m.done for m in models), max(m.last_step for m in active),
                     time.perf_counter() - pass_started)
        failed = [(m.k, m.fold) for m in models if not m.converged]
        if failed:
            log.warning("newton: %d models did not converge in %d iterations (separation?): (k, fold) %s",
                        len(failed), max_iter, failed)

        auc_started = time.perf_counter()
        aucs = _held_out_aucs(blocks, standardiser, models)
        log.info("newton: held-out AUCs %.1f s; total %.1f s", time.perf_counter() - auc_started,
                 time.perf_counter() - started)
    finally:
        blocks.unpersist()
    return [
        FoldFit(m.k, m.fold, _original_units(m, standardiser, n_marketing), m.loglik, m.n_iter, m.converged, auc,
                m.message)
        for m, auc in zip(models, aucs, strict=True)
    ]


def _original_units(model: _ModelState, standardiser: _Standardiser, n_marketing: int) -> np.ndarray:
    """Coefficients of intercept, marketing columns and concepts ``0..k-1`` in the columns' own units."""
    used = model.width - 1
    slopes = model.beta[1:] / standardiser.sd[:used]
    coef = np.zeros(1 + n_marketing + model.k)
    coef[1 + standardiser.keep[:used]] = slopes
    coef[0] = model.beta[0] - slopes @ standardiser.mean[:used]
    return coef


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
    made by the caller). ``classifier``: ``newton`` (:func:`newton_cv_fits`, with
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


