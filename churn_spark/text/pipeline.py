"""The text pipeline's fitted stages and the one Python pass that turns emails into terms.

* :func:`build_text_stages` — ``EmailCleaner -> ChineseSegmenter -> TermNormalizer`` and the
  ``LogTfIdf`` estimator, from the configuration's dictionaries and thresholds;
* :func:`emails_to_terms` — clean + segment + normalise in one ``mapInArrow`` (one JVM<->Python
  crossing per email), optionally counting the masked personal data in the same pass;
* :func:`text_pipeline_model` — the saved artefact ``PipelineModel [EmailCleaner,
  ChineseSegmenter, TermNormalizer, LogTfIdfModel]``.

The same stages applied with ``PipelineModel.transform`` give the same terms and vectors
(tested). There, too, Spark chains the three pandas UDFs into one Python evaluation when
the intermediate columns are not selected (``bench/text.py`` counts the crossings in the
plan); :func:`emails_to_terms` uses one explicit ``mapInArrow`` so that the masking counts
come out of the same pass without a struct column between the stages. The ``text`` stage
(:mod:`churn_spark.app.stages.text`) runs them over the tables.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from itertools import chain

import numpy as np
import pyarrow as pa
from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame
from pyspark.sql import types as T

from churn_spark.config import Config
from churn_spark.text.cleaning import PII_TYPES, EmailCleaner
from churn_spark.text.dictionaries import dictionary_version, parse_synonyms, parse_term_list, read_text
from churn_spark.text.normalize import TermNormalizer
from churn_spark.text.segment import ChineseSegmenter
from churn_spark.text.weighting import LogTfIdf, LogTfIdfModel

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
    segment_batch = segmenter.batch_function()
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


