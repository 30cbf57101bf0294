"""The text stage: ``emails`` + ``observations`` -> ``email_terms``, ``vocabulary``, ``doc_vectors``.

:func:`run_text_stage` does, with one pass of Python per email:

1. **clean + segment + normalise** the emails that fall in the window of at least one unit
   of ``observations`` (any split, and units without a label, which the score stage scores)
   in one ``mapInArrow`` (one JVM<->Python crossing; :func:`emails_to_terms`) ->
   ``email_terms`` (no raw text, no PII). The other emails are never used by any unit, so a
   distributed semi-join (:func:`~churn_spark.text.aggregate.emails_in_any_window`, the same
   window rule as step 3) drops them before the Python pass. Nothing is lost silently: two Spark
   ``Observation`` metrics count, in the same job, the emails read and those processed; the
   difference is reported as ``emails_outside_windows``. Masked personal data is counted
   during the same pass -> ``text_masking`` (counts over the processed emails only);
2. **fit** :class:`~churn_spark.text.weighting.LogTfIdf` on the training emails (distinct
   emails in the window of a ``split = 'train'`` unit) -> ``vocabulary``;
3. **weigh** every processed email and **sum** per unit over its window -> ``doc_vectors``;
4. **save** the fitted ``PipelineModel [EmailCleaner, ChineseSegmenter, TermNormalizer,
   LogTfIdfModel]`` under ``<model_dir>/text``: new emails are weighted exactly like the
   training emails (same dictionaries, vocabulary and idf).

The same stages applied with ``PipelineModel.transform`` give the same terms and vectors
(tested). There, too, Spark chains the three pandas UDFs into one Python evaluation when
the intermediate columns are not selected (``bench/bench_text.py`` counts the crossings in
the plan); the stage function uses one explicit ``mapInArrow`` so that the masking counts
come out of the same pass without a struct column between the stages.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np
import pyarrow as pa
from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from churn_spark.app.stages.common import model_dir
from churn_spark.config import Config
from churn_spark.text.aggregate import aggregate_unit_vectors, emails_in_any_window, training_emails
from churn_spark.text.cleaning import PII_TYPES, EmailCleaner
from churn_spark.text.dictionaries import dictionary_version, parse_synonyms, parse_term_list, read_text
from churn_spark.text.normalize import TermNormalizer
from churn_spark.text.segment import ChineseSegmenter
from churn_spark.text.weighting import REASONS, LogTfIdf, LogTfIdfModel

EMAIL_TERMS_COLUMNS = ("email_id", "customer_id", "sent_at")
MASKING_SCHEMA = T.StructType([T.StructField("pii_type", T.StringType(), False),
                               T.StructField("count", T.LongType(), False)])


@dataclass
class TextStages:
    """The text pipeline's stages, built from the configuration (the estimator not yet fitted)."""

    cleaner: EmailCleaner
    segmenter: ChineseSegmenter
    normalizer: TermNormalizer
    weighting: LogTfIdf
    dictionary_version: str


def build_text_stages(cfg: Config) -> TextStages:
    """Read the dictionaries named in ``cfg.text`` (on the driver) and set up the stages."""
    tc = cfg.text
    texts = {}
    for key in ("user_dict", "synonyms", "stopwords", "exclusions"):
        path = cfg.path(f"text.{key}")
        if path and "://" not in path and not os.path.exists(path):
            raise FileNotFoundError(f"text.{key}: dictionary file not found: {path} (set it to '' for none)")
        texts[key] = read_text(path)
    version = dictionary_version(texts)
    cleaner = EmailCleaner(inputCols=["subject", "body"], outputCol="clean_text",
                           toSimplified=tc.to_simplified, stripQuotes=tc.strip_quotes)
    segmenter = ChineseSegmenter(inputCol="clean_text", outputCol="raw_terms",
                                 userDictionary=texts["user_dict"], dictionaryVersion=version,
                                 keepPos=list(tc.keep_pos), dropPos=list(tc.drop_pos), backend=tc.segmenter)
    normalizer = TermNormalizer(inputCol="raw_terms", outputCol="terms",
                                synonyms=parse_synonyms(texts["synonyms"]))
    weighting = LogTfIdf(inputCol="terms", outputCol="vector", minTermCount=tc.min_term_count,
                         maxDocShare=tc.max_doc_share, stopWords=parse_term_list(texts["stopwords"]),
                         excludedTerms=parse_term_list(texts["exclusions"]))
    return TextStages(cleaner, segmenter, normalizer, weighting, version)


