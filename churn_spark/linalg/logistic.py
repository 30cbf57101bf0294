"""Batched Newton-Raphson logistic regression on cached row blocks: the one logistic engine.

Forward selection (:mod:`churn_spark.modeling.selection`), the k search's cross-validation fits
(:mod:`churn_spark.modeling.newton_cv`) and the final churn models
(:mod:`churn_spark.modeling.churn_model`) all fit with this module.

The model
---------
For a row with design vector ``x`` (intercept first) and label ``y`` in {0, 1}::

    η = x'β,   p = 1 / (1 + e^-η),   w = p (1 - p)
    ℓ(β) = Σ_i y_i η_i - log(1 + e^η_i)         log-likelihood
    U(β) = Σ_i x_i (y_i - p_i)                  score (gradient of ℓ)
    I(β) = Σ_i w_i x_i x_i'                     information (minus the Hessian of ℓ)

Newton step, step halving, convergence
--------------------------------------
Each pass over the data evaluates ``(ℓ, U, I)`` at the current ``β``; the driver then takes the
Newton step ``s = I⁻¹U`` (Cholesky), ``β ← β + s``. A pass whose ``ℓ`` is below that of the last
accepted pass by more than ``1e-10 |ℓ|`` rejects the step: ``β ← (β + β_acc) / 2``, halved back
towards the last accepted ``β_acc`` (at most :data:`MAX_HALVINGS` times in a row, then the lower
``ℓ`` is accepted). The fit has converged when ``max_j |s_j| < tol`` (standardised scale): the
estimate is ``β + s``, without another pass. A fit that reaches its pass limit without converging
ends at its last accepted ``β`` (with that pass's ``ℓ``, ``U``, ``I``).

Singular information
--------------------
When the Cholesky factorisation of ``I`` fails (a column collinear with others on the fit's rows,
or separation of the classes), the fit's policy decides:

* ``"stop"`` — the fit ends there, not converged, at the ``β`` of that pass (forward selection then
  skips the candidate that entered; the final models report it);
* ``"ridge"`` — the step is ``(I + r m 1)⁻¹U`` with ``r =`` :data:`RIDGE_SHARE` and ``m`` the mean
  of ``diag(I)``, and the fit goes on (the k search: one degenerate fold must not stop the others).

Standardisation
---------------
Every feature column is centred and scaled by its mean ``m_j`` and population standard deviation
``d_j`` over the fit's data (:meth:`~churn_spark.linalg.blocks.MatrixBlocks.column_moments`):
``z_j = (x_j - m_j) / d_j``. Fits, score statistics and Wald statistics do not change; the
conditioning of ``I`` improves. A column with ``d_j ≤`` :data:`CONSTANT_TOL` ``(1 + |m_j|)`` is
constant (refused, skipped or left out by the callers). Back in the columns' own units::

    b_j = β_j / d_j,   b_0 = β_0 - Σ_j β_j m_j / d_j,   i.e.  b = T β,   Cov(b) = T I⁻¹ T'

with standard errors ``sqrt(diag Cov(b))`` and Wald chi-square ``(b_j / se_j)²`` (1 d.f.).

Score statistic
---------------
At the maximum-likelihood fit of a model ``S`` (``U_S = 0``), the Rao score statistic of a
candidate column ``j`` not in ``S`` (1 d.f.) is::

    χ²_j = U_j² / (I_jj - I_jS I_SS⁻¹ I_Sj)

The denominator is ``I_jj (1 - R²_j)``, ``R²_j`` of the weighted regression of ``x_j`` on the
model's columns; ``1 - R²_j <`` :data:`COLLINEAR_TOL` marks the candidate collinear. The pass that
confirms convergence already holds every candidate's ``U_j`` and ``I_jS``: the gradients are moved
along the final step to first order (``U ← U - I s``), exact to ``O(s²)`` without another pass.

The passes
----------
Fits that share data run in lockstep (:func:`advance_together`): one distributed pass evaluates
every fit still iterating. The rows are cached once as float64 blocks
(:class:`~churn_spark.linalg.blocks.MatrixBlocks`); each block turns into one flat vector of partial
sums, tree-reduced; nothing proportional to the rows reaches the driver. Two kinds of pass:

* :meth:`LogisticDesign.score_passes` — fits of different column subsets ``S`` on all rows, each
  with its candidate columns ``C``: ``ℓ``, ``U_S``, ``U_C``, ``I_SS``, ``I_SC``, ``diag(I_CC)`` in
  float64 (forward selection and the final models);
* :func:`fold_pass` — fits on nested leading column sets, each leaving out the rows of one fold
  (the k search). One product ``x B`` gives every fit's ``η`` (``B`` stacks the ``β``, zeros past
  a fit's width) and one gives every ``U``; a fit's held-out rows get weight 0. ``I`` — ``p²`` per
  row, the dominant cost — is summed in float32, over every ``stride``-th row (rescaled to the
  fit's training rows) while far from the optimum. Once a step is below the fit's
  ``keep_information_below``, its next ``I`` is summed over all its rows and then kept (near the
  optimum ``I`` hardly moves) until a step overshoots or shrinks by less than half. ``ℓ`` and ``U``
  stay exact float64 sums, so the fixed point ``U = 0`` is the exact maximum-likelihood ``β``.

API
---
* :class:`NewtonIterate` — one fit's state and its update rule; :func:`advance_together` runs many;
* :class:`Standardisation` — the column means / standard deviations and the mapping back;
* :class:`LogisticDesign`, :func:`newton_fits`, :func:`score_statistics` — score-pass fits;
* :class:`FoldedRows`, :func:`fold_pass`, :func:`stacked_betas` — the fold pass;
* :func:`fit_logistic`, :func:`fit_logistic_models`, :class:`LogisticFit` — fits in original units;
* :func:`solve_spd`, :func:`intercept_only_start`.

The module is longer than most (~700 lines) on purpose: it is the one engine, and its update
rule, standardisation and two passes depend on each other (the kept information, for one, is a
rule of the iterate honoured by the fold pass); split, each part would be read without the others.

Example::

    fit = fit_logistic(df, ["tenure", "monetary"], "churn")
    fit.coef, fit.se, fit.n_iter
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from scipy import linalg
from scipy.special import expit
from scipy.stats import chi2 as chi2_dist

from churn_spark.linalg.blocks import MatrixBlocks, Projected

log = logging.getLogger(__name__)

INTERCEPT = "intercept"
# standard deviation below this times (1 + |mean|): a constant column
CONSTANT_TOL = 1e-12
# 1 - R^2 of a column on the model's columns below this: collinear
COLLINEAR_TOL = 1e-8
# step halvings allowed in a row before a lower log-likelihood is accepted
MAX_HALVINGS = 20
# ridge added to a singular information matrix (policy "ridge"), relative to its mean diagonal
RIDGE_SHARE = 1e-8
# a log-likelihood lower than the accepted one by more than this share of it: the step overshot
_OVERSHOOT_SHARE = 1e-10

SingularPolicy = Literal["stop", "ridge"]


def solve_spd(matrix: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """``matrix⁻¹ rhs`` for a symmetric positive-definite matrix (Cholesky; least squares if singular)."""
    try:
        return linalg.cho_solve(linalg.cho_factor(matrix), rhs)
    except linalg.LinAlgError:
        return np.linalg.lstsq(matrix, rhs, rcond=None)[0]


def intercept_only_start(positives: float, rows: float, width: int) -> np.ndarray:
    """The start ``β = (logit(positives / rows), 0, ..., 0)`` of ``width`` entries: the intercept-only fit."""
    beta = np.zeros(width)
    beta[0] = math.log(positives / (rows - positives))
    return beta


# ---------------------------------------------------------------------------------------
# standardisation


@dataclass(frozen=True)
class Standardisation:
    """Feature ``j`` is block column ``columns[j]``, standardised as ``(x - mean[j]) / sd[j]``."""

    columns: np.ndarray
    mean: np.ndarray
    sd: np.ndarray

    @classmethod
    def measure(cls, blocks: MatrixBlocks, first: int) -> tuple[Standardisation, int, np.ndarray]:
        """The block columns from ``first`` on as features; also the rows and every block column's NaN count.

        One pass (:meth:`~churn_spark.linalg.blocks.MatrixBlocks.column_moments`).
        """
        rows, mean, sd, nans = blocks.column_moments()
        return cls(np.arange(first, blocks.width), mean[first:], sd[first:]), rows, nans

    def constant(self) -> np.ndarray:
        """Mask of the constant features: ``not sd > CONSTANT_TOL (1 + |mean|)``."""
        return ~(self.sd > CONSTANT_TOL * (1.0 + np.abs(self.mean)))

    def subset(self, features: Sequence[int] | np.ndarray) -> Standardisation:
        """The standardisation of the features at positions ``features``, in that order."""
        features = np.asarray(features, dtype=int)
        return Standardisation(self.columns[features], self.mean[features], self.sd[features])

    def scaled(self, block: np.ndarray) -> np.ndarray:
        """``(rows, features)``: the features of ``block``, centred and scaled."""
        return (block[:, self.columns] - self.mean) / self.sd

    def design(self, block: np.ndarray) -> np.ndarray:
        """``(rows, 1 + features)``: the intercept column, then :meth:`scaled`."""
        x = np.empty((len(block), 1 + len(self.columns)))
        x[:, 0] = 1.0
        x[:, 1:] = self.scaled(block)
        return x

    def to_original_units(self, beta: np.ndarray, information: np.ndarray | None = None,
                          ) -> tuple[np.ndarray, np.ndarray | None]:
        """``b = T β`` and, given the information ``I`` at ``β``, the standard errors ``sqrt(diag(T I⁻¹ T'))``."""
        k = 1 + len(self.columns)
        transform = np.zeros((k, k))
        transform[0, 0] = 1.0
        transform[np.arange(1, k), np.arange(1, k)] = 1.0 / self.sd
        transform[0, 1:] = -self.mean / self.sd
        coef = transform @ beta
        if information is None:
            return coef, None
        covariance = transform @ solve_spd(information, np.eye(k)) @ transform.T
        return coef, np.sqrt(np.clip(np.diag(covariance), 0.0, None))


# ---------------------------------------------------------------------------------------
# the iterate and its update rule


@dataclass
class LikelihoodPass:
    """``ℓ``, ``U`` and ``I`` of one fit at one ``β`` (standardised scale), summed over the fit's rows.

    ``information`` is ``None`` when the fit keeps its ``I`` from an earlier pass; ``exact`` says
    whether a fresh one was summed over all the fit's rows (not a row subsample).
    """

    loglik: float
    gradient: np.ndarray
    information: np.ndarray | None
    exact: bool = True


@dataclass
class NewtonIterate:
    """One logistic fit's Newton-Raphson state on the standardised scale (see the module docstring).

    ``beta`` is where the next pass evaluates the fit, and the estimate once ``done``. ``accepted``
    is the last accepted pass, evaluated at ``accepted_beta``; ``step`` the Newton step taken from
    it (``step_size = max |step|``). ``passes`` counts the passes the fit took part in, at most
    ``max_passes``. ``on_singular`` is the singular-information policy. With
    ``keep_information_below > 0``, the fit keeps an exact ``information`` near its optimum and
    asks (``exact_next``) for ``I`` over all its rows once before keeping it (the fold pass).
    ``message`` notes a singular information matrix; ``name`` labels the fit in the log.
    """

    beta: np.ndarray
    tol: float
    max_passes: int
    on_singular: SingularPolicy = "stop"
    keep_information_below: float = 0.0
    name: str = ""
    accepted: LikelihoodPass | None = None
    accepted_beta: np.ndarray | None = None
    step: np.ndarray | None = None
    step_size: float = math.inf
    halvings: int = 0
    passes: int = 0
    information: np.ndarray | None = None
    exact_next: bool = False
    converged: bool = False
    done: bool = False
    message: str = ""

    def __post_init__(self) -> None:
        self.beta = np.asarray(self.beta, dtype=float)
        self.done = self.done or self.max_passes < 1

    @property
    def loglik(self) -> float:
        """``ℓ`` of the last accepted pass (``-inf`` before the first)."""
        return self.accepted.loglik if self.accepted is not None else -math.inf

    @property
    def exhausted(self) -> bool:
        """Stopped by the pass limit without converging."""
        return not self.converged and 0 < self.max_passes <= self.passes

    def update(self, evaluated: LikelihoodPass) -> None:
        """The update from the pass at ``beta``: halve back if it overshot, else take the Newton step."""
        self.passes += 1
        last_pass = self.passes >= self.max_passes
        if self._overshot(evaluated.loglik):
            self.halvings += 1
            self.information, self.exact_next = None, False
            if last_pass:
                self.beta, self.done = self.accepted_beta, True
            else:
                self.beta = 0.5 * (self.beta + self.accepted_beta)
            return
        self.halvings = 0
        self.accepted, self.accepted_beta = evaluated, self.beta
        reused = evaluated.information is None
        information = self.information if reused else evaluated.information
        step = self._direction(evaluated.gradient, information)
        if step is None:
            self.done = True
            return
        size = float(np.max(np.abs(step)))
        if reused and not size < 0.5 * self.step_size:
            self.information, self.exact_next = None, True  # too slow with the kept I: a fresh one next pass
        elif not reused and size < self.keep_information_below:
            if evaluated.exact:
                self.information, self.exact_next = information, False
            else:
                self.exact_next = True
        self.step, self.step_size = step, size
        if size < self.tol:
            self.beta = self.beta + step
            self.converged = self.done = True
        elif last_pass:
            self.done = True
        else:
            self.beta = self.beta + step

    def _overshot(self, loglik: float) -> bool:
        if self.accepted is None or self.halvings >= MAX_HALVINGS:
            return False
        best = self.accepted.loglik
        return not loglik >= best - _OVERSHOOT_SHARE * abs(best)

    def _direction(self, gradient: np.ndarray, information: np.ndarray) -> np.ndarray | None:
        """``I⁻¹U`` by Cholesky; a singular ``I`` by the policy (``None``: stop)."""
        try:
            return linalg.cho_solve(linalg.cho_factor(information), gradient)
        except linalg.LinAlgError:
            if self.on_singular == "stop":
                self.message = "singular information matrix (separation of the classes?)"
                return None
            if not self.message:
                log.warning("logistic fit %s: singular information matrix, ridge steps (collinear columns in "
                            "the fit's rows or separation of the classes?)", self.name)
                self.message = "singular information matrix: ridge steps"
            ridge = RIDGE_SHARE * max(float(np.mean(np.diag(information))), np.finfo(float).tiny)
            return solve_spd(information + ridge * np.eye(len(gradient)), gradient)


def advance_together(iterates: Sequence[NewtonIterate],
                     run_pass: Callable[[list[int]], Sequence[LikelihoodPass]],
                     after_pass: Callable[[list[int], Sequence[LikelihoodPass]], None] | None = None) -> None:
    """Update every iterate until all are done, each pass over the data serving all those still running.

    ``run_pass(active)`` evaluates ``iterates[i]`` for every ``i`` in ``active`` at its ``beta`` (one
    distributed pass) and returns their passes in that order; ``after_pass(active, passes)`` sees them
    after the update (for the log).
    """
    while active := [i for i, iterate in enumerate(iterates) if not iterate.done]:
        evaluated = run_pass(active)
        for i, pass_stats in zip(active, evaluated, strict=True):
            iterates[i].update(pass_stats)
        if after_pass is not None:
            after_pass(active, evaluated)


def _bernoulli_loglik(y: np.ndarray, eta: np.ndarray) -> np.ndarray:
    """Each row's ``y η - log(1 + e^η)``."""
    return y * eta - np.logaddexp(0.0, eta)


# ---------------------------------------------------------------------------------------
# score passes: column subsets of one design on all rows, with candidate columns


@dataclass(kw_only=True)
class ScorePass(LikelihoodPass):
    """A :class:`LikelihoodPass` over model columns ``S`` plus the blocks of the candidates ``C``."""

    candidate_gradient: np.ndarray          # U_C (c,)
    cross_information: np.ndarray           # I_SC (1 + s, c)
    candidate_information_diag: np.ndarray  # diag(I_CC) (c,)


@dataclass
class ScoreFit:
    """A finished Newton fit of score passes: the estimate and the last accepted pass.

    ``stats.gradient`` and ``stats.candidate_gradient`` are moved along the final step when
    ``converged``; ``n_iter`` counts the Newton iterations after the starting pass.
    """

    beta: np.ndarray
    stats: ScorePass
    converged: bool
    n_iter: int
    message: str = ""


class LogisticDesign:
    """A label and feature columns of a DataFrame, cached as blocks ``[y, x_0 .. x_p-1]``, checked and measured.

    ``columns`` are numeric columns; ``arrays`` adds fixed-length array columns (``{column: names
    of its entries}``), ``projected`` vector columns entering as a product with a matrix
    (``{column: (Projected, names)}``). Rows with a null label are left out; null features, a
    label other than 0/1 or a single class are errors. ``passes`` counts the score passes.
    """

    def __init__(self, df: DataFrame, columns: list[str], label: str,
                 arrays: Mapping[str, Sequence[str]] | None = None,
                 projected: Mapping[str, tuple[Projected, Sequence[str]]] | None = None):
        arrays, projected = dict(arrays or {}), dict(projected or {})
        self.columns = list(columns) + [name for names in arrays.values() for name in names]
        self.columns += [name for _, names in projected.values() for name in names]
        self.label = label
        self.passes = 0
        selected = [F.col(label).cast("double").alias("_y")]
        selected += [F.col(c).cast("double").alias(f"_x{i}") for i, c in enumerate(columns)]
        widths = {}
        for j, (array, names) in enumerate(arrays.items()):
            # one array column converts much faster than one column per entry; a null or short
            # array becomes NaNs in the blocks, reported below like any null feature
            widths[f"_a{j}"] = len(names)
            selected.append(F.col(array).alias(f"_a{j}"))
        products = {}
        for j, (vector, (projection, names)) in enumerate(projected.items()):
            if projection.width != len(names):
                raise ValueError(f"{vector!r}: {len(names)} names for a projection of width {projection.width}")
            products[f"_p{j}"] = projection
            selected.append(F.col(vector).alias(f"_p{j}"))
        # the passes read float64 blocks [y, x_0 .. x_p-1] cached on the executors; the checks,
        # means and standard deviations come from the blocks too (one cheap pass each)
        self.blocks = MatrixBlocks(df.select(*selected).where(F.col("_y").isNotNull()),
                                   ["_y", *(f"_x{i}" for i in range(len(columns))), *widths, *products],
                                   array_widths=widths, projected=products)
        self.standardisation, self.n, nulls = Standardisation.measure(self.blocks, first=1)
        if self.n == 0:
            self.blocks.unpersist()
            raise ValueError(f"label {label!r} needs both classes (n=0, positives=0)")
        labels = self.blocks.tree_sum(lambda b: np.array([b[:, 0].sum(), np.sum((b[:, 0] != 0) & (b[:, 0] != 1))]))
        self.n_pos, bad_labels = int(labels[0]), int(labels[1])
        if bad_labels:
            self.blocks.unpersist()
            raise ValueError(f"label {label!r} must be 0/1; {bad_labels} rows are not")
        if self.n_pos in (0, self.n):
            self.blocks.unpersist()
            raise ValueError(f"label {label!r} needs both classes (n={self.n}, positives={self.n_pos})")
        with_nulls = [c for i, c in enumerate(self.columns) if nulls[1 + i]]
        if with_nulls:
            self.blocks.unpersist()
            raise ValueError(f"columns with nulls (impute them first, e.g. MarketingEncoder): {with_nulls}")

    def constant_columns(self) -> list[int]:
        return [int(i) for i in np.flatnonzero(self.standardisation.constant())]

    def intercept_only(self) -> np.ndarray:
        """``β`` of the intercept-only model: the logit of the positive rate."""
        return intercept_only_start(self.n_pos, self.n, 1)

    def unpersist(self) -> None:
        self.blocks.unpersist()

    def score_passes(self, fits: Sequence[tuple[list[int], list[int], np.ndarray]]) -> list[ScorePass]:
        """``ℓ``, ``U`` and the ``I`` blocks of every ``(model, candidates, beta)`` at its ``beta``: one pass."""
        self.passes += 1
        specs = [(self.standardisation.subset(model), self.standardisation.subset(candidates),
                  np.asarray(beta, dtype=float)) for model, candidates, beta in fits]

        def partial_sums(block: np.ndarray) -> np.ndarray:
            y = block[:, 0]
            parts = []
            for model_columns, candidate_columns, beta in specs:
                # column_stack, not design(): its memory layout fixes the BLAS summation order, so
                # the selections and final models stay bit-for-bit those the project published
                xs = np.column_stack([np.ones(len(y)), model_columns.scaled(block)])
                xc = candidate_columns.scaled(block)
                eta = xs @ beta
                p = expit(eta)
                w = p * (1.0 - p)
                r = y - p
                xs_w = xs * w[:, None]
                parts += [[float(np.sum(_bernoulli_loglik(y, eta)))], xs.T @ r, xc.T @ r,
                          (xs_w.T @ xs).ravel(), (xs_w.T @ xc).ravel(), np.einsum("ij,ij,i->j", xc, xc, w)]
            return np.concatenate(parts)

        flat = self.blocks.tree_sum(partial_sums)
        stats = []
        for model, candidates, _ in fits:
            k, c = len(model) + 1, len(candidates)
            cuts = np.cumsum([1, k, c, k * k, k * c, c])
            loglik, u_model, u_cand, info_model, info_cross, info_cand_diag, flat = np.split(flat, cuts)
            stats.append(ScorePass(loglik=float(loglik[0]), gradient=u_model, information=info_model.reshape(k, k),
                                   candidate_gradient=u_cand, cross_information=info_cross.reshape(k, c),
                                   candidate_information_diag=info_cand_diag))
        return stats

    def logistic_fit(self, model: list[int], result: ScoreFit) -> LogisticFit:
        """The fit of the columns ``model`` in their own units, with standard errors and Wald statistics."""
        coef, se = self.standardisation.subset(model).to_original_units(result.beta, result.stats.information)
        with np.errstate(divide="ignore", invalid="ignore"):
            wald = np.where(se > 0, (coef / se) ** 2, np.nan)
        return LogisticFit(names=[INTERCEPT] + [self.columns[i] for i in model], coef=coef, se=se,
                           wald_chi2=wald, p_value=chi2_dist.sf(wald, 1), loglik=result.stats.loglik,
                           n_iter=result.n_iter, converged=result.converged, n=self.n, n_pos=self.n_pos,
                           message=result.message)


def newton_fits(design: LogisticDesign, fits: Sequence[tuple[list[int], list[int], np.ndarray]],
                max_iter: int, tol: float) -> list[ScoreFit]:
    """Newton-Raphson of every ``(model, candidates, beta0)`` by score passes, all sharing each pass.

    Each fit takes at most ``max_iter`` iterations after the pass at its start and stops on a
    singular information matrix (policy ``"stop"``).
    """
    iterates = [NewtonIterate(beta0, tol, max_passes=max_iter + 1) for _, _, beta0 in fits]
    advance_together(iterates, lambda active: design.score_passes(
        [(fits[i][0], fits[i][1], iterates[i].beta) for i in active]))
    results = []
    for iterate in iterates:
        stats = iterate.accepted
        if iterate.converged:
            # take the last (tiny) step without another pass: to first order the gradient
            # moves by -I step, which leaves the candidates' scores exact to O(step^2)
            stats.candidate_gradient = stats.candidate_gradient - stats.cross_information.T @ iterate.step
            stats.gradient = stats.gradient - stats.information @ iterate.step
        message = iterate.message or (f"no convergence in {max_iter} Newton iterations (separation of the classes?)"
                                      if iterate.exhausted else "")
        results.append(ScoreFit(iterate.beta, stats, iterate.converged, iterate.passes - 1, message))
    return results


def score_statistics(stats: ScorePass) -> tuple[np.ndarray, np.ndarray]:
    """Score chi-square of each candidate (NaN if collinear) and its ``1 - R^2`` on the model."""
    projected = solve_spd(stats.information, stats.cross_information)           # I_SS^-1 I_SC
    diagonal = stats.candidate_information_diag
    denominator = diagonal - np.sum(stats.cross_information * projected, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        residual_share = np.where(diagonal > 0, denominator / diagonal, 0.0)
        chi2 = np.where(residual_share > COLLINEAR_TOL, stats.candidate_gradient ** 2 / denominator, np.nan)
    return chi2, residual_share


def dependent_columns(information: np.ndarray) -> list[int]:
    """Columns (0-based, intercept excluded) in the span of the intercept and earlier columns.

    Column ``j`` of the information ``X'WX`` is dependent when ``1 - R^2`` of its weighted
    regression on the columns kept before it is below :data:`COLLINEAR_TOL`.
    """
    kept, dependent = [0], []
    for j in range(1, information.shape[0]):
        cross = information[kept, j]
        residual = information[j, j] - cross @ solve_spd(information[np.ix_(kept, kept)], cross)
        if residual > COLLINEAR_TOL * information[j, j]:
            kept.append(j)
        else:
            dependent.append(j - 1)
    return dependent


# ---------------------------------------------------------------------------------------
# the fold pass: nested leading column sets, each fit leaving out one fold's rows


@dataclass(frozen=True)
class FoldedRows:
    """Blocks with the label in column ``label``, the fold id in ``fold``, the features of ``standardisation``."""

    standardisation: Standardisation
    label: int
    fold: int

    def split(self, block: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(x, y, fold)``: the design (intercept, standardised features), the labels and the fold ids."""
        return self.standardisation.design(block), block[:, self.label], block[:, self.fold].astype(np.int64)


def stacked_betas(iterates: Sequence[NewtonIterate], rows: int) -> np.ndarray:
    """Every ``β`` as one column of a ``rows x fits`` matrix, zeros past its width."""
    betas = np.zeros((rows, len(iterates)))
    for j, iterate in enumerate(iterates):
        betas[: len(iterate.beta), j] = iterate.beta
    return betas


def fold_pass(blocks: MatrixBlocks, rows: FoldedRows, fits: Sequence[tuple[int, NewtonIterate]],
              train_rows: np.ndarray, stride: int = 1) -> list[LikelihoodPass]:
    """``(ℓ, U, I)`` of every ``(held-out fold, iterate)`` at its ``beta``, over its training rows: one Spark job.

    Fit ``(f, it)`` uses the first ``len(it.beta)`` design columns and the rows outside fold ``f``
    (``train_rows[f]`` rows). ``ℓ`` and ``U`` are exact float64 sums. ``I`` is ``None`` for a fit
    that keeps its information (``it.information``); otherwise it is summed in float32 over every
    ``stride``-th row of each block and scaled to the training rows, or over all rows when
    ``it.exact_next`` (module docstring). Each block gives one flat vector, fit after fit
    ``[ℓ, rows in I, U (p), I (p x p)]``, summed with ``treeReduce``.
    """
    folds = np.array([fold for fold, _ in fits])
    widths = [len(iterate.beta) for _, iterate in fits]
    fresh = [iterate.information is None for _, iterate in fits]  # fits whose X'WX this pass sums
    exact = [iterate.exact_next for _, iterate in fits]  # ... over all rows instead of every stride-th
    sizes = [2 + width + (width * width if needed else 0) for width, needed in zip(widths, fresh, strict=True)]
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(int)
    betas = stacked_betas([iterate for _, iterate in fits], 1 + len(rows.standardisation.columns))
    summed_over = [(stride, [i for i in range(len(fits)) if fresh[i] and not exact[i]]),
                   (1, [i for i in range(len(fits)) if fresh[i] and exact[i]])]  # (row step, fits)

    def partial_sums(block: np.ndarray) -> np.ndarray:
        total = np.zeros(sum(sizes))
        x, y, fold = rows.split(block)
        # every fit at once: one product reads x for all η, one for all U (the pass is memory-bound);
        # a fit's held-out rows get weight 0 instead of being copied out
        eta = x @ betas
        train = fold[:, None] != folds[None, :]
        loglik = np.sum(np.where(train, _bernoulli_loglik(y[:, None], eta), 0.0), axis=0)
        p = expit(eta)
        gradients = x.T @ np.where(train, y[:, None] - p, 0.0)
        for i, width in enumerate(widths):
            total[offsets[i]] += loglik[i]
            total[offsets[i] + 2 : offsets[i] + 2 + width] += gradients[:width, i]
        # X'WX in float32, for the fits that need it: over every stride-th row, or all rows
        for step, chosen in summed_over:
            if not chosen:
                continue
            x32, p_used, fold_used = x[::step].astype(np.float32), p[::step], fold[::step]
            for f in sorted({folds[i] for i in chosen}):
                in_training = fold_used != f
                x_f = x32[in_training]
                for i in (i for i in chosen if folds[i] == f):
                    width, offset = widths[i], offsets[i]
                    w32 = np.sqrt(p_used[in_training, i] * (1.0 - p_used[in_training, i])).astype(np.float32)
                    xw = x_f[:, :width] * w32[:, None]
                    total[offset + 1] += len(x_f)
                    total[offset + 2 + width : offset + sizes[i]] += (xw.T @ xw).ravel()  # numpy: syrk
        return total

    flat = blocks.tree_sum(partial_sums)
    stats = []
    for i, (f, _) in enumerate(fits):
        width, part = widths[i], flat[offsets[i] : offsets[i] + sizes[i]]
        information = None
        if fresh[i]:
            scale = train_rows[f] / part[1] if part[1] else 1.0
            information = scale * part[2 + width :].reshape(width, width)
        stats.append(LikelihoodPass(float(part[0]), part[2 : 2 + width], information, exact=stride == 1 or exact[i]))
    return stats


# ---------------------------------------------------------------------------------------
# fits in the columns' own units


@dataclass
class LogisticFit:
    """A maximum-likelihood logistic regression; arrays are aligned with ``names``.

    ``names[0]`` is ``"intercept"``. ``wald_chi2 = (coef / se)^2`` with 1 d.f., as SAS
    prints it; ``p_value`` is its chi-square tail probability. ``n_iter`` counts the Newton
    iterations after the pass at the start.
    """

    names: list[str]
    coef: np.ndarray
    se: np.ndarray
    wald_chi2: np.ndarray
    p_value: np.ndarray
    loglik: float
    n_iter: int
    converged: bool
    n: int
    n_pos: int
    message: str = ""

    def rows(self, model: str) -> list[dict[str, Any]]:
        """One dict per coefficient: model, variable, coefficient, std_error, wald_chi2, p_value."""
        return [{"model": model, "variable": name, "coefficient": float(c), "std_error": float(s),
                 "wald_chi2": float(w), "p_value": float(p)}
                for name, c, s, w, p in zip(self.names, self.coef, self.se, self.wald_chi2, self.p_value,
                                            strict=True)]


def fit_logistic(df: DataFrame, cols: list[str], label: str, max_iter: int = 25,
                 tol: float = 1e-6, arrays: Mapping[str, Sequence[str]] | None = None) -> LogisticFit:
    """Maximum-likelihood logistic regression of ``label`` on ``cols`` (plus an intercept).

    Distributed Newton-Raphson (a few passes over ``df``); standard errors from the
    inverse information ``I^-1`` at the estimate, Wald chi-square ``(b / se)^2``.
    Rows with a null label are ignored; null features are an error. ``arrays`` adds
    fixed-length array columns as features: ``{column: names of its entries}``.
    """
    names = list(cols) + [name for entries in (arrays or {}).values() for name in entries]
    return fit_logistic_models(df, cols, label, {"model": names}, max_iter=max_iter, tol=tol, arrays=arrays)["model"]


def fit_logistic_models(df: DataFrame, cols: list[str], label: str, models: Mapping[str, Sequence[str]],
                        max_iter: int = 25, tol: float = 1e-6,
                        arrays: Mapping[str, Sequence[str]] | None = None,
                        projected: Mapping[str, tuple[Projected, Sequence[str]]] | None = None,
                        ) -> dict[str, LogisticFit]:
    """:func:`fit_logistic` of ``label`` on each named subset of the features, all from one cached copy of the data.

    The features are ``cols``, the entries of the ``arrays`` columns (named as given) and of the
    ``projected`` vector columns (:class:`churn_spark.linalg.blocks.Projected`, named as given);
    ``df`` is read once (one set of blocks, one pass for the moments) and each model then
    costs its Newton passes only, all models sharing each pass. Returns the fits by name, in the
    order of ``models``.
    """
    design = LogisticDesign(df, cols, label, arrays, projected)
    try:
        features = design.columns
        constant = {features[i] for i in design.constant_columns()}
        starts = []
        for subset in models.values():
            if constant & set(subset):
                raise ValueError(f"constant columns cannot be fitted: {[c for c in subset if c in constant]}")
            model = [features.index(c) for c in subset]
            starts.append((model, [], intercept_only_start(design.n_pos, design.n, 1 + len(model))))
        fits = {}
        for (name, subset), (model, _, _), result in zip(models.items(), starts,
                                                        newton_fits(design, starts, max_iter, tol), strict=True):
            collinear = [subset[i] for i in dependent_columns(result.stats.information)]
            if collinear:
                raise ValueError(f"collinear columns cannot be fitted together (each depends on earlier ones): "
                                 f"{collinear}")
            fits[name] = design.logistic_fit(model, result)
        return fits
    finally:
        design.unpersist()
