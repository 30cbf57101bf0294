"""The unit-level stages: LSI, forward selection, k selection, models, evaluation, scoring.

Each ``run_*_stage(ctx)`` reads its input tables through the lake, calls the library
(:mod:`churn_spark.lsi`, :mod:`churn_spark.modeling.selection`, :mod:`churn_spark.modeling.churn_model`,
:mod:`churn_spark.evaluation.metrics`), writes its output tables and saves its fitted artefacts under
``<model_dir>``; it returns a small summary dict. The analysis units of the paper's main
study are the labelled units with at least one email in their window (``has_emails``).

Fitted artefacts, together the scoring pipeline of :func:`run_score_stage`::

    <model_dir>/text              PipelineModel [EmailCleaner, ChineseSegmenter, TermNormalizer, LogTfIdfModel]
    <model_dir>/lsi               LatentSemanticIndexingModel (k_max concepts, fold-in)
    <model_dir>/encoder           MarketingEncoderModel (candidates -> numeric columns)
    <model_dir>/structured        PipelineModel [VectorAssembler, GLM]
    <model_dir>/structured_text   PipelineModel [ConceptSlicer(k), VectorAssembler, GLM]
    <model_dir>/manifest.json     selected variables, k, window, model version (run id)
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from pyspark.ml.functions import array_to_vector
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

LABEL = "churn"
CONCEPTS = "concepts"
SCORE_COLS = {"structured": "p_structured", "structured_text": "p_structured_text"}
#: The units the SVD is fitted on: labelled training units with emails (a SQL condition on doc_vectors).
LSI_TRAINING_UNITS = "split = 'train' AND has_emails AND churn IS NOT NULL"


# ---------------------------------------------------------------------------------------
# where artefacts live


def model_dir(cfg) -> str:
    """``run.model_dir``, or ``<warehouse>/_models``."""
    return _absolute(cfg.run.model_dir or f"{cfg.run.warehouse.rstrip('/')}/_models")


def report_dir(cfg) -> str:
    """``run.report_dir``, or ``<warehouse>/report`` (DATA_CONTRACT.md: ``DIR/report/``)."""
    return _absolute(cfg.run.report_dir or f"{cfg.run.warehouse.rstrip('/')}/report")


def _absolute(folder: str) -> str:
    return folder if "://" in folder or os.path.isabs(folder) else os.path.abspath(folder)


def artefact_path(cfg, name: str) -> str:
    """Where the fitted artefact ``name`` (text, lsi, encoder, ...) is saved."""
    return f"{model_dir(cfg).rstrip('/')}/{name}"


def _manifest_path(cfg) -> str:
    return artefact_path(cfg, "manifest.json")


def read_manifest(cfg) -> dict[str, Any]:
    with open(_manifest_path(cfg), encoding="utf-8") as fh:
        return json.load(fh)


def _update_manifest(cfg, **entries: Any) -> None:
    path = _manifest_path(cfg)
    data = read_manifest(cfg) if os.path.exists(path) else {}
    data.update(entries)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, sort_keys=True)


# ---------------------------------------------------------------------------------------
# the analysis units


def labelled_units(lake, split: str | None = None, with_emails: bool | None = True,
                   vectors: bool = False) -> DataFrame:
    """Observations of labelled units with their email flag (and split), joined on unit_id; with
    ``vectors``, also their weighted term vector (``vector``, what the LSI model folds in)."""
    flags = lake.read("doc_vectors").select("unit_id", "has_emails", "n_emails", *(["vector"] if vectors else []))
    units = lake.read("observations").join(flags, "unit_id").where(F.col(LABEL).isNotNull())
    if split is not None:
        units = units.where(F.col("split") == split)
    if with_emails is not None:
        units = units.where(F.col("has_emails") == F.lit(with_emails))
    return units


def with_concepts(lake, units: DataFrame, *, as_vector: bool = True) -> DataFrame:
    """``units`` plus the ``concepts`` (k_max fold-in loadings) of each unit: a vector, or with
    ``as_vector=False`` the stored ``array<double>`` (for readers that turn it into numpy blocks:
    converting to a vector and back costs ~25 s per million units).

    The size is read from one stored row and set as the column's ML attribute
    (``num_attrs``, as ``VectorAssembler`` does): finding it from the joined rows would
    evaluate the whole join.
    """
    table = lake.read("unit_concepts")
    first = table.select(F.size(CONCEPTS)).first()
    metadata = {"ml_attr": {"num_attrs": int(first[0])}} if first else {}
    concepts = array_to_vector(CONCEPTS) if as_vector else F.col(CONCEPTS)
    return units.join(table.select("unit_id", concepts.alias(CONCEPTS, metadata=metadata)), "unit_id")


def _encoded(cfg, units: DataFrame) -> DataFrame:
    from churn_spark.modeling.encoding import MarketingEncoderModel
    return MarketingEncoderModel.load(artefact_path(cfg, "encoder")).transform(units)


def selected_variables(lake) -> list[str]:
    """The marketing variables forward selection entered, in entry order."""
    rows = lake.read("feature_selection").orderBy("step").select("variable").collect()
    return [r.variable for r in rows]


def _chosen_k(lake) -> int:
    return int(lake.read("k_selection").where("chosen").select("k").first()[0])


# ---------------------------------------------------------------------------------------
# stages


def run_lsi_stage(ctx) -> dict[str, Any]:
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
    model.write().overwrite().save(artefact_path(cfg, "lsi"))
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


def run_selection_stage(ctx) -> dict[str, Any]:
    """Encode the marketing candidates and run forward selection on the training units."""
    from churn_spark.modeling.encoding import MarketingEncoder, candidate_columns
    from churn_spark.modeling.selection import forward_select

    cfg, lake, sc = ctx.cfg, ctx.lake, ctx.cfg.selection
    exclude = [*sc.exclude_columns, "has_emails", "n_emails"]
    candidates, skipped = candidate_columns(lake.read("observations"), exclude)
    # the encoder's two statistics jobs and the selection's blocks read the join once (all its
    # columns: the encoder keeps its dummy names clear of every column the units have)
    train = labelled_units(lake, "train").persist()
    encoder = MarketingEncoder(inputCols=candidates, minLevelCount=sc.min_level_count,
                               maxLevels=sc.max_levels).fit(train)
    encoder.write().overwrite().save(artefact_path(cfg, "encoder"))
    result = forward_select(encoder.transform(train), encoder.candidateNames(), LABEL, entry_p=sc.entry_p,
                            max_variables=sc.max_variables, max_iter=sc.max_iter, tol=sc.tol,
                            labels=encoder.candidateLabels())
    train.unpersist()
    schema = "step int, variable string, label string, score_chi2 double, p_value double"
    rows = [(r["step"], r["variable"], r.get("label"), r["score_chi2"], r["p_value"]) for r in result.rows()]
    lake.write(ctx.spark.createDataFrame(rows, schema), "feature_selection")
    print(f"selection: {len(result.selected)} of {len(encoder.candidateNames())} candidates entered "
          f"({result.stop_reason})")
    for r in rows:
        print(f"  {r[0]:>2}. {r[2] or r[1]:<55} chi2 {r[3]:9.2f}  p {r[4]:.2e}")
    return {"candidates": len(encoder.candidateNames()), "selected": result.selected,
            "stop_reason": result.stop_reason, "skipped_columns": skipped,
            "skipped_candidates": result.skipped}


def run_kselect_stage(ctx) -> dict[str, Any]:
    """Choose k by 5-fold cross-validated AUC over the k grid (one SVD, sliced per k)."""
    from churn_spark.evaluation.charts import plot_k_selection
    from churn_spark.lsi import LatentSemanticIndexingModel
    from churn_spark.modeling.kselect import select_k

    cfg, lake, lc = ctx.cfg, ctx.lake, ctx.cfg.lsi
    variables = selected_variables(lake)
    if lc.classifier == "newton":
        # the Newton search folds the term vectors in where it builds its numeric blocks: cheaper
        # than moving k_max stored loadings per unit from the JVM
        fold_in = LatentSemanticIndexingModel.load(artefact_path(cfg, "lsi"))
        train, concepts = _encoded(cfg, labelled_units(lake, "train", vectors=True)), fold_in.getInputCol()
    else:  # Spark ML's classifiers read the stored loadings as a vector
        fold_in, concepts = None, CONCEPTS
        train = _encoded(cfg, with_concepts(lake, labelled_units(lake, "train")))
    selection = select_k(train, concepts, variables, LABEL, lc.k_grid, folds=lc.cv_folds, seed=cfg.run.seed,
                         rule=lc.k_rule, classifier=lc.classifier, reg_param=lc.reg_param,
                         max_iter=lc.max_iter, parallelism=lc.cv_parallelism,
                         newton_information_rows=lc.newton_information_rows, fold_in=fold_in)
    lake.write(selection.scores_frame(ctx.spark), "k_selection")
    os.makedirs(report_dir(cfg), exist_ok=True)
    chart = plot_k_selection(selection, os.path.join(report_dir(cfg), "cv_auc_by_k.png"))
    _update_manifest(cfg, k=selection.chosen_k)
    best = max(selection.scores, key=lambda s: s.mean_auc)
    print(f"kselect: k = {selection.chosen_k} ({selection.rule}); best mean CV AUC {best.mean_auc:.4f} "
          f"at k = {best.k}; chart {chart}")
    return {"k": selection.chosen_k, "best_k": selection.best_k, "rule": selection.rule,
            "cv_auc": {s.k: round(s.mean_auc, 4) for s in selection.scores}}


def run_models_stage(ctx) -> dict[str, Any]:
    """Fit the structured and the structured + text model; score the test units."""
    from churn_spark.lsi import LatentSemanticIndexingModel
    from churn_spark.modeling.churn_model import coefficients_frame, fit_churn_models, score

    cfg, lake, mc = ctx.cfg, ctx.lake, ctx.cfg.model
    variables, k = selected_variables(lake), _chosen_k(lake)
    lsi = LatentSemanticIndexingModel.load(artefact_path(cfg, "lsi"))
    # the join is evaluated once, into a cache of just what the fits and the test scores read: the
    # term vectors, which the fits fold in where they build their numeric blocks (cheaper than
    # moving k stored loadings per unit from the JVM) and the test scores through the LSI model
    units = _encoded(cfg, labelled_units(lake, vectors=True))
    units = units.select("unit_id", "customer_id", "split", LABEL, *variables, lsi.getInputCol()).persist()
    train, test = units.where("split = 'train'"), units.where("split = 'test'")
    models = fit_churn_models(train, variables, LABEL, concepts_col=CONCEPTS, k=k, max_iter=mc.max_iter, tol=mc.tol,
                              fold_in=lsi)
    for name, model in models.items():
        model.pipeline_model.write().overwrite().save(artefact_path(cfg, name))
    lake.write(coefficients_frame(ctx.spark, models.values()), "model_coefficients")
    test = lsi.transform(test).withColumnRenamed(lsi.getOutputCol(), CONCEPTS)
    scored = score(test, models).select("unit_id", "customer_id", F.col(LABEL).cast("int").alias(LABEL),
                                        *SCORE_COLS.values())
    lake.write(scored, "test_predictions")
    _update_manifest(cfg, variables=variables, k=k, window_days=cfg.text.window_days,
                     model_version=lake.run_id)
    units.unpersist()
    counts = {name: model.n_iter for name, model in models.items()}
    print(f"models: {len(variables)} variables, k = {k}; Newton iterations {counts}")
    return {"variables": variables, "k": k, "iterations": counts}


def run_evaluate_stage(ctx) -> dict[str, Any]:
    """Test-set AUC with CI, DeLong, lift, curves; the report and summary.json."""
    from churn_spark.evaluation.metrics import evaluate
    from churn_spark.evaluation.report import write_report
    from churn_spark.modeling.kselect import summarize_k

    cfg, lake, ec, spark = ctx.cfg, ctx.lake, ctx.cfg.evaluation, ctx.spark
    predictions = lake.read("test_predictions")
    result = evaluate(predictions, LABEL, SCORE_COLS, curve_points=ec.curve_points, ci_level=ec.ci_level,
                      ci_method=ec.ci_method)
    frames = result.frames(spark)
    for table in ("model_metrics", "roc_curve", "lift_curve", "decile_lift", "delong_test"):
        lake.write(frames[table], table)
    oracle = _oracle_aucs(lake, predictions)
    selection = [r.asDict() for r in lake.read("feature_selection").orderBy("step").collect()]
    k_rows = lake.read("k_selection").collect()
    k = next(r.k for r in k_rows if r.chosen)
    k_selection = summarize_k({r.k: r.fold_aucs for r in k_rows}, cfg.lsi.k_rule)
    n_train = labelled_units(lake, "train").count()
    paths = write_report(
        report_dir(cfg), n_train=n_train, n_test=result.metrics[0]["n"], k=k, selection=selection,
        metrics=result.metrics, delong=result.delong, roc_curve=result.roc_curve, lift_curve=result.lift_curve,
        decile_lift=result.decile_lift,
        coefficients=[r.asDict() for r in lake.read("model_coefficients").collect()],
        k_selection=k_selection, data_sizes=_data_sizes(lake), oracle_auc=oracle)
    return {"metrics": result.metrics, "delong": result.delong, "oracle_auc": oracle,
            "report": str(paths["report"]), "summary": str(paths["summary"])}


def _oracle_aucs(lake, predictions: DataFrame) -> dict[str, float] | None:
    """AUCs of the generator's true probabilities on the same test units (generated data only)."""
    if not lake.exists("truth"):
        return None
    from churn_spark.evaluation.metrics import evaluate
    truth = lake.read("truth").select("unit_id", "p_true", "p_marketing")
    joined = predictions.select("unit_id", LABEL).join(truth, "unit_id")
    result = evaluate(joined, LABEL, {"structured": "p_marketing", "structured_text": "p_true"}, curve_points=10)
    return {m["model"]: m["auc"] for m in result.metrics}


