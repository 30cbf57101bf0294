"""The charts of the report, as PNG files: ROC (Fig. 5), cumulative lift (Fig. 6), CV AUC by k (Fig. 4).

Each takes the rows or result objects the evaluation and the k search produce and draws with
matplotlib's Agg backend (no display needed).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from churn_spark.modeling.kselect import KSelection


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
