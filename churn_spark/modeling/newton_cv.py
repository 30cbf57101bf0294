"""The k search's cross-validation fits: every ``(k, fold)`` logistic model at once, scored by held-out AUC.

:func:`newton_cv_fits` is the k search's ``classifier="newton"`` (:mod:`churn_spark.modeling.kselect`).
Each row's design vector is ``x = (1, z_1..z_M, c_1..c_K)``: the marketing columns and the first
``K = max(k_grid)`` concepts, standardised over all rows by the engine
(:class:`~churn_spark.linalg.logistic.Standardisation`; constant columns are left out of every fit).
Model ``(k, f)`` uses the first ``1 + M + k`` entries ``x_S`` and the training rows
``T_f = {i : fold_i ≠ f}``::

    ℓ(β) = Σ_{i∈T_f} y_i η_i − log(1 + e^{η_i}),   η_i = x_iS'β
    β ← β + I⁻¹U,  from β = (logit(ȳ_f), 0, …, 0)

by the batched Newton-Raphson of :mod:`churn_spark.linalg.logistic`: all ``len(k_grid) · folds``
models in lockstep, one :func:`~churn_spark.linalg.logistic.fold_pass` per iteration (one matrix
product per block for every model's ``η``, one for every ``U``; a model's held-out rows get weight
0), a singular information matrix gets a ridge step (policy ``"ridge"``). Newton converges
quadratically: ~7 passes for all models instead of ``len(k_grid) · folds`` fits of ~100 L-BFGS
iterations each. On large data ``I`` is summed over a systematic row subsample
(``information_rows``) while far from the optimum, and once a model's step is below
``_KEEP_INFORMATION_BELOW`` its next ``I`` is summed over all its rows and kept, so its remaining
passes cost ``ℓ`` and ``U`` only. At 1M emails: 4 subsampled passes of ~5 s, one exact of ~11 s,
two of ~3 s (always summing a subsampled ``I``: 14 passes of ~4.5 s).

The blocks are built straight from the input, which is evaluated once; the rows, labels and folds
are checked from the blocks. The held-out AUC is the Mann–Whitney statistic with ties counted
half (:func:`churn_spark.evaluation.auc.auc_by_group`): one pass writes ``(model, score, label)``
rows, ``s_i = x_iS'β``, and Spark ranks them::

    AUC = Σ_s pos(s) · (neg(< s) + ½ neg(s)) / (P · N)

so only one number per model reaches the driver, never a row's score.

Kept apart from :mod:`~churn_spark.modeling.kselect` (which chooses k) because it is the fits'
own data handling — the design frame, the fold and value checks, the AUC pass — around the engine;
not in the engine because it knows concepts, folds of units and the AUC (the evaluation layer).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType

from churn_spark.evaluation.auc import auc_by_group
from churn_spark.linalg.blocks import MatrixBlocks, Projected
from churn_spark.linalg.logistic import (
    FoldedRows,
    LikelihoodPass,
    NewtonIterate,
    Standardisation,
    advance_together,
    fold_pass,
    intercept_only_start,
    stacked_betas,
)

if TYPE_CHECKING:
    from churn_spark.lsi.model import LatentSemanticIndexingModel

log = logging.getLogger(__name__)

# largest Newton step (standardised scale) after which a model's information matrix is kept for
# its next passes: near the optimum X'WX hardly moves, and U alone costs a fraction of a pass
_KEEP_INFORMATION_BELOW = 1e-2
_X_START = 3  # block columns: _y, _f, _bad_x, then the entries of _x


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


def _design_blocks(design: DataFrame, width: int, fold_in: Projected | None = None) -> MatrixBlocks:
    """The design frame as cached float64 blocks ``[_y, _f, _bad_x, _x_1 .. _x_width]`` (converted once);
    with ``fold_in``, the last ``fold_in.width`` entries are the fold-in of the term vectors ``_v``."""
    if fold_in is None:
        return MatrixBlocks(design, ["_y", "_f", "_bad_x", "_x"], array_widths={"_x": width})
    return MatrixBlocks(design, ["_y", "_f", "_bad_x", "_x", "_v"], array_widths={"_x": width - fold_in.width},
                        projected={"_v": fold_in})


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


def _check_finite(nans: np.ndarray, mean: np.ndarray, sd: np.ndarray, names: list[str]) -> None:
    """Raise naming the design entries with nulls/NaN (counted per block) or infinities (mean or sd not finite)."""
    bad = [f"{name} ({int(n)} null or NaN)" if n else f"{name} (infinite)"
           for name, n, m, s in zip(names, nans, mean, sd, strict=True) if n or not (np.isfinite(m) and np.isfinite(s))]
    if bad:
        raise ValueError(f"marketing values and concepts must be finite and not null: {', '.join(bad[:10])}"
                         + (f" and {len(bad) - 10} more" if len(bad) > 10 else ""))


def _held_out_aucs(blocks: MatrixBlocks, rows: FoldedRows, iterates: list[NewtonIterate],
                   folds: list[int]) -> list[float]:
    """AUC of every model on its held-out fold: one pass writes ``(model, score, label)`` rows, Spark ranks them."""
    betas = stacked_betas(iterates, 1 + len(rows.standardisation.columns))
    model_folds = np.array(folds)

    def held_out_scores(block: np.ndarray) -> pd.DataFrame:
        x, y, fold = rows.split(block)
        scores = x @ betas  # all models in one product
        held_out = fold[:, None] == model_folds[None, :]
        row_ids, model_ids = np.nonzero(held_out)
        return pd.DataFrame({"model": model_ids.astype(np.int32), "score": scores[row_ids, model_ids],
                             "label": y[row_ids]})

    scored = blocks.map_frames(held_out_scores, "model int, score double, label double")
    aucs = auc_by_group(scored, "model", "score", "label")
    return [aucs.get(model_id, math.nan) for model_id in range(len(iterates))]


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
        measured, _, nans = Standardisation.measure(blocks, first=_X_START)
        names = [*marketing_cols, *(f"concept {j}" for j in range(n_concepts))]
        _check_finite(nans[_X_START:], measured.mean, measured.sd, names)
        keep = np.flatnonzero(~measured.constant())
        if len(keep) < width:
            log.warning("newton: constant columns left out of every fit: %s", [names[j] for j in range(width)
                                                                                if j not in set(keep)])
        design_rows = FoldedRows(measured.subset(keep), label=0, fold=1)
        models, iterates = [], []
        for k in grid:
            columns = 1 + int(np.sum(keep < n_marketing + k))
            for f in range(folds):
                start = intercept_only_start(positives.sum() - positives[f], rows.sum() - rows[f], columns)
                models.append((k, f))
                iterates.append(NewtonIterate(start, tol, max_passes=max_iter, on_singular="ridge",
                                              keep_information_below=_KEEP_INFORMATION_BELOW, name=f"k={k} fold {f}"))
        stride = max(1, int(rows.sum() // information_rows)) if information_rows > 0 else 1
        log.info("newton: %d models (%d k x %d folds) on %d rows, up to %d columns, information from every "
                 "%d. row; setup %.1f s", len(models), len(grid), folds, int(rows.sum()), 1 + len(keep), stride,
                 time.perf_counter() - started)

        pass_started = started

        def run_pass(active: list[int]) -> list[LikelihoodPass]:
            nonlocal pass_started
            pass_started = time.perf_counter()
            return fold_pass(blocks, design_rows, [(models[i][1], iterates[i]) for i in active], rows.sum() - rows,
                             stride)

        def log_pass(active: list[int], evaluated: Sequence[LikelihoodPass]) -> None:
            summing = [p.information is not None for p in evaluated]
            summing_all = sum(s and p.exact for s, p in zip(summing, evaluated, strict=True))
            # every model started at the first pass: an active one took part in all of them
            log.info("newton pass %d: %d active models (%d summing X'WX, %d of them over all rows), %d still "
                     "iterating, largest step %.1e, %.1f s", iterates[active[0]].passes, len(active), sum(summing),
                     summing_all, sum(not it.done for it in iterates), max(iterates[i].step_size for i in active),
                     time.perf_counter() - pass_started)

        advance_together(iterates, run_pass, log_pass)
        failed = [model for model, it in zip(models, iterates, strict=True) if not it.converged]
        if failed:
            log.warning("newton: %d models did not converge in %d iterations (separation?): (k, fold) %s",
                        len(failed), max_iter, failed)

        auc_started = time.perf_counter()
        aucs = _held_out_aucs(blocks, design_rows, iterates, [f for _, f in models])
        log.info("newton: held-out AUCs %.1f s; total %.1f s", time.perf_counter() - auc_started,
                 time.perf_counter() - started)
    finally:
        blocks.unpersist()
    return [FoldFit(k, f, _original_units(it, design_rows.standardisation, n_marketing, k), it.loglik, it.passes,
                    it.converged, auc,
                    it.message or (f"no convergence in {it.passes} Newton iterations" if it.exhausted else ""))
            for (k, f), it, auc in zip(models, iterates, aucs, strict=True)]


def _original_units(iterate: NewtonIterate, kept: Standardisation, n_marketing: int, k: int) -> np.ndarray:
    """Coefficients of intercept, marketing columns and concepts ``0..k-1`` in the columns' own units (0: left out)."""
    used = len(iterate.beta) - 1
    coef_used, _ = kept.subset(np.arange(used)).to_original_units(iterate.beta)
    coef = np.zeros(1 + n_marketing + k)
    coef[0] = coef_used[0]
    coef[1 + kept.columns[:used] - _X_START] = coef_used[1:]
    return coef
