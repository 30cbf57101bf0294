"""Forward selection of marketing variables by score chi-square, and logistic fits, on Spark.

This is SAS ``PROC LOGISTIC SELECTION=FORWARD`` (the paper's Table 3), computed with
distributed passes over the data.

The model: ``P(y=1|x) = 1 / (1 + exp(-(b0 + b'x)))``. For design matrix ``X`` (intercept
column first), fitted probabilities ``p`` and weights ``w = p (1 - p)``:

* gradient of the log-likelihood ``U = X'(y - p)``, information ``I = X' diag(w) X``;
* Newton / IRLS step ``b <- b + I^-1 U`` until the step is negligible;
* the (Rao) score statistic of a candidate ``j`` not in the current model ``S``, at the
  maximum-likelihood fit of ``S`` (where ``U_S = 0``), with 1 degree of freedom::

      chi2_j = U_j^2 / (I_jj - I_jS I_SS^-1 I_Sj)

  The denominator is ``I_jj`` times ``1 - R^2`` of the weighted regression of ``x_j`` on
  the model's columns; when it vanishes the candidate is constant or collinear with the
  model and is skipped with that reason.

Forward selection starts from the intercept-only model, computes ``chi2_j`` of every
remaining candidate, enters the largest while its p-value is below the entry level
(SLENTRY, default 0.05) and at most ``max_variables`` have entered, refits, repeats.

Distributed: the columns are cached once as float64 row blocks on the executors
(:class:`~churn_spark.linalg.blocks.MatrixBlocks`); one pass turns each block into a single vector
of partial sums (log-likelihood, ``U`` over model and
candidate columns, the blocks ``I_SS``, ``I_SC`` and ``diag(I_CC)``), reduced with
``treeReduce``; nothing proportional to the number of rows reaches the driver. Each Newton
pass computes the candidate blocks too, so the pass that confirms convergence already
holds every candidate's score statistic: a selection step costs its Newton passes only.

Columns are centred and scaled internally by their training mean and standard deviation
(score statistics and Wald statistics do not change; the conditioning of ``I`` improves);
coefficients and their covariance are mapped back to the original units.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from scipy import linalg
from scipy.special import expit
from scipy.stats import chi2 as chi2_dist

from churn_spark.linalg.blocks import MatrixBlocks, Projected

log = logging.getLogger(__name__)

INTERCEPT = "intercept"
# 1 - R^2 of a candidate on the model's columns below this: collinear (skipped)
_COLLINEAR_TOL = 1e-8
# standard deviation below this times (1 + |mean|): constant (skipped)
_CONSTANT_TOL = 1e-12


@dataclass
class LogisticFit:
    """A maximum-likelihood logistic regression; arrays are aligned with ``names``.

    ``names[0]`` is ``"intercept"``. ``wald_chi2 = (coef / se)^2`` with 1 d.f., as SAS
    prints it; ``p_value`` is its chi-square tail probability.
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


@dataclass
class SelectionStep:
    step: int
    variable: str
    score_chi2: float
    p_value: float
    label: str


@dataclass
class SelectionResult:
    """Outcome of :func:`forward_select`.

    ``steps`` is Table 3 (order of entry with the score chi-square at entry); ``skipped``
    maps candidates that could never enter to the reason; ``final_scores`` holds the
    score chi-square of the candidates left out, at the final model; ``fit`` is the final
    model; ``passes`` counts the distributed passes over the data.
    """

    steps: list[SelectionStep]
    skipped: dict[str, str]
    final_scores: dict[str, tuple[float, float]]
    fit: LogisticFit
    stop_reason: str
    passes: int

    @property
    def selected(self) -> list[str]:
        return [s.variable for s in self.steps]

    def rows(self) -> list[dict[str, Any]]:
        """Table 3 rows: step, variable, score_chi2, p_value (plus the readable label)."""
        return [{"step": s.step, "variable": s.variable, "score_chi2": s.score_chi2,
                 "p_value": s.p_value, "label": s.label} for s in self.steps]