def emails_to_terms(emails: DataFrame, cleaner: EmailCleaner, segmenter: ChineseSegmenter,
                    normalizer: TermNormalizer, *, keep: tuple[str, ...] = EMAIL_TERMS_COLUMNS,
                    terms_col: str = "terms", with_mask_counts: bool = False) -> DataFrame:
    """Clean, segment and normalise in ONE ``mapInArrow`` pass: ``keep`` columns + ``terms``.

    With ``with_mask_counts`` one int column ``pii_<type>`` per :data:`PII_TYPES` entry is
    added: how many values of that type were masked in the email.
    """
    clean_batch = cleaner.batch_function()
    segment_batch = segmenter.batch_function(emails.sparkSession)
    normalize_batch = normalizer.batch_function()
    inputs = list(cleaner.getInputCols())
    fields = [emails.schema[c] for c in keep] + [T.StructField(terms_col, T.ArrayType(T.StringType()))]
    if with_mask_counts:
        fields += [T.StructField(f"pii_{kind}", T.IntegerType()) for kind in PII_TYPES]
    keep_list, names = list(keep), [f.name for f in fields]

    def process(batches):
        # Arrow in and out: the kept columns pass through as they came, and the term lists are
        # built flat (one offsets array), not converted row by row from pandas
        for batch in batches:
            texts, counts = clean_batch(*(batch.column(c).to_pandas() for c in inputs))
            columns = [batch.column(c) for c in keep_list] + [string_lists(normalize_batch(segment_batch(texts)))]
            if with_mask_counts:
                per_type = np.array(counts, dtype=np.int32).reshape(len(counts), len(PII_TYPES))
                columns += [pa.array(per_type[:, i]) for i in range(len(PII_TYPES))]
            yield pa.RecordBatch.from_arrays(columns, names=names)

    columns = list(dict.fromkeys(keep_list + inputs))
    return emails.select(*columns).mapInArrow(process, T.StructType(fields))


def string_lists(rows: list[list[str]]) -> pa.ListArray:
    """``rows`` as an Arrow ``list<string>`` array, from one flat array of strings and the offsets."""
    offsets = np.zeros(len(rows) + 1, dtype=np.int32)
    np.cumsum([len(r) for r in rows], out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(list(chain.from_iterable(rows)), pa.string()))


def text_pipeline_model(stages: TextStages, weighting_model: LogTfIdfModel) -> PipelineModel:
    """The saved artefact: cleaner, segmenter, normaliser and the fitted weighting."""
    return PipelineModel([stages.cleaner, stages.segmenter, stages.normalizer, weighting_model])


def _partitions(spark: SparkSession, configured: int) -> int:
    return configured if configured > 0 else 4 * spark.sparkContext.defaultParallelism


def run_text_stage(spark: SparkSession, lake, cfg: Config) -> dict[str, Any]:
    """Read ``emails``/``observations``; write ``email_terms``, ``text_masking``, ``vocabulary``,
    ``doc_vectors``; save the text model. Returns counts (see the module docstring for the steps).
    """
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
    spread = windowed.repartition(_partitions(spark, tc.partitions))
    processed = emails_to_terms(spread, stages.cleaner, stages.segmenter, stages.normalizer,
                                with_mask_counts=True)
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
    path = f"{model_dir(cfg).rstrip('/')}/text"
    text_pipeline_model(stages, weighting_model).write().overwrite().save(path)

    reasons = vocabulary["reason"].value_counts().to_dict()
    return {
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


def run_text_command(ctx) -> dict[str, Any]:
    """CLI adapter (``churn-spark text``): runs the stage and prints its counts."""
    result = run_text_stage(ctx.spark, ctx.lake, ctx.cfg)
    print(f"text: {result['emails']:,} emails segmented ({result['train_emails']:,} training emails; "
          f"{result['emails_outside_windows']:,} outside every unit's window skipped); "
          f"vocabulary {result['vocabulary_size']:,} of {result['terms_seen']:,} terms seen "
          f"(excluded {result['excluded']}); {result['units_with_emails']:,} of {result['units']:,} units "
          f"have emails; masked {result['masked']}")
    return result