def _data_sizes(lake) -> dict[str, Any]:
    units = lake.read("doc_vectors").groupBy("split").agg(
        F.count(F.lit(1)).alias("units"), F.sum(F.col("has_emails").cast("long")).alias("with_emails"),
        F.sum("n_emails").alias("emails")).collect()
    sizes: dict[str, Any] = {f"units_{r.split}": int(r.units) for r in units}
    sizes.update({f"units_with_emails_{r.split}": int(r.with_emails or 0) for r in units})
    sizes.update({f"emails_in_windows_{r.split}": int(r.emails or 0) for r in units})
    sizes["vocabulary_terms"] = lake.read("vocabulary").where("NOT excluded").count()
    return sizes


def run_score_stage(ctx) -> dict[str, Any]:
    """Score the units without a label with the saved pipeline -> ``churn_scores``."""
    from pyspark.ml import PipelineModel

    from churn_spark.lsi import LatentSemanticIndexingModel
    from churn_spark.modeling.churn_model import PROBABILITY_COL
    from churn_spark.text.aggregate import aggregate_unit_vectors, emails_in_any_window
    from churn_spark.text.pipeline import emails_to_terms

    cfg, lake = ctx.cfg, ctx.lake
    manifest = read_manifest(cfg)
    pending = lake.read("observations").where(F.col(LABEL).isNull())
    emails = emails_in_any_window(lake.read("emails"), pending, manifest["window_days"])  # only these count
    cleaner, segmenter, normalizer, weighting = PipelineModel.load(artefact_path(cfg, "text")).stages
    # emails the text stage already segmented (same fitted stages) are taken from email_terms;
    # only emails that arrived since are cleaned and segmented here
    known = lake.read("email_terms").join(emails.select("email_id"), "email_id", "left_semi")
    new = emails.join(known.select("email_id"), "email_id", "left_anti")
    terms = known.unionByName(emails_to_terms(new, cleaner, segmenter, normalizer).select(*known.columns))
    vectors = aggregate_unit_vectors(terms, pending, manifest["window_days"], vector_col="terms", weighting=weighting)
    lsi = LatentSemanticIndexingModel.load(artefact_path(cfg, "lsi"))
    units = lsi.transform(vectors.select("unit_id", "has_emails", "vector")) \
        .withColumnRenamed(lsi.getOutputCol(), CONCEPTS)
    units = _encoded(cfg, pending.join(units, "unit_id"))
    # the text model for units that wrote, the structured model for those who did not
    scored = None
    for name, emails_flag in (("structured_text", True), ("structured", False)):
        model = PipelineModel.load(artefact_path(cfg, name))
        part = model.transform(units.where(F.col("has_emails") == emails_flag)) \
            .select("unit_id", "customer_id", "has_emails", F.col(PROBABILITY_COL).alias("p_churn"),
                    F.lit(name).alias("model"))
        scored = part if scored is None else scored.unionByName(part)
    scored = scored.persist()  # the ranking reads it several times; the scoring pipeline runs once
    ranked = rank_by_probability(scored, "p_churn").withColumn("model_version", F.lit(manifest["model_version"]))
    lake.write(ranked, "churn_scores")
    scored.unpersist()
    counts = lake.read("churn_scores").groupBy("model").count().collect()
    summary = {r.model: int(r["count"]) for r in counts}
    print(f"score: {sum(summary.values())} units without a label scored {summary}")
    return {"scored": summary, "model_version": manifest["model_version"]}


def rank_by_probability(df: DataFrame, col: str) -> DataFrame:
    """Add ``rank`` (1 = most likely) and ``decile`` (1 = top 10%) by descending ``col``.

    A global sort plus ``zipWithIndex``: distributed, unlike a window without partitions.
    ``df`` is evaluated several times (sort sample, count, index): persist it if it is costly.
    """
    ordered = df.orderBy(F.col(col).desc(), F.col("unit_id"))
    n = ordered.count()
    schema = T.StructType([*ordered.schema.fields, T.StructField("rank", T.LongType(), False)])
    indexed = ordered.rdd.zipWithIndex().map(lambda pair: (*pair[0], pair[1] + 1))
    ranked = df.sparkSession.createDataFrame(indexed, schema)
    return ranked.withColumn("decile", (F.floor((F.col("rank") - 1) * 10 / F.lit(max(n, 1))) + 1).cast("int"))