@dataclass
class _PassStats:
    """Sums over all rows at one coefficient vector (standardised space)."""

    loglik: float
    n: float
    u_model: np.ndarray          # (s+1,)   gradient over intercept + model columns
    u_cand: np.ndarray           # (c,)     gradient over candidate columns
    info_model: np.ndarray       # (s+1, s+1)
    info_cross: np.ndarray       # (s+1, c)
    info_cand_diag: np.ndarray   # (c,)


@dataclass
class _NewtonResult:
    beta: np.ndarray             # standardised space, at which ``stats`` was computed
    stats: _PassStats
    converged: bool
    n_iter: int
    message: str = ""


class _Design:
    """The cached (label, columns) data with the column means and standard deviations.

    ``run_pass`` is the one distributed pass every fit and every score statistic uses.
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
        self.n, mean, sd, nulls = self.blocks.column_moments()
        if self.n == 0:
            self.blocks.unpersist()
            raise ValueError(f"label {label!r} needs both classes (n=0, positives=0)")
        labels = self.blocks.tree_sum(lambda b: np.array([b[:, 0].sum(), np.sum((b[:, 0] != 0) & (b[:, 0] != 1))]))
        self.n_pos, bad_labels = int(labels[0]), int(labels[1])
        if bad_labels:
            self.blocks.unpersist()
            raise ValueError(f"label {label!r} must be 0/1; {bad_labels} rows are not")
        if self.n == 0 or self.n_pos in (0, self.n):
            self.blocks.unpersist()
            raise ValueError(f"label {label!r} needs both classes (n={self.n}, positives={self.n_pos})")
        with_nulls = [c for i, c in enumerate(self.columns) if nulls[1 + i]]
        if with_nulls:
            self.blocks.unpersist()
            raise ValueError(f"columns with nulls (impute them first, e.g. MarketingEncoder): {with_nulls}")
        self.mean, self.sd = mean[1:], sd[1:]

    def constant_columns(self) -> list[int]:
        return [i for i in range(len(self.columns))
                if not self.sd[i] > _CONSTANT_TOL * (1.0 + abs(self.mean[i]))]

    def unpersist(self) -> None:
        self.blocks.unpersist()

    def run_pass(self, model: list[int], candidates: list[int], beta: np.ndarray) -> _PassStats:
        """One distributed pass: log-likelihood, gradient and information blocks at ``beta``."""
        return self.run_passes([(model, candidates, beta)])[0]

    def run_passes(self, fits: Sequence[tuple[list[int], list[int], np.ndarray]]) -> list[_PassStats]:
        """:meth:`run_pass` of several ``(model, candidates, beta)`` in one distributed pass."""
        self.passes += 1
        specs = []
        for model, candidates, beta in fits:
            specs.append((1 + np.asarray(model, dtype=int), 1 + np.asarray(candidates, dtype=int),  # column 0: y
                          self.mean[model], self.sd[model], self.mean[candidates], self.sd[candidates],
                          np.asarray(beta, dtype=float)))

        def partial_sums(block: np.ndarray) -> np.ndarray:
            y = block[:, 0]
            parts = []
            for model_cols, cand_cols, mean_m, sd_m, mean_c, sd_c, beta in specs:
                xs = np.column_stack([np.ones(len(y)), (block[:, model_cols] - mean_m) / sd_m])
                xc = (block[:, cand_cols] - mean_c) / sd_c
                eta = xs @ beta
                p = expit(eta)
                w = p * (1.0 - p)
                r = y - p
                loglik = float(np.sum(y * eta - np.logaddexp(0.0, eta)))
                xs_w = xs * w[:, None]
                parts += [[loglik, float(len(y))], xs.T @ r, xc.T @ r,
                          (xs_w.T @ xs).ravel(), (xs_w.T @ xc).ravel(), np.einsum("ij,ij,i->j", xc, xc, w)]
            return np.concatenate(parts)

        flat = self.blocks.tree_sum(partial_sums)
        stats = []
        for model, candidates, _ in fits:
            k, c = len(model) + 1, len(candidates)
            cuts = np.cumsum([2, k, c, k * k, k * c, c])
            head, u_model, u_cand, info_model, info_cross, info_cand_diag, flat = np.split(flat, cuts)
            stats.append(_PassStats(loglik=float(head[0]), n=float(head[1]), u_model=u_model, u_cand=u_cand,
                                    info_model=info_model.reshape(k, k), info_cross=info_cross.reshape(k, c),
                                    info_cand_diag=info_cand_diag))
        return stats


def _solve_spd(matrix: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """``matrix^-1 rhs`` for a symmetric positive-definite matrix (least squares if singular)."""
    try:
        return linalg.cho_solve(linalg.cho_factor(matrix), rhs)
    except linalg.LinAlgError:
        return np.linalg.lstsq(matrix, rhs, rcond=None)[0]


def _newton(design: _Design, model: list[int], candidates: list[int], beta0: np.ndarray,
            max_iter: int, tol: float) -> _NewtonResult:
    """Newton-Raphson for the logistic log-likelihood with step halving (:func:`_newton_steps`)."""
    return _newton_together(design, [(model, candidates, beta0)], max_iter, tol)[0]


def _newton_together(design: _Design, fits: Sequence[tuple[list[int], list[int], np.ndarray]],
                     max_iter: int, tol: float) -> list[_NewtonResult]:
    """:func:`_newton` of several ``(model, candidates, beta0)``, sharing each pass over the data."""
    running = [_newton_steps(beta0, max_iter, tol) for _, _, beta0 in fits]
    betas: list[np.ndarray | None] = [next(steps) for steps in running]
    results: list[_NewtonResult | None] = [None] * len(fits)
    while any(r is None for r in results):
        active = [i for i, r in enumerate(results) if r is None]
        stats = design.run_passes([(fits[i][0], fits[i][1], betas[i]) for i in active])
        for i, pass_stats in zip(active, stats, strict=True):
            try:
                betas[i] = running[i].send(pass_stats)
            except StopIteration as done:
                results[i] = done.value
    return results


def _newton_steps(beta0: np.ndarray, max_iter: int, tol: float) -> Generator[np.ndarray, _PassStats, _NewtonResult]:
    """Newton-Raphson as a generator: yields the β at which it needs a pass, receives that pass's
    statistics, returns the result.

    Converged when the largest Newton step (standardised coefficients) is below ``tol``;
    the returned ``beta`` includes that last step and the gradients in ``stats`` are
    moved along with it (first order); the information blocks are those of the last pass.
    """
    beta = np.asarray(beta0, dtype=float)
    previous: tuple[np.ndarray, float] | None = None
    halvings = 0
    for iteration in range(max_iter + 1):
        stats = yield beta
        if previous is not None and not stats.loglik >= previous[1] - 1e-10 * abs(previous[1]) \
                and halvings < 20:
            # the step overshot: go back half-way (costs a pass, rare away from separation)
            beta = 0.5 * (beta + previous[0])
            halvings += 1
            continue
        halvings = 0
        try:
            step = linalg.cho_solve(linalg.cho_factor(stats.info_model), stats.u_model)
        except linalg.LinAlgError:
            return _NewtonResult(beta, stats, False, iteration,
                                 "singular information matrix (separation of the classes?)")
        if np.max(np.abs(step)) < tol:
            # take the last (tiny) step without another pass: to first order the gradient
            # moves by -I step, which leaves the candidates' scores exact to O(step^2)
            stats.u_cand = stats.u_cand - stats.info_cross.T @ step
            stats.u_model = stats.u_model - stats.info_model @ step
            return _NewtonResult(beta + step, stats, True, iteration)
        if iteration == max_iter:
            break
        previous = (beta, stats.loglik)
        beta = beta + step
    return _NewtonResult(beta, stats, False, max_iter,
                         f"no convergence in {max_iter} Newton iterations (separation of the classes?)")


def _to_fit(design: _Design, model: list[int], result: _NewtonResult) -> LogisticFit:
    """Map standardised coefficients and their covariance back to the original units."""
    k = len(model) + 1
    transform = np.zeros((k, k))
    transform[0, 0] = 1.0
    for j, col in enumerate(model, start=1):
        transform[j, j] = 1.0 / design.sd[col]
        transform[0, j] = -design.mean[col] / design.sd[col]
    coef = transform @ result.beta
    cov_std = _solve_spd(result.stats.info_model, np.eye(k))
    se = np.sqrt(np.clip(np.diag(transform @ cov_std @ transform.T), 0.0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        wald = np.where(se > 0, (coef / se) ** 2, np.nan)
    return LogisticFit(names=[INTERCEPT] + [design.columns[i] for i in model], coef=coef, se=se,
                       wald_chi2=wald, p_value=chi2_dist.sf(wald, 1), loglik=result.stats.loglik,
                       n_iter=result.n_iter, converged=result.converged, n=design.n, n_pos=design.n_pos,
                       message=result.message)


def _score_statistics(stats: _PassStats) -> tuple[np.ndarray, np.ndarray]:
    """Score chi-square of each candidate and ``1 - R^2`` on the model (collinearity measure)."""
    projected = _solve_spd(stats.info_model, stats.info_cross)           # I_SS^-1 I_SC
    denominator = stats.info_cand_diag - np.sum(stats.info_cross * projected, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        residual_share = np.where(stats.info_cand_diag > 0, denominator / stats.info_cand_diag, 0.0)
        chi2 = np.where(residual_share > _COLLINEAR_TOL, stats.u_cand ** 2 / denominator, np.nan)
    return chi2, residual_share


def _dependent_columns(info: np.ndarray) -> list[int]:
    """Columns (0-based, intercept excluded) in the span of the intercept and earlier columns.

    Column ``j`` of the information ``X'WX`` is dependent when ``1 - R^2`` of its weighted
    regression on the columns kept before it is below the collinearity tolerance.
    """
    kept, dependent = [0], []
    for j in range(1, info.shape[0]):
        cross = info[kept, j]
        residual = info[j, j] - cross @ _solve_spd(info[np.ix_(kept, kept)], cross)
        if residual > _COLLINEAR_TOL * info[j, j]:
            kept.append(j)
        else:
            dependent.append(j - 1)
    return dependent


def _entry_order(chi2: np.ndarray) -> list[int]:
    """Positions of the valid candidates by decreasing score chi-square.

    Candidates within a relative 1e-7 of the best are a tie (e.g. two columns that differ
    by a model column), resolved by candidate order, so rounding never decides the entry.
    """
    by_score = np.argsort(-np.nan_to_num(chi2, nan=-1.0), kind="stable")
    valid = [int(pos) for pos in by_score if not np.isnan(chi2[pos])]
    if not valid:
        return []
    best = chi2[valid[0]]
    first = min(pos for pos in valid if chi2[pos] >= best * (1.0 - 1e-7))
    return [first] + [pos for pos in valid if pos != first]


def _entry_start(current: _NewtonResult, pos: int) -> np.ndarray:
    """Starting point of the refit after candidate ``pos`` enters: one Newton step from
    ``(beta, 0)``, computed from the blocks the score pass already holds (saves a pass)."""
    stats = current.stats
    cross = stats.info_cross[:, pos]
    info = np.block([[stats.info_model, cross[:, None]],
                     [cross[None, :], np.array([[stats.info_cand_diag[pos]]])]])
    gradient = np.append(stats.u_model, stats.u_cand[pos])
    return np.append(current.beta, 0.0) + _solve_spd(info, gradient)


def _intercept_only(design: _Design) -> np.ndarray:
    return np.array([math.log(design.n_pos / (design.n - design.n_pos))])


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
    design = _Design(df, cols, label, arrays, projected)
    try:
        features = design.columns
        constant = {features[i] for i in design.constant_columns()}
        starts = []
        for subset in models.values():
            if constant & set(subset):
                raise ValueError(f"constant columns cannot be fitted: {[c for c in subset if c in constant]}")
            model = [features.index(c) for c in subset]
            starts.append((model, [], np.concatenate([_intercept_only(design), np.zeros(len(model))])))
        fits = {}
        for (name, subset), (model, _, _), result in zip(models.items(), starts,
                                                        _newton_together(design, starts, max_iter, tol), strict=True):
            collinear = [subset[i] for i in _dependent_columns(result.stats.info_model)]
            if collinear:
                raise ValueError(f"collinear columns cannot be fitted together (each depends on earlier ones): "
                                 f"{collinear}")
            fits[name] = _to_fit(design, model, result)
        return fits
    finally:
        design.unpersist()


def forward_select(df: DataFrame, candidates: list[str], label: str, entry_p: float = 0.05,
                   max_variables: int = 25, max_iter: int = 25, tol: float = 1e-4,
                   labels: dict[str, str] | None = None) -> SelectionResult:
    """Forward selection by score chi-square (SAS ``SELECTION=FORWARD``, ``SLENTRY=entry_p``).

    At each step every remaining candidate's score statistic is computed in the same
    pass; the largest enters if its p-value is below ``entry_p`` and fewer than
    ``max_variables`` have entered. Constant or collinear candidates are skipped with a
    reason; a candidate whose entry makes the fit diverge (separation) is skipped and the
    next best is tried. ``labels`` are readable names for the result rows.
    """
    labels = labels or {}
    design = _Design(df, candidates, label)
    try:
        return _forward(design, labels, entry_p, max_variables, max_iter, tol)
    finally:
        design.unpersist()


def _forward(design: _Design, labels: dict[str, str], entry_p: float, max_variables: int,
             max_iter: int, tol: float) -> SelectionResult:
    names = design.columns
    skipped = {names[i]: "constant" for i in design.constant_columns()}
    remaining = [i for i in range(len(names)) if names[i] not in skipped]
    model: list[int] = []
    current = _newton(design, model, remaining, _intercept_only(design), max_iter, tol)
    steps: list[SelectionStep] = []
    stop_reason = ""
    while not stop_reason:
        chi2, residual = _score_statistics(current.stats)
        for pos in np.flatnonzero(np.isnan(chi2)):
            skipped[names[remaining[pos]]] = ("constant" if not model else
                                              f"collinear with the model (1 - R^2 = {residual[pos]:.2e})")
        order = _entry_order(chi2)
        if len(model) >= max_variables:
            stop_reason = f"max_variables={max_variables} reached"
            break
        stop_reason = "no candidate left"
        for pos in order:
            p_value = float(chi2_dist.sf(chi2[pos], 1))
            if not p_value < entry_p:
                stop_reason = f"no remaining candidate with p < {entry_p}"
                break
            entering = remaining[pos]
            trial_model = model + [entering]
            trial_rest = [i for i in remaining if i != entering and names[i] not in skipped]
            trial = _newton(design, trial_model, trial_rest, _entry_start(current, pos), max_iter, tol)
            if not trial.converged:
                skipped[names[entering]] = f"fit did not converge after entry: {trial.message}"
                log.warning("forward selection: %s skipped (%s)", names[entering], trial.message)
                continue
            steps.append(SelectionStep(step=len(steps) + 1, variable=names[entering],
                                       score_chi2=float(chi2[pos]), p_value=p_value,
                                       label=labels.get(names[entering], names[entering])))
            log.info("forward selection step %d: %s (score chi2 %.3f, p %.3g)", len(steps),
                     names[entering], chi2[pos], p_value)
            model, remaining, current = trial_model, trial_rest, trial
            stop_reason = ""
            break
    chi2, _ = _score_statistics(current.stats)
    final_scores = {names[i]: (float(chi2[pos]), float(chi2_dist.sf(chi2[pos], 1)))
                    for pos, i in enumerate(remaining) if names[i] not in skipped}
    return SelectionResult(steps=steps, skipped=skipped, final_scores=final_scores,
                           fit=_to_fit(design, model, current), stop_reason=stop_reason,
                           passes=design.passes)
