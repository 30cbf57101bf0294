"""``models``: the structured and the structured + text logistic regressions (the paper's Table 4 models).

Fits both on the training units with emails, writes ``model_coefficients`` and the test units'
probabilities ``test_predictions``, saves the ``structured`` and ``structured_text`` artefacts and
the selected variables, k and model version into the manifest.
"""

from __future__ import annotations

from typing import Any

from pyspark.sql import functions as F

from churn_spark.app.artefacts import artefact_path, save_model, update_manifest
from churn_spark.app.context import Context
from churn_spark.app.stages import Stage
from churn_spark.app.stages.units import (
    CONCEPTS,
    LABEL,
    SCORE_COLS,
    chosen_k,
    encoded,
    labelled_units,
    selected_variables,
)


def run(ctx: Context) -> dict[str, Any]:
    """Fit the structured and the structured + text model; score the test units."""
    from churn_spark.lsi import LatentSemanticIndexingModel
    from churn_spark.modeling.churn_model import coefficients_frame, fit_churn_models, score

    cfg, lake, mc = ctx.cfg, ctx.lake, ctx.cfg.model
    variables, k = selected_variables(lake), chosen_k(lake)
    lsi = LatentSemanticIndexingModel.load(artefact_path(cfg, "lsi"))
    # the join is evaluated once, into a cache of just what the fits and the test scores read: the
    # term vectors, which the fits fold in where they build their numeric blocks (cheaper than
    # moving k stored loadings per unit from the JVM) and the test scores through the LSI model
    units = encoded(cfg, labelled_units(lake, vectors=True))
    units = units.select("unit_id", "customer_id", "split", LABEL, *variables, lsi.getInputCol()).persist()
    train, test = units.where("split = 'train'"), units.where("split = 'test'")
    models = fit_churn_models(train, variables, LABEL, concepts_col=CONCEPTS, k=k, max_iter=mc.max_iter, tol=mc.tol,
                              fold_in=lsi)
    for name, model in models.items():
        save_model(model.pipeline_model, artefact_path(cfg, name))
    lake.write(coefficients_frame(ctx.spark, models.values()), "model_coefficients")
    test = lsi.transform(test).withColumnRenamed(lsi.getOutputCol(), CONCEPTS)
    scored = score(test, models).select("unit_id", "customer_id", F.col(LABEL).cast("int").alias(LABEL),
                                        *SCORE_COLS.values())
    lake.write(scored, "test_predictions")
    update_manifest(cfg, variables=variables, k=k, window_days=cfg.text.window_days, model_version=lake.run_id)
    units.unpersist()
    counts = {name: model.n_iter for name, model in models.items()}
    print(f"models: {len(variables)} variables, k = {k}; Newton iterations {counts}")
    return {"variables": variables, "k": k, "iterations": counts}


STAGE = Stage("models", run, inputs=("observations", "doc_vectors", "feature_selection", "k_selection"),
              outputs=("model_coefficients", "test_predictions"), config=("model", "selection", "run"),
              artefacts=("unit_concepts",),  # the lsi model is saved with it
              help="fit the structured and structured + text models")
