"""Vocabulary and log-tf x idf weighting (the paper's steps 5-6, Appendix A).

:class:`LogTfIdf` is fitted on the *training* emails (one row = one email, ``terms``
column). With ``N`` the number of training emails, ``df_i`` the number of them containing
term ``i`` and ``cf_i`` its number of occurrences:

* a term is **excluded** (first matching reason wins) when it is a stopword
  (``stopword``), on the manual exclusion list (``manual``), seen fewer than
  ``minTermCount`` times (``rare``: ``cf_i < minTermCount``) or in more than
  ``maxDocShare`` of the emails (``too_common``: ``df_i / N > maxDocShare``);
* the kept terms get ids ``0..V-1`` ordered by ``df`` descending, then term ascending;
  excluded terms keep a null id;
* ``idf_i = log2(N / df_i) + 1`` (computed for every term, kept or not).

:class:`LogTfIdfModel` turns an email's terms into a sparse vector of size ``V``:
``w_ij = log2(n_ij + 1) * idf_i`` with ``n_ij`` the count of term ``i`` in email ``j``;
terms outside the kept vocabulary are ignored. Spark's ``IDF`` (``ln((N+1)/(df+1))``, no
log tf) is deliberately not used.

The counting is distributed (per-partition counts with Arrow arrays, then one group-by); only the
vocabulary (one row per distinct term) comes to the driver, and the fitted vocabulary travels
to the executors in the closure of :meth:`LogTfIdfModel.transform` (works on Spark Connect;
classic Spark broadcasts a large pickled command itself).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pyspark import keyword_only
from pyspark.ml import Estimator, Model
from pyspark.ml.linalg import SparseVector, VectorUDT
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import HasInputCol, HasOutputCol
from pyspark.ml.util import (
    DefaultParamsReadable,
    DefaultParamsReader,
    DefaultParamsWritable,
    DefaultParamsWriter,
    MLReadable,
    MLReader,
    MLWritable,
    MLWriter,
)
from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

REASONS = ("stopword", "manual", "rare", "too_common")

VOCABULARY_SCHEMA = T.StructType([
    T.StructField("term_id", T.IntegerType(), True),
    T.StructField("term", T.StringType(), False),
    T.StructField("df", T.LongType(), False),
    T.StructField("cf", T.LongType(), False),
    T.StructField("idf", T.DoubleType(), False),
    T.StructField("excluded", T.BooleanType(), False),
    T.StructField("reason", T.StringType(), True),
])


class _LogTfIdfParams(HasInputCol, HasOutputCol):
    minTermCount = Param(Params._dummy(), "minTermCount",
                         "drop terms seen fewer times than this in the training emails",
                         typeConverter=TypeConverters.toInt)
    maxDocShare = Param(Params._dummy(), "maxDocShare",
                        "drop terms found in more than this share of the training emails (1.0 = keep all)",
                        typeConverter=TypeConverters.toFloat)
    stopWords = Param(Params._dummy(), "stopWords", "terms never used",
                      typeConverter=TypeConverters.toListString)
    excludedTerms = Param(Params._dummy(), "excludedTerms", "terms removed by the manual check",
                          typeConverter=TypeConverters.toListString)

    def _set_param_defaults(self) -> None:
        self._setDefault(inputCol="terms", outputCol="vector", minTermCount=3, maxDocShare=1.0,
                         stopWords=[], excludedTerms=[])


class LogTfIdf(Estimator, _LogTfIdfParams, DefaultParamsReadable, DefaultParamsWritable):
    """Estimator: learns the vocabulary and idf from training emails (see the module docstring)."""

    @keyword_only
    def __init__(self, *, inputCol: str | None = None, outputCol: str | None = None,
                 minTermCount: int | None = None, maxDocShare: float | None = None,
                 stopWords: list[str] | None = None, excludedTerms: list[str] | None = None) -> None:
        super().__init__()
        self._set_param_defaults()
        self._set(**self._input_kwargs)

    @keyword_only
    def setParams(self, *, inputCol: str | None = None, outputCol: str | None = None,
                  minTermCount: int | None = None, maxDocShare: float | None = None,
                  stopWords: list[str] | None = None, excludedTerms: list[str] | None = None) -> LogTfIdf:
        return self._set(**self._input_kwargs)

    def _fit(self, dataset: DataFrame) -> LogTfIdfModel:
        stats, n_docs = term_statistics(dataset, self.getInputCol())
        vocabulary = build_vocabulary(
            stats, n_docs, min_term_count=self.getOrDefault("minTermCount"),
            max_doc_share=self.getOrDefault("maxDocShare"), stop_words=self.getOrDefault("stopWords"),
            excluded_terms=self.getOrDefault("excludedTerms"))
        model = LogTfIdfModel(vocabulary, n_docs)
        model._resetUid(self.uid)
        return self._copyValues(model)


def term_statistics(dataset: DataFrame, terms_col: str = "terms") -> tuple[pd.DataFrame, int]:
    """``(DataFrame term, df, cf)`` on the driver and the number of rows, in one pass over ``dataset``.

    Each partition counts its terms with array operations (:func:`_count_terms`); Spark adds
    the partial counts per term. Only one row per distinct term reaches the driver.
    """
    observation = Observation("log_tf_idf_docs")
    terms = F.coalesce(F.col(terms_col), F.array().cast("array<string>"))
    counted = (dataset.select(terms.alias("terms"))
               .observe(observation, F.count(F.lit(1)).alias("n_docs"))
               .mapInArrow(_count_terms, "term string, df long, cf long")
               .groupBy("term").agg(F.sum("df").alias("df"), F.sum("cf").alias("cf")))
    stats = counted.toPandas()
    n_docs = int(observation.get["n_docs"])
    return stats, n_docs


def _count_terms(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """mapInArrow: emails' term lists -> ``(term, df, cf)`` of this partition.

    ``cf``: occurrences of the term; ``df``: emails containing it (distinct (email, term) pairs).
    """
    parts: list[pa.Table] = []
    for batch in batches:
        email_terms = batch.column(0)
        flat, rows = pc.list_flatten(email_terms), pc.list_parent_indices(email_terms)
        present = flat.is_valid()
        encoded = pc.dictionary_encode(flat.filter(present))
        codes = encoded.indices.to_numpy().astype(np.int64)
        n = len(encoded.dictionary)
        if not n:
            continue
        pairs = np.unique(rows.filter(present).to_numpy() * n + codes)
        parts.append(pa.table({"term": encoded.dictionary, "df": np.bincount(pairs % n, minlength=n),
                               "cf": np.bincount(codes, minlength=n)}))
        if len(parts) >= 64:  # bound the memory of a long partition
            parts = [_add_counts(parts)]
    if parts:
        yield from _add_counts(parts).to_batches()


def _add_counts(parts: list[pa.Table]) -> pa.Table:
    summed = pa.concat_tables(parts).group_by("term").aggregate([("df", "sum"), ("cf", "sum")])
    return pa.table({"term": summed["term"], "df": summed["df_sum"], "cf": summed["cf_sum"]})


def build_vocabulary(stats: pd.DataFrame, n_docs: int, *, min_term_count: int, max_doc_share: float,
                     stop_words, excluded_terms) -> pd.DataFrame:
    """The vocabulary table (see :data:`VOCABULARY_SCHEMA`) from per-term ``df``/``cf`` counts."""
    vocab = stats[["term", "df", "cf"]].copy()
    vocab["df"] = vocab["df"].astype("int64")
    vocab["cf"] = vocab["cf"].astype("int64")
    vocab = vocab[vocab["term"].notna() & (vocab["term"] != "")]
    vocab["idf"] = np.log2(n_docs / vocab["df"].to_numpy(dtype=float)) + 1.0 if n_docs else 1.0
    reason = pd.Series([None] * len(vocab), index=vocab.index, dtype=object)
    rules = [
        ("stopword", vocab["term"].isin(set(stop_words))),
        ("manual", vocab["term"].isin(set(excluded_terms))),
        ("rare", vocab["cf"] < min_term_count),
        ("too_common", vocab["df"] > max_doc_share * n_docs),
    ]
    for name, hit in reversed(rules):  # first matching rule wins
        reason[hit] = name
    vocab["reason"] = reason
    vocab["excluded"] = reason.notna()
    kept = vocab[~vocab["excluded"]].sort_values(["df", "term"], ascending=[False, True])
    excluded = vocab[vocab["excluded"]].sort_values(["df", "term"], ascending=[False, True])
    kept = kept.assign(term_id=pd.array(np.arange(len(kept)), dtype="Int32"))
    excluded = excluded.assign(term_id=pd.array([None] * len(excluded), dtype="Int32"))
    out = pd.concat([kept, excluded], ignore_index=True)
    return out[[f.name for f in VOCABULARY_SCHEMA.fields]]


def log_tf_idf_vector(terms, index: dict[str, int], idf: np.ndarray, size: int) -> SparseVector:
    """One email's weights: ``w_i = log2(n_i + 1) * idf_i`` over the kept terms it contains."""
    ids = [index[t] for t in terms if t in index] if terms is not None else []
    if not ids:
        return SparseVector(size, [], [])
    _, unique, weights = log_tf_idf_entries(np.zeros(len(ids), np.int64), np.asarray(ids, np.int64), idf, size)
    return SparseVector(size, unique, weights)


