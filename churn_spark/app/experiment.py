"""Experiments on a finished pipeline: the paper's Fig. 7, subscriptions without emails added to training.

``churn-spark experiment add-non-emailers`` asks whether the text model wins only because the
structured model is trained on few units. The structured model (the same selected variables,
encoder and GLM settings as the ``models`` stage) is re-fitted on the training units *with*
emails plus ``n`` training units *without* emails drawn at random, for each ``n`` of
``experiment.non_emailer_grid`` (the paper: 0, 5,000, ..., 100,000), and scored on the same test
units as the main models (the test units with emails). The paper found that none of these
beats the structured model trained on email senders only, and that the structured + text model
beats them all: subscribers who write emails churn in their own way.

The draws are nested: the units without emails are ordered by ``xxhash64(unit_id, run.seed)``
and model ``n`` takes the first ``n``, so a larger sample contains every smaller one and the
curve shows the effect of adding units, not the noise of fresh draws. Grid values above the
number of such units are clipped to it.

Output: the table ``non_emailer_experiment`` (one row per grid point plus the two reference
models from ``model_metrics``; column ``model`` tells them apart), the chart
``<report_dir>/fig7_non_emailers.png`` and the table printed. Each grid model is also tested
against the structured + text model with DeLong's test (``delong_p_vs_text``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from churn_spark.app.artefacts import artefact_path, report_dir
from churn_spark.app.context import Context
from churn_spark.app.report import save_chart
from churn_spark.app.stages import Stage
from churn_spark.app.stages.score import rank_by_probability
from churn_spark.app.stages.units import LABEL, SCORE_COLS, labelled_units, selected_variables

TABLE = "non_emailer_experiment"
CHART = "fig7_non_emailers.png"
GRID_MODEL = "structured_plus_non_emailers"
TEXT_MODEL = "structured_text"
SCHEMA = ("model string, n_added int, n_train int, auc double, auc_se double, auc_ci_low double, "
          "auc_ci_high double, delong_chi2_vs_text double, delong_p_vs_text double")
#: what a finished pipeline leaves behind that the experiment reads
REQUIRED_TABLES = ("observations", "doc_vectors", "feature_selection", "test_predictions", "model_metrics")


def add_non_emailers(train: DataFrame, test: DataFrame, variables: list[str], grid: Sequence[int], *,
                     seed: int, label_col: str = LABEL, reference_col: str = SCORE_COLS[TEXT_MODEL],
                     max_iter: int = 25, tol: float = 1e-8, ci_level: float = 0.95, ci_method: str = "delong",
                     log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Fit the structured model on the units with emails plus ``n`` without, for each ``n`` in ``grid``.

    ``train``: training units with ``unit_id``, ``has_emails``, ``label_col`` and the encoded
    ``variables``; ``test``: test units with ``label_col``, the encoded ``variables`` and the
    reference model's probability ``reference_col``. For each ``n`` (clipped to the number of
    training units without emails, duplicates removed) the GLM ``logit P(churn) = b0 + b'x``
    is fitted by maximum likelihood on the units with emails plus the first ``n`` units without
    emails in ``xxhash64(unit_id, seed)`` order. All models are evaluated in one pass with
    :func:`churn_spark.evaluation.metrics.evaluate` (AUC, DeLong CI, DeLong test against the reference).

    Returns one row dict per grid point: model, n_added, n_train, auc, auc_se, auc_ci_low,
    auc_ci_high, delong_chi2_vs_text, delong_p_vs_text.
    """
    from churn_spark.evaluation.metrics import evaluate
    from churn_spark.modeling.churn_model import fit_churn_model

    if any(n < 0 for n in grid):
        raise ValueError(f"experiment.non_emailer_grid must not hold negative sizes: {list(grid)}")
    # the draw order: a seeded hash ranks the units without emails (rank 1 is drawn first)
    without = train.where(~F.col("has_emails")).select(
        "unit_id", F.xxhash64(F.col("unit_id").cast("string"), F.lit(seed)).alias("_draw"))
    draws = rank_by_probability(without, "_draw").select("unit_id", F.col("rank").alias("draw_rank"))
    units = (train.select("unit_id", "has_emails", label_col, *variables)
             .join(draws, "unit_id", "left").cache())
    try:
        counts = {r.has_emails: int(r["count"]) for r in units.groupBy("has_emails").count().collect()}
        available = counts.get(False, 0)
        sizes = sorted({min(int(n), available) for n in grid})
        clipped = sorted({int(n) for n in grid if n > available})
        if clipped:
            log(f"experiment: only {available} training units without emails; grid value(s) {clipped} "
                f"clipped to {available}")
        log(f"experiment: {counts.get(True, 0)} training units with emails, {available} without; "
            f"fitting {len(sizes)} models (n added = {sizes})")

        scored, n_train, started = test, {}, time.time()
        for i, n in enumerate(sizes, start=1):
            sample = units.where(F.col("has_emails") | (F.col("draw_rank") <= n))
            model = fit_churn_model(sample, f"plus_{n}", variables, label_col, max_iter=max_iter, tol=tol)
            n_train[n] = model.n_train
            scored = model.transform(scored, score_col=f"p_plus_{n}")
            log(f"  [{i}/{len(sizes)}] n added {n:>7}: {n_train[n]} training units, "
                f"{model.n_iter} Newton iterations, {time.time() - started:.1f} s elapsed")
    finally:
        units.unpersist()

    score_cols = {TEXT_MODEL: reference_col, **{f"plus_{n}": f"p_plus_{n}" for n in sizes}}
    result = evaluate(scored, label_col, score_cols, curve_points=10, ci_level=ci_level, ci_method=ci_method,
                      reference=TEXT_MODEL)
    log(f"experiment: {len(sizes)} models evaluated on {result.metrics[0]['n']} test units, "
        f"{time.time() - started:.1f} s elapsed")
    rows = []
    for n in sizes:
        m = result.metric(f"plus_{n}")
        rows.append({"model": GRID_MODEL, "n_added": n, "n_train": n_train[n], "auc": m["auc"],
                     "auc_se": m["auc_se"], "auc_ci_low": m["auc_ci_low"], "auc_ci_high": m["auc_ci_high"],
                     "delong_chi2_vs_text": m["delong_chi2"], "delong_p_vs_text": m["delong_p"]})
    return rows


