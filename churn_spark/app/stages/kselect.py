"""``kselect``: the number of concepts k by 5-fold cross-validated AUC over the k grid (the paper's Fig. 4).

One SVD at k_max serves every k (the leading k concepts of it are the rank-k LSI). Writes
``k_selection``, the chart ``<report_dir>/cv_auc_by_k.png`` and k into the manifest.
"""

from __future__ import annotations

import os
from typing import Any

from churn_spark.app.artefacts import artefact_path, report_dir, update_manifest
from churn_spark.app.context import Context
from churn_spark.app.stages import Stage
from churn_spark.app.stages.units import CONCEPTS, LABEL, encoded, labelled_units, selected_variables, with_concepts


def run(ctx: Context) -> dict[str, Any]:
    """Cross-validate the logistic model on the selected variables + the first k concepts, for every k."""
    from churn_spark.app.report import plot_k_selection
    from churn_spark.lsi import LatentSemanticIndexingModel
    from churn_spark.modeling.kselect import select_k

    cfg, lake, lc = ctx.cfg, ctx.lake, ctx.cfg.lsi
    variables = selected_variables(lake)
    if lc.classifier == "newton":
        # the Newton search folds the term vectors in where it builds its numeric blocks: cheaper
        # than moving k_max stored loadings per unit from the JVM
        fold_in = LatentSemanticIndexingModel.load(artefact_path(cfg, "lsi"))
        train, concepts = encoded(cfg, labelled_units(lake, "train", vectors=True)), fold_in.getInputCol()
    else:  # Spark ML's classifiers read the stored loadings as a vector
        fold_in, concepts = None, CONCEPTS
        train = encoded(cfg, with_concepts(lake, labelled_units(lake, "train")))
    selection = select_k(train, concepts, variables, LABEL, lc.k_grid, folds=lc.cv_folds, seed=cfg.run.seed,
                         rule=lc.k_rule, classifier=lc.classifier, reg_param=lc.reg_param,
                         max_iter=lc.max_iter, parallelism=lc.cv_parallelism,
                         newton_information_rows=lc.newton_information_rows, fold_in=fold_in)
    lake.write(selection.scores_frame(ctx.spark), "k_selection")
    os.makedirs(report_dir(cfg), exist_ok=True)
    chart = plot_k_selection(selection, os.path.join(report_dir(cfg), "cv_auc_by_k.png"))
    update_manifest(cfg, k=selection.chosen_k)
    best = max(selection.scores, key=lambda s: s.mean_auc)
    print(f"kselect: k = {selection.chosen_k} ({selection.rule}); best mean CV AUC {best.mean_auc:.4f} "
          f"at k = {best.k}; chart {chart}")
    return {"k": selection.chosen_k, "best_k": selection.best_k, "rule": selection.rule,
            "cv_auc": {s.k: round(s.mean_auc, 4) for s in selection.scores}}


STAGE = Stage("kselect", run, inputs=("observations", "doc_vectors", "unit_concepts", "feature_selection"),
              outputs=("k_selection",), config=("lsi", "selection", "run"),
              help="number of concepts k by 5-fold CV AUC")
