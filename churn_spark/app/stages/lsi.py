"""``lsi``: the SVD of the training units' term vectors (k_max concepts) and the fold-in of every unit.

Writes ``lsi_concepts`` (singular values, explained variance, top terms), ``lsi_terms`` (term
loadings) and ``unit_concepts`` (the k_max loadings of every unit with emails), and saves the
``lsi`` artefact (:class:`~churn_spark.lsi.model.LatentSemanticIndexingModel`).
"""

from __future__ import annotations

import time
from typing import Any

from pyspark.sql import functions as F

from churn_spark.app.artefacts import artefact_path, save_model
from churn_spark.app.context import Context
from churn_spark.app.stages import Stage
from churn_spark.app.stages.units import CONCEPTS, LSI_TRAINING_UNITS


def run(ctx: Context) -> dict[str, Any]:
    """Fit the SVD on the training units with emails; fold every unit with emails in."""
    from churn_spark.lsi import LatentSemanticIndexing, concepts_frame, terms_frame, unit_concepts_frame

    cfg, lake, lc = ctx.cfg, ctx.lake, ctx.cfg.lsi
    vectors = lake.read("doc_vectors")
    train = vectors.where(LSI_TRAINING_UNITS)
    estimator = LatentSemanticIndexing(inputCol="vector", outputCol="concept_vector", k=lc.k_max,
                                       method=lc.method, oversampling=lc.oversampling,
                                       powerIterations=lc.power_iterations, rcond=lc.rcond, seed=cfg.run.seed)
    started = time.perf_counter()
    model = estimator.fit(train)
    svd_seconds = time.perf_counter() - started
    save_model(model, artefact_path(cfg, "lsi"))
    lake.write(concepts_frame(model, lake.read("vocabulary"), lc.top_terms), "lsi_concepts")
    lake.write(terms_frame(model, lc.terms_per_concept, spark=ctx.spark), "lsi_terms")
    # a unit without emails has an empty vector, so all-zero loadings: it gets no row (half the
    # units at scale; every reader of the loadings reads units with emails)
    lake.write(unit_concepts_frame(model, vectors.where(F.col("has_emails")), out_col=CONCEPTS), "unit_concepts")
    explained = model.explainedVariance()
    summary = {"method": model.svdMethod, "k_max": model.numConcepts, "terms": model.numTerms,
               "train_units": model.numUnits, "explained_var_k_max": float(explained.sum()),
               "top_singular_values": [round(float(s), 4) for s in model.singularValues[:5]],
               "svd_seconds": round(svd_seconds, 3)}
    print(f"lsi: {summary['train_units']} training units x {summary['terms']} terms -> "
          f"{summary['k_max']} concepts ({summary['method']}), "
          f"{100 * summary['explained_var_k_max']:.1f}% of the sum of squares")
    return summary


STAGE = Stage("lsi", run, inputs=("doc_vectors", "vocabulary"), outputs=("lsi_concepts", "lsi_terms", "unit_concepts"),
              config=("lsi", "run"), help="SVD of the unit-by-term matrix, fold-in of every unit with emails")
