"""The run report: ``report.md`` (tables and charts next to the paper's numbers), ``summary.json``, the charts.

Inputs are plain lists of row dicts, as produced by :mod:`churn_spark.modeling.selection`,
:mod:`churn_spark.modeling.churn_model` and :mod:`churn_spark.evaluation.metrics` (or read back from their
tables), so the pipeline can call :func:`write_report` from whatever it holds.

``summary.json`` follows the data contract (``docs/data_contract.md``)::

    {"n_train", "n_test", "k",
     "models": {"structured": {"auc", "top_decile_lift", "variables"},
                "structured_text": {"auc", "top_decile_lift"}},
     "delong": {"chi2", "p_value"}}

plus extra keys (AUC standard errors and confidence intervals, the paper's numbers,
oracle AUCs and data sizes when given). AUC is a fraction, lift a ratio.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from churn_spark.modeling.kselect import KSelection

STRUCTURED = "structured"
STRUCTURED_TEXT = "structured_text"

#: Coussement & Van den Poel (2008), Table 4 and the DeLong test (AUC in percent).
PAPER = {
    "models": {STRUCTURED: {"auc": 0.7380, "top_decile_lift": 2.69, "n_variables": 20},
               STRUCTURED_TEXT: {"auc": 0.7775, "top_decile_lift": 3.07, "k": 170}},
    "delong": {"chi2": 23.1, "p_value": "< 0.001"},
    "n_train": 9603, "n_test": 3161,
}


def write_report(out_dir: str | Path, *, n_train: int, n_test: int, k: int,
                 selection: Sequence[Mapping[str, Any]], metrics: Sequence[Mapping[str, Any]],
                 delong: Mapping[str, Any] | Sequence[Mapping[str, Any]],
                 roc_curve: Sequence[Mapping[str, Any]], lift_curve: Sequence[Mapping[str, Any]],
                 decile_lift: Sequence[Mapping[str, Any]] = (),
                 coefficients: Sequence[Mapping[str, Any]] = (),
                 variables: Sequence[str] | None = None,
                 k_selection: KSelection | None = None,
                 k_chart_path: str | Path | None = None,
                 data_sizes: Mapping[str, Any] | None = None,
                 oracle_auc: Mapping[str, float] | None = None,
                 extra: Mapping[str, Any] | None = None) -> dict[str, Path]:
    """Write ``report.md``, ``summary.json`` and the charts into ``out_dir``; return their paths.

    ``selection``: Table 3 rows (step, variable, score_chi2, p_value[, label]).
    ``metrics``: ``model_metrics`` rows; models ``structured`` and ``structured_text`` required.
    ``delong``: the test row (chi2, p_value[, auc_diff, se_diff]) or a list whose first row is used.
    ``roc_curve`` / ``lift_curve``: rows (model, x, y); ``decile_lift``: rows (model, decile, lift, ...).
    ``coefficients``: rows (model, variable, coefficient, std_error, wald_chi2, p_value).
    ``variables``: the structured model's variables (default: the selection order).
    ``k_selection``: the cross-validation of k, drawn as the CV-AUC-against-k chart, or
    ``k_chart_path``: an existing chart, copied next to the report.
    ``data_sizes``: free-form counts shown in the data section (emails, terms, ...).
    ``oracle_auc``: AUCs of the generator's true probabilities, per model name, if known.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    by_model = {m["model"]: dict(m) for m in metrics}
    missing = [name for name in (STRUCTURED, STRUCTURED_TEXT) if name not in by_model]
    if missing:
        raise ValueError(f"metrics lack the model(s) {missing}; have {sorted(by_model)}")
    test = dict(delong[0] if isinstance(delong, Sequence) else delong) if delong else {}
    variables = list(variables) if variables is not None else [str(r["variable"]) for r in selection]

    paths = {"roc": plot_roc(list(roc_curve), out / "roc.png",
                             aucs={m: r["auc"] for m, r in by_model.items()}),
             "lift": plot_lift(list(lift_curve), out / "lift.png")}
    if k_selection:
        paths["k_chart"] = Path(plot_k_selection(k_selection, str(out / "cv_auc_by_k.png")))
    elif k_chart_path:
        source = Path(k_chart_path)
        target = out / source.name
        if source.resolve() != target.resolve():
            shutil.copyfile(source, target)
        paths["k_chart"] = target

    summary = _summary(n_train, n_test, k, by_model, test, variables, oracle_auc, data_sizes, extra)
    paths["summary"] = out / "summary.json"
    paths["summary"].write_text(json.dumps(_finite(summary), indent=2, ensure_ascii=False) + "\n",
                                encoding="utf-8")

    lines = _markdown(n_train, n_test, k, selection, by_model, test, decile_lift, coefficients,
                      paths, out, data_sizes, oracle_auc)
    paths["report"] = out / "report.md"
    paths["report"].write_text("\n".join(lines) + "\n", encoding="utf-8")
    return paths


