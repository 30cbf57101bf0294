"""``evaluate``: the test-set evaluation (Table 4, Figs. 5 and 6), the report and ``summary.json``.

Writes ``model_metrics`` (AUC with its confidence interval, top-decile lift), ``roc_curve``,
``lift_curve``, ``decile_lift`` and ``delong_test``; on generated data also the oracle AUCs of the
generator's true probabilities on the same test units (from ``truth``).
"""

from __future__ import annotations

from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from churn_spark.app.artefacts import report_dir
from churn_spark.app.context import Context
from churn_spark.app.stages import Stage
from churn_spark.app.stages.units import LABEL, SCORE_COLS, labelled_units
from churn_spark.lake.tables import Lake

TABLES = ("model_metrics", "roc_curve", "lift_curve", "decile_lift", "delong_test")


def run(ctx: Context) -> dict[str, Any]:
    """Test-set AUC with CI, DeLong, lift, curves; the report and summary.json."""
    from churn_spark.app.report import write_report
    from churn_spark.evaluation.metrics import evaluate
    from churn_spark.modeling.kselect import summarize_k

    cfg, lake, ec, spark = ctx.cfg, ctx.lake, ctx.cfg.evaluation, ctx.spark
    predictions = lake.read("test_predictions")
    result = evaluate(predictions, LABEL, SCORE_COLS, curve_points=ec.curve_points, ci_level=ec.ci_level,
                      ci_method=ec.ci_method)
    frames = result.frames(spark)
    for table in TABLES:
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


def _oracle_aucs(lake: Lake, predictions: DataFrame) -> dict[str, float] | None:
    """AUCs of the generator's true probabilities on the same test units (generated data only)."""
    if not lake.exists("truth"):
        return None
    from churn_spark.evaluation.auc import auc
    truth = lake.read("truth").select("unit_id", "p_true", "p_marketing")
    joined = predictions.select("unit_id", LABEL).join(truth, "unit_id").persist()
    oracle = {"structured": auc(joined, "p_marketing", LABEL), "structured_text": auc(joined, "p_true", LABEL)}
    joined.unpersist()
    return oracle


def _data_sizes(lake: Lake) -> dict[str, Any]:
    units = lake.read("doc_vectors").groupBy("split").agg(
        F.count(F.lit(1)).alias("units"), F.sum(F.col("has_emails").cast("long")).alias("with_emails"),
        F.sum("n_emails").alias("emails")).collect()
    sizes: dict[str, Any] = {f"units_{r.split}": int(r.units) for r in units}
    sizes.update({f"units_with_emails_{r.split}": int(r.with_emails or 0) for r in units})
    sizes.update({f"emails_in_windows_{r.split}": int(r.emails or 0) for r in units})
    sizes["vocabulary_terms"] = lake.read("vocabulary").where("NOT excluded").count()
    return sizes


STAGE = Stage("evaluate", run,
              inputs=("test_predictions", "feature_selection", "k_selection", "model_coefficients", "observations",
                      "doc_vectors", "vocabulary", "truth"),
              outputs=TABLES, config=("evaluation",),
              help="AUC, DeLong, lift, curves, report and summary.json")
