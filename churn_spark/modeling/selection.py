"""Forward selection of marketing variables by score chi-square, on Spark (the paper's Table 3).

This is SAS ``PROC LOGISTIC SELECTION=FORWARD``: start from the intercept-only model, compute
the score chi-square ``χ²_j`` of every remaining candidate at the maximum-likelihood fit of the
current model, enter the largest while its p-value (1 d.f.) is below the entry level (SLENTRY,
default 0.05) and at most ``max_variables`` have entered, refit, repeat. Constant candidates,
and candidates collinear with the model (``1 - R²`` below
:data:`~churn_spark.linalg.logistic.COLLINEAR_TOL`), are skipped with that reason; a candidate
whose entry makes the fit fail (separation) is skipped and the next best is tried.

The fits, the score statistic and the distributed passes are those of the logistic engine
(:mod:`churn_spark.linalg.logistic`): each Newton pass computes every candidate's blocks
(``U_C``, ``I_SC``, ``diag(I_CC)``) too, so the pass that confirms convergence already holds every
candidate's score statistic, and the refit after an entry starts from one Newton step computed
from those blocks (:func:`_entry_start`): a selection step costs its Newton passes only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
from pyspark.sql import DataFrame
from scipy.stats import chi2 as chi2_dist

from churn_spark.linalg.logistic import (
    LogisticDesign,
    LogisticFit,
    ScoreFit,
    newton_fits,
    score_statistics,
    solve_spd,
)

log = logging.getLogger(__name__)


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


def _entry_start(current: ScoreFit, pos: int) -> np.ndarray:
    """Starting point of the refit after candidate ``pos`` enters: one Newton step from
    ``(beta, 0)``, computed from the blocks the score pass already holds (saves a pass)."""
    stats = current.stats
    cross = stats.cross_information[:, pos]
    info = np.block([[stats.information, cross[:, None]],
                     [cross[None, :], np.array([[stats.candidate_information_diag[pos]]])]])
    gradient = np.append(stats.gradient, stats.candidate_gradient[pos])
    return np.append(current.beta, 0.0) + solve_spd(info, gradient)


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
    design = LogisticDesign(df, candidates, label)
    try:
        return _forward(design, labels, entry_p, max_variables, max_iter, tol)
    finally:
        design.unpersist()


def _forward(design: LogisticDesign, labels: dict[str, str], entry_p: float, max_variables: int,
             max_iter: int, tol: float) -> SelectionResult:
    names = design.columns
    skipped = {names[i]: "constant" for i in design.constant_columns()}
    remaining = [i for i in range(len(names)) if names[i] not in skipped]
    model: list[int] = []
    [current] = newton_fits(design, [(model, remaining, design.intercept_only())], max_iter, tol)
    steps: list[SelectionStep] = []
    stop_reason = ""
    while not stop_reason:
        chi2, residual = score_statistics(current.stats)
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
            [trial] = newton_fits(design, [(trial_model, trial_rest, _entry_start(current, pos))], max_iter, tol)
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
    chi2, _ = score_statistics(current.stats)
    final_scores = {names[i]: (float(chi2[pos]), float(chi2_dist.sf(chi2[pos], 1)))
                    for pos, i in enumerate(remaining) if names[i] not in skipped}
    return SelectionResult(steps=steps, skipped=skipped, final_scores=final_scores,
                           fit=design.logistic_fit(model, current), stop_reason=stop_reason,
                           passes=design.passes)