def _summary(n_train: int, n_test: int, k: int, by_model: dict[str, dict], test: dict, variables: list[str],
             oracle_auc: Mapping[str, float] | None, data_sizes: Mapping[str, Any] | None,
             extra: Mapping[str, Any] | None) -> dict[str, Any]:
    models: dict[str, Any] = {}
    for name, row in by_model.items():
        entry = {"auc": row["auc"], "top_decile_lift": row["top_decile_lift"]}
        if name == STRUCTURED:
            entry["variables"] = variables
        for key in ("auc_se", "auc_ci_low", "auc_ci_high", "n", "n_pos"):
            if key in row:
                entry[key] = row[key]
        if oracle_auc and name in oracle_auc:
            entry["oracle_auc"] = oracle_auc[name]
        models[name] = entry
    summary: dict[str, Any] = {
        "n_train": int(n_train), "n_test": int(n_test), "k": int(k), "models": models,
        "delong": {"chi2": test.get("chi2"), "p_value": test.get("p_value"),
                   **{key: test[key] for key in ("model_a", "model_b", "auc_diff", "se_diff")
                      if key in test}},
        "paper": PAPER,
    }
    if oracle_auc:
        summary["oracle_auc"] = dict(oracle_auc)
    if data_sizes:
        summary["data_sizes"] = dict(data_sizes)
    summary.update(extra or {})
    return summary


def _finite(value: Any) -> Any:
    """NaN / infinity -> None (JSON has no NaN); numpy scalars -> Python numbers."""
    if isinstance(value, Mapping):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _pct(value: Any, digits: int = 2) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) \
        else f"{100 * value:.{digits}f}"