def reference_rows(model_metrics: list[dict[str, Any]], n_train: int) -> list[dict[str, Any]]:
    """The two main models (trained on the units with emails only) as rows of the experiment table."""
    by_model = {m["model"]: m for m in model_metrics}
    text = by_model[TEXT_MODEL]
    rows = []
    for name in SCORE_COLS:
        m = by_model[name]
        # model_metrics tests structured_text against structured: the same test, seen from either side
        vs_text = (text["delong_chi2"], text["delong_p"]) if name != TEXT_MODEL else (None, None)
        rows.append({"model": name, "n_added": 0, "n_train": n_train, "auc": m["auc"], "auc_se": m["auc_se"],
                     "auc_ci_low": m["auc_ci_low"], "auc_ci_high": m["auc_ci_high"],
                     "delong_chi2_vs_text": vs_text[0], "delong_p_vs_text": vs_text[1]})
    return rows


def plot_non_emailers(rows: list[dict[str, Any]], path: str | Path) -> Path:
    """Test AUC against units without emails added, with the two reference models (the paper's Fig. 7)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = sorted((r for r in rows if r["model"] == GRID_MODEL), key=lambda r: r["n_added"])
    refs = {r["model"]: r for r in rows if r["model"] != GRID_MODEL}
    xs = [r["n_added"] for r in grid]
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    ax.fill_between(xs, [r["auc_ci_low"] for r in grid], [r["auc_ci_high"] for r in grid], alpha=0.2,
                    label="95% CI")
    ax.plot(xs, [r["auc"] for r in grid], marker="o", markersize=4,
            label="structured, + n units without emails")
    styles = {"structured": ("tab:grey", "--", "structured, email senders only"),
              TEXT_MODEL: ("tab:red", "-", "structured + text, email senders only")}
    for name, (color, linestyle, label) in styles.items():
        if name in refs:
            ax.axhline(refs[name]["auc"], color=color, linestyle=linestyle, linewidth=1.2,
                       label=f"{label} ({refs[name]['auc']:.4f})")
    ax.set(xlabel="training units without emails added (n)", ylabel="test AUC (units with emails)",
           title="Adding subscriptions without emails (paper Fig. 7)")
    ax.legend(loc="lower right", fontsize=8)
    return save_chart(fig, path)


def format_table(rows: list[dict[str, Any]]) -> list[str]:
    """The experiment table as aligned text lines."""
    def num(value: Any, digits: int = 4) -> str:
        return "n/a" if value is None else f"{value:.{digits}f}"

    lines = [f"  {'model':<30} {'n added':>8} {'n train':>8}   AUC      95% CI             DeLong p vs text"]
    for r in rows:
        p = r["delong_p_vs_text"]
        lines.append(f"  {r['model']:<30} {r['n_added']:>8} {r['n_train']:>8}   {num(r['auc'])}   "
                     f"[{num(r['auc_ci_low'])}, {num(r['auc_ci_high'])}]   {'' if p is None else f'{p:.3g}'}")
    return lines


# ---------------------------------------------------------------------------------------
# the command


def run_add_non_emailers(ctx: Context) -> dict[str, Any]:
    """``churn-spark experiment add-non-emailers``: the Fig. 7 experiment on the warehouse's tables."""
    from churn_spark.modeling.encoding import MarketingEncoderModel

    cfg, lake, spark = ctx.cfg, ctx.lake, ctx.spark
    encoder = _require_finished_pipeline(lake, artefact_path(cfg, "encoder"), MarketingEncoderModel.load)
    variables = selected_variables(lake)
    train = encoder.transform(labelled_units(lake, "train", with_emails=None))
    # the same test units as the main models: those scored in test_predictions
    reference = lake.read("test_predictions").select("unit_id", SCORE_COLS[TEXT_MODEL])
    test = encoder.transform(labelled_units(lake, "test").join(reference, "unit_id"))
    ec = cfg.evaluation
    rows = add_non_emailers(train, test, variables, cfg.experiment.non_emailer_grid, seed=cfg.run.seed,
                            max_iter=cfg.model.max_iter, tol=cfg.model.tol, ci_level=ec.ci_level,
                            ci_method=ec.ci_method)
    metrics = [r.asDict() for r in lake.read("model_metrics").collect()]
    n_emailers = labelled_units(lake, "train").count()
    rows = reference_rows(metrics, n_emailers) + rows
    lake.write(spark.createDataFrame([tuple(r[c] for c in _columns()) for r in rows], SCHEMA), TABLE)
    os.makedirs(report_dir(cfg), exist_ok=True)
    chart = plot_non_emailers(rows, os.path.join(report_dir(cfg), CHART))
    print(f"experiment add-non-emailers: table {TABLE}, chart {chart}")
    for line in format_table(rows):
        print(line)
    grid = [r for r in rows if r["model"] == GRID_MODEL]
    best = max(grid, key=lambda r: r["auc"])
    return {"grid": [r["n_added"] for r in grid], "best_n_added": best["n_added"], "best_auc": best["auc"],
            "auc": {r["model"] if r["model"] != GRID_MODEL else f"plus_{r['n_added']}": round(r["auc"], 4)
                    for r in rows},
            "chart": str(chart)}


def _columns() -> list[str]:
    return [part.split()[0] for part in SCHEMA.split(",")]


def _require_finished_pipeline(lake, encoder_path: str, load: Callable[[str], Any]) -> Any:
    """The fitted encoder; fails in one line naming what is missing when the pipeline has not run."""
    missing = [t for t in REQUIRED_TABLES if not lake.exists(t)]
    encoder = None
    try:
        encoder = load(encoder_path)
    except Exception:  # not saved yet (or unreadable): reported with the missing tables
        missing.append(f"encoder artefact {encoder_path}")
    if missing:
        raise RuntimeError(f"missing {', '.join(missing)}: run the pipeline first "
                           f"(churn-spark pipeline / run --warehouse {lake.root})")
    return encoder


ADD_NON_EMAILERS = Stage("experiment add-non-emailers", run_add_non_emailers, inputs=REQUIRED_TABLES,
                         outputs=(TABLE,), config=("experiment", "model", "evaluation", "run"),
                         help=__doc__.splitlines()[0])

#: The experiments ``churn-spark experiment NAME`` runs (each recorded in ``pipeline_runs`` like a stage).
EXPERIMENTS: dict[str, Stage] = {"add-non-emailers": ADD_NON_EMAILERS}