def log_tf_idf_entries(rows: np.ndarray, term_ids: np.ndarray, idf: np.ndarray,
                       size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`log_tf_idf_vector` for many emails at once, on flat occurrence arrays.

    Occurrence ``j`` is kept term ``term_ids[j]`` in email ``rows[j]``. Returns one entry per
    distinct (email, term), sorted by email then term: ``(row, term, w)`` with
    ``w = log2(n + 1) * idf[term]``: the one place of the formula (:func:`log_tf_idf_vector` calls it).
    """
    pairs, counts = np.unique(rows.astype(np.int64) * size + term_ids, return_counts=True)
    terms = pairs % size
    return pairs // size, terms, np.log2(counts + 1.0) * idf[terms]


class LogTfIdfModel(Model, _LogTfIdfParams, MLReadable, MLWritable):
    """Fitted vocabulary + idf; ``transform``: terms -> ``VectorUDT`` of size ``vocabulary_size``.

    The output column carries Spark ML attribute metadata ``{"ml_attr": {"num_attrs": V}}``.
    """

    def __init__(self, vocabulary: pd.DataFrame | None = None, num_docs: int = 0) -> None:
        super().__init__()
        self._set_param_defaults()
        self._vocabulary = (vocabulary if vocabulary is not None
                            else pd.DataFrame({f.name: [] for f in VOCABULARY_SCHEMA.fields}))
        self._num_docs = int(num_docs)

    # -- the fitted state ---------------------------------------------------------------
    @property
    def num_docs(self) -> int:
        """N: the number of training emails."""
        return self._num_docs

    @property
    def vocabulary_size(self) -> int:
        """V: the number of kept terms (the vector size)."""
        return int((~self._vocabulary["excluded"].astype(bool)).sum())

    @property
    def vocabulary(self) -> pd.DataFrame:
        """Every term seen in training: term_id, term, df, cf, idf, excluded, reason."""
        return self._vocabulary.copy()

    def kept_terms(self) -> tuple[list[str], np.ndarray]:
        """Kept terms in id order and their idf."""
        kept = self._vocabulary[~self._vocabulary["excluded"].astype(bool)].sort_values("term_id")
        return kept["term"].tolist(), kept["idf"].to_numpy(dtype=float)

    def vocabulary_frame(self, spark: SparkSession) -> DataFrame:
        """The vocabulary as a Spark DataFrame (:data:`VOCABULARY_SCHEMA`)."""
        return spark.createDataFrame(self._vocabulary.astype({"term_id": "Int32"}), VOCABULARY_SCHEMA)

    def vectorizer(self) -> Callable[[Sequence[str] | None], SparseVector]:
        """``terms -> SparseVector`` of one email's weights (:func:`log_tf_idf_vector`), for use on the
        executors: the term index and idf are built once here and travel in the closure (works on
        Spark Connect; classic Spark broadcasts a large pickled command itself)."""
        terms, idf = self.kept_terms()
        size = len(terms)
        index = {t: i for i, t in enumerate(terms)}

        def vectorize(email_terms) -> SparseVector:
            return log_tf_idf_vector(email_terms, index, idf, size)

        return vectorize

    # -- transform ----------------------------------------------------------------------
    def _transform(self, dataset: DataFrame) -> DataFrame:
        # mapInPandas, not a scalar pandas UDF: Spark 4.2 fails on a scalar pandas UDF that
        # returns a VectorUDT over a columnar (Parquet) input ("UNSUPPORTED_DATATYPE UDT", in
        # ColumnarArrowEvalPythonEvaluatorFactory); mapInPandas has no such path.
        vectorize = self.vectorizer()
        source, out = self.getInputCol(), self.getOutputCol()
        kept = [f for f in dataset.schema.fields if f.name != out]
        vector_field = T.StructField(out, VectorUDT(), True, {"ml_attr": {"num_attrs": self.vocabulary_size}})
        schema = T.StructType([*kept, vector_field])

        def weigh(batches):
            for pdf in batches:
                pdf[out] = [vectorize(r) for r in pdf[source]]
                yield pdf

        return dataset.select(*[f.name for f in kept]).mapInPandas(weigh, schema)

    # -- persistence --------------------------------------------------------------------
    def write(self) -> MLWriter:
        return _LogTfIdfModelWriter(self)

    @classmethod
    def read(cls) -> MLReader:
        return _LogTfIdfModelReader(cls)


class _LogTfIdfModelWriter(MLWriter):
    """``<path>/metadata`` (params, N, V) and ``<path>/data`` (the vocabulary, Parquet)."""

    def __init__(self, instance: LogTfIdfModel):
        super().__init__()
        self.instance = instance

    def saveImpl(self, path: str) -> None:
        DefaultParamsWriter.saveMetadata(self.instance, path, self.sparkSession, extraMetadata={
            "numDocs": self.instance.num_docs, "vocabularySize": self.instance.vocabulary_size})
        (self.instance.vocabulary_frame(self.sparkSession).coalesce(1)
         .write.mode("overwrite").parquet(os.path.join(path, "data")))


class _LogTfIdfModelReader(MLReader):
    def __init__(self, cls):
        super().__init__()
        self.cls = cls

    def load(self, path: str) -> LogTfIdfModel:
        metadata = DefaultParamsReader.loadMetadata(path, self.sparkSession)
        data = os.path.join(path, "data")
        vocab = self.sparkSession.read.schema(VOCABULARY_SCHEMA).parquet(data).toPandas()
        vocab["term_id"] = vocab["term_id"].astype("Int32")
        vocab["excluded"] = vocab["excluded"].astype(bool)
        vocab = vocab.sort_values(["excluded", "term_id", "df", "term"], ascending=[True, True, False, True],
                                  na_position="last").reset_index(drop=True)
        model = LogTfIdfModel(vocab, metadata["numDocs"])
        model._resetUid(metadata["uid"])
        DefaultParamsReader.getAndSetParams(model, metadata)
        return model


def idf_of(n_docs: int, df: int) -> float:
    """``log2(N / df) + 1`` (Appendix A) for one term."""
    return math.log2(n_docs / df) + 1.0