def _num(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def _p(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return "< 0.0001" if value < 1e-4 else f"{value:.4f}"


def _markdown(n_train: int, n_test: int, k: int, selection: Sequence[Mapping[str, Any]],
              by_model: dict[str, dict], test: dict, decile_lift: Sequence[Mapping[str, Any]],
              coefficients: Sequence[Mapping[str, Any]], paths: dict[str, Path], out: Path,
              data_sizes: Mapping[str, Any] | None, oracle_auc: Mapping[str, float] | None) -> list[str]:
    paper = PAPER["models"]
    lines = ["# churn-spark report", "",
             "Coussement & Van den Poel (2008) rebuilt on Spark: a churn model on marketing variables "
             "(structured) against the same model plus the LSI concepts of the customers' "
             "call-center emails (structured + text).", "",
             "## Data", "",
             "| | this run | paper |", "|---|---|---|",
             f"| training units | {n_train:,} | {PAPER['n_train']:,} |",
             f"| test units | {n_test:,} | {PAPER['n_test']:,} |",
             f"| test churners | {by_model[STRUCTURED].get('n_pos', 'n/a')} | 593 |",
             f"| LSI concepts k | {k} | 170 |",
             f"| selected marketing variables | {len(selection)} | 20 |"]
    for key, value in (data_sizes or {}).items():
        lines.append(f"| {key} | {value:,} | |" if isinstance(value, int) else f"| {key} | {value} | |")

    lines += ["", "## Table 3 — forward selection (score χ², entry in this order)", "",
              "| step | variable | description | score χ² | p-value |", "|---|---|---|---|---|"]
    lines += [f"| {r['step']} | `{r['variable']}` | {r.get('label', r['variable'])} "
              f"| {_num(r['score_chi2'], 2)} | {_p(r['p_value'])} |" for r in selection]

    lines += ["", "## Table 4 — test set", "",
              "| model | AUC (%) | 95% CI (%) | top-decile lift | paper AUC (%) | paper lift |",
              "|---|---|---|---|---|---|"]
    for name, title in ((STRUCTURED, "structured"), (STRUCTURED_TEXT, "structured + text")):
        row = by_model[name]
        ci = f"{_pct(row.get('auc_ci_low'))} – {_pct(row.get('auc_ci_high'))}"
        lines.append(f"| {title} | {_pct(row['auc'])} | {ci} | {_num(row['top_decile_lift'], 2)} "
                     f"| {_pct(paper[name]['auc'])} | {paper[name]['top_decile_lift']:.2f} |")
    for name, row in by_model.items():
        if name not in (STRUCTURED, STRUCTURED_TEXT):
            lines.append(f"| {name} | {_pct(row['auc'])} | {_pct(row.get('auc_ci_low'))} – "
                         f"{_pct(row.get('auc_ci_high'))} | {_num(row['top_decile_lift'], 2)} | | |")
    lines += ["", f"DeLong, DeLong & Clarke-Pearson (1988) test of the two correlated AUCs: "
                  f"χ² = {_num(test.get('chi2'), 2)}, 1 d.f., p {_p(test.get('p_value'))} "
                  f"(paper: χ² = 23.1, p < 0.001). AUC confidence intervals use the DeLong variance."]
    if oracle_auc:
        lines += ["", "Oracle AUC (the generator's true churn probabilities): "
                  + ", ".join(f"{name} {_pct(v)}%" for name, v in oracle_auc.items()) + "."]

    lines += ["", "## Figures", "",
              f"![ROC curves (paper Fig. 5)]({paths['roc'].relative_to(out).as_posix()})", "",
              f"![Cumulative lift (paper Fig. 6)]({paths['lift'].relative_to(out).as_posix()})"]
    if "k_chart" in paths:
        lines += ["", f"![Cross-validated AUC against k (paper Fig. 4)]"
                      f"({paths['k_chart'].relative_to(out).as_posix()})"]

    if decile_lift:
        models = list(dict.fromkeys(r["model"] for r in decile_lift))
        lines += ["", "## Lift per decile (decile 1 = the 10% most likely to churn)", "",
                  "| decile | " + " | ".join(models) + " |", "|---" * (len(models) + 1) + "|"]
        lift = {(r["model"], r["decile"]): r["lift"] for r in decile_lift}
        for d in range(1, 11):
            lines.append(f"| {d} | " + " | ".join(_num(lift.get((m, d)), 2) for m in models) + " |")

    if coefficients:
        lines += ["", "## Coefficients (maximum likelihood; Wald χ² = (b / se)², 1 d.f.)"]
        for model in dict.fromkeys(r["model"] for r in coefficients):
            lines += ["", f"### {model}", "", "| variable | coefficient | std. error | Wald χ² | p-value |",
                      "|---|---|---|---|---|"]
            lines += [f"| `{r['variable']}` | {r['coefficient']:.6g} | {r['std_error']:.4g} "
                      f"| {_num(r['wald_chi2'], 2)} | {_p(r['p_value'])} |"
                      for r in coefficients if r["model"] == model]
    return lines


# ---------------------------------------------------------------------------------------
# the charts: ROC (Fig. 5), cumulative lift (Fig. 6), CV AUC by k (Fig. 4), as PNG files (matplotlib, Agg)


def _by_model(rows: list[dict[str, Any]]) -> dict[str, tuple[list[float], list[float]]]:
    curves: dict[str, tuple[list[float], list[float]]] = {}
    for r in rows:
        xs, ys = curves.setdefault(r["model"], ([], []))
        xs.append(r["x"])
        ys.append(r["y"])
    return curves


def plot_roc(roc_rows: list[dict[str, Any]], path: str | Path,
             aucs: Mapping[str, float] | None = None) -> Path:
    """ROC curves of all models with the diagonal (the paper's Fig. 5), as a PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 5))
    for model, (xs, ys) in _by_model(roc_rows).items():
        label = f"{model} (AUC {aucs[model]:.4f})" if aucs and model in aucs else model
        ax.plot(xs, ys, label=label)
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="random")
    ax.set(xlabel="false positive rate (1 - specificity)", ylabel="true positive rate (sensitivity)",
           xlim=(0, 1), ylim=(0, 1), title="ROC on the test set")
    ax.legend(loc="lower right")
    return save_chart(fig, path)


def plot_lift(lift_rows: list[dict[str, Any]], path: str | Path) -> Path:
    """Cumulative lift curves of all models (the paper's Fig. 6), as a PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5))
    for model, (xs, ys) in _by_model(lift_rows).items():
        ax.plot([100 * x for x in xs], ys, label=model)
    ax.axhline(1.0, color="grey", linestyle="--", linewidth=1, label="random")
    ax.set(xlabel="% of customers targeted (highest churn probability first)", ylabel="cumulative lift",
           xlim=(0, 100), title="Cumulative lift on the test set")
    ax.legend(loc="upper right")
    return save_chart(fig, path)


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
def save_chart(fig: Any, path: str | Path) -> Path:
    """Save a matplotlib figure as a PNG at ``path`` (folders created) and close it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
