"""``text``: ``emails`` + ``observations`` -> ``email_terms``, ``text_masking``, ``vocabulary``, ``doc_vectors``.

With one pass of Python per email:

1. **clean + segment + normalise** the emails that fall in the window of at least one unit
   of ``observations`` (any split, and units without a label, which the score stage scores)
   in one ``mapInArrow`` (:func:`churn_spark.text.pipeline.emails_to_terms`) -> ``email_terms``
   (no raw text, no PII). The other emails are never used by any unit, so a distributed
   semi-join (:func:`~churn_spark.text.aggregate.emails_in_any_window`, the same window rule as
   step 3) drops them before the Python pass. Nothing is lost silently: two Spark
   ``Observation`` metrics count, in the same job, the emails read and those processed; the
   difference is reported as ``emails_outside_windows``. Masked personal data is counted
   during the same pass -> ``text_masking`` (counts over the processed emails only);
2. **fit** :class:`~churn_spark.text.weighting.LogTfIdf` on the training emails (distinct
   emails in the window of a ``split = 'train'`` unit) -> ``vocabulary``;
3. **weigh** every processed email and **sum** per unit over its window -> ``doc_vectors``;
4. **save** the fitted ``PipelineModel [EmailCleaner, ChineseSegmenter, TermNormalizer,
   LogTfIdfModel]`` as the ``text`` artefact: new emails are weighted exactly like the
   training emails (same dictionaries, vocabulary and idf).
"""

from __future__ import annotations

import time
from typing import Any

from pyspark.sql import Observation
from pyspark.sql import functions as F

from churn_spark.app.artefacts import artefact_path, save_model
from churn_spark.app.context import Context
from churn_spark.app.stages import Stage
from churn_spark.session import default_parallelism


def run(ctx: Context) -> dict[str, Any]:
    """Steps 1-4 above; returns counts and the seconds of steps 1-3 (the benchmark reads them)."""
    from churn_spark.text.aggregate import aggregate_unit_vectors, emails_in_any_window, training_emails
    from churn_spark.text.cleaning import PII_TYPES
    from churn_spark.text.pipeline import (
        EMAIL_TERMS_COLUMNS,
        MASKING_SCHEMA,
        build_text_stages,
        emails_to_terms,
        text_pipeline_model,
    )
    from churn_spark.text.weighting import REASONS

    spark, lake, cfg = ctx.spark, ctx.lake, ctx.cfg
    tc = cfg.text
    started = time.perf_counter()
    stages = build_text_stages(cfg)
    emails = lake.read("emails")
    observations = lake.read("observations")
    missing = {"unit_id", "customer_id", "cutoff_date", "split"} - set(observations.columns)
    if missing:
        raise ValueError(f"observations lacks columns {sorted(missing)}")

    # 1. one Python pass per email in some unit's window; masked PII is counted while email_terms is written
    read = Observation("emails_read")
    windowed = emails_in_any_window(emails.observe(read, F.count(F.lit(1)).alias("emails")), observations,
                                    tc.window_days)
    partitions = tc.partitions if tc.partitions > 0 else 4 * default_parallelism(spark)
    processed = emails_to_terms(windowed.repartition(partitions), stages.cleaner, stages.segmenter,
                                stages.normalizer, with_mask_counts=True)
    masking = Observation("text_masking")
    processed = processed.observe(masking, F.count(F.lit(1)).alias("emails"),
                                  *[F.sum(f"pii_{k}").alias(k) for k in PII_TYPES])
    lake.write(processed.select(*EMAIL_TERMS_COLUMNS, "terms"), "email_terms")
    metrics = masking.get
    outside_windows = int(read.get["emails"]) - int(metrics["emails"])
    masked = {kind: int(metrics[kind] or 0) for kind in PII_TYPES}
    lake.write(spark.createDataFrame(list(masked.items()), MASKING_SCHEMA), "text_masking")
    seconds = {"clean_segment": time.perf_counter() - started}

    # 2. vocabulary and idf from the training emails
    email_terms = lake.read("email_terms")
    weighting_model = stages.weighting.fit(training_emails(email_terms, observations, tc.window_days))
    vocabulary = weighting_model.vocabulary
    lake.write(weighting_model.vocabulary_frame(spark), "vocabulary")
    seconds["vocabulary"] = time.perf_counter() - started - sum(seconds.values())

    # 3. weigh every email, sum per unit over its window
    doc_vectors = aggregate_unit_vectors(email_terms, observations, tc.window_days, vector_col="terms",
                                         weighting=weighting_model)
    lake.write(doc_vectors, "doc_vectors")
    units = lake.read("doc_vectors").agg(
        F.count(F.lit(1)).alias("units"), F.sum(F.col("has_emails").cast("long")).alias("with_emails"),
        F.sum("n_emails").alias("unit_emails")).first()
    seconds["weigh_aggregate"] = time.perf_counter() - started - sum(seconds.values())

    # 4. the fitted text model
    path = artefact_path(cfg, "text")
    save_model(text_pipeline_model(stages, weighting_model), path)

    reasons = vocabulary["reason"].value_counts().to_dict()
    result = {
        "emails": int(metrics["emails"]),  # processed (= rows of email_terms)
        "emails_outside_windows": outside_windows,  # read but in no unit's window: not processed
        "train_emails": weighting_model.num_docs,
        "terms_seen": len(vocabulary),
        "vocabulary_size": weighting_model.vocabulary_size,
        "excluded": {reason: int(reasons.get(reason, 0)) for reason in REASONS},
        "units": int(units["units"]),
        "units_with_emails": int(units["with_emails"] or 0),
        "unit_emails": int(units["unit_emails"] or 0),
        "masked": masked,
        "dictionary_version": stages.dictionary_version,
        "model_path": path,
        "seconds": {name: round(value, 3) for name, value in seconds.items()},  # steps 1, 2, 3 (bench)
    }
    print(f"text: {result['emails']:,} emails segmented ({result['train_emails']:,} training emails; "
          f"{result['emails_outside_windows']:,} outside every unit's window skipped); "
          f"vocabulary {result['vocabulary_size']:,} of {result['terms_seen']:,} terms seen "
          f"(excluded {result['excluded']}); {result['units_with_emails']:,} of {result['units']:,} units "
          f"have emails; masked {result['masked']}")
    return result


STAGE = Stage("text", run, inputs=("emails", "observations"),
              outputs=("email_terms", "text_masking", "vocabulary", "doc_vectors"), config=("text",),
              help="clean, segment, weight and sum the emails per unit")
