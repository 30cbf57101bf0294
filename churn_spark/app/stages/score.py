"""``score``: the units without a label, scored with the saved models -> ``churn_scores``.

Each unit gets ``p_churn`` from the structured + text model if it wrote emails in its window,
else from the structured model, and its ``rank`` and ``decile`` among all scored units.
"""

from __future__ import annotations

from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from churn_spark.app.artefacts import artefact_path, read_manifest
from churn_spark.app.context import Context
from churn_spark.app.stages import Stage
from churn_spark.app.stages.units import CONCEPTS, LABEL, encoded


def run(ctx: Context) -> dict[str, Any]:
    """Score the units without a label with the saved artefacts -> ``churn_scores``."""
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
    units = encoded(cfg, pending.join(units, "unit_id"))
    # the text model for units that wrote, the structured model for those who did not
    scored = None
    for name, emails_flag in (("structured_text", True), ("structured", False)):
        model = PipelineModel.load(artefact_path(cfg, name))
        part = model.transform(units.where(F.col("has_emails") == emails_flag)) \
            .select("unit_id", "customer_id", "has_emails", F.col(PROBABILITY_COL).alias("p_churn"),
                    F.lit(name).alias("model"))
        scored = part if scored is None else scored.unionByName(part)
    scored = scored.persist()  # the ranking's sort reads it twice; the scoring pipeline runs once
    ranked = rank_by_probability(scored, "p_churn").withColumn("model_version", F.lit(manifest["model_version"]))
    lake.write(ranked, "churn_scores")
    scored.unpersist()
    counts = lake.read("churn_scores").groupBy("model").count().collect()
    summary = {r.model: int(r["count"]) for r in counts}
    print(f"score: {sum(summary.values())} units without a label scored {summary}")
    return {"scored": summary, "model_version": manifest["model_version"]}


_PARTITION = "_sort_partition"  # rank_by_probability's sort partition id column


def rank_by_probability(df: DataFrame, col: str) -> DataFrame:
    """Add ``rank`` (1 = most likely) and ``decile`` (1 = top 10%) by descending ``col``.

    Distributed, with DataFrame operations only (no RDD, so it runs on Spark Connect too): a global
    sort by ``col`` descending then ``unit_id`` (a total order) range-partitions the rows, so every
    row of sort partition ``p`` comes before every row of ``p + 1``. The sorted rows are pinned
    with their partition id (``localCheckpoint``: a recomputation could cut the ranges elsewhere);
    one small aggregate gives each partition's row count, the driver turns them into offsets and
    ``rank = offset[p] + row_number()`` within partition ``p``, in the same order. The pinned rows
    are released when the returned frame is garbage (it can be written or joined later, as the
    callers do). ``df`` is evaluated twice (the sort's sample and the sort): persist it if it is costly.
    """
    order = [F.col(col).desc(), F.col("unit_id")]
    pinned = df.orderBy(*order).withColumn(_PARTITION, F.spark_partition_id()).localCheckpoint(eager=True)
    offsets, n = {}, 0
    for row in sorted(pinned.groupBy(_PARTITION).count().collect()):
        offsets[row[0]] = n
        n += row[1]
    offset = (F.element_at(F.create_map(*[F.lit(v) for item in offsets.items() for v in item]), F.col(_PARTITION))
              if offsets else F.lit(None))
    position = F.row_number().over(Window.partitionBy(_PARTITION).orderBy(*order))
    rank = (F.coalesce(offset, F.lit(0)).cast("long") + position).cast("long")  # never null, as before
    ranked = pinned.select(*df.columns, rank.alias("rank"))
    return ranked.withColumn("decile", (F.floor((F.col("rank") - 1) * 10 / F.lit(max(n, 1))) + 1).cast("int"))


STAGE = Stage("score", run, inputs=("emails", "observations", "email_terms"), outputs=("churn_scores",),
              config=("model", "text", "run"),
              artefacts=("model_coefficients",),  # the models saved with it (retrained after any upstream change)
              help="score units without a label")
