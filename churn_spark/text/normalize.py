"""Dictionary stemming and spelling correction (the paper's steps 1 and 4).

:class:`TermNormalizer` replaces every term that ``synonyms.txt`` lists as a variant,
misspelling or synonym by its canonical term: ``terms'_k = synonyms.get(terms_k, terms_k)``.
Chains are resolved when the dictionary is read (``a->b, b->c`` maps ``a`` to ``c``). The
mapping is a Param, so a saved pipeline normalises new emails with the same dictionary.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pandas as pd
from pyspark import keyword_only
from pyspark.ml import Transformer
from pyspark.ml.param import Param, Params
from pyspark.ml.param.shared import HasInputCol, HasOutputCol
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T


def _to_mapping(value) -> dict[str, str]:
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    raise TypeError(f"synonyms must be a mapping variant -> canonical, got {type(value).__name__}")


def normalize_terms(terms: Iterable[str], synonyms: Mapping[str, str]) -> list[str]:
    """Each term replaced by its canonical form (terms without an entry are kept as they are)."""
    return [synonyms.get(t, t) for t in terms]


class TermNormalizer(Transformer, HasInputCol, HasOutputCol, DefaultParamsReadable, DefaultParamsWritable):
    """Transformer: ``array<string>`` -> ``array<string>`` with variants mapped to canonical terms."""

    synonyms = Param(Params._dummy(), "synonyms", "mapping variant -> canonical term",
                     typeConverter=_to_mapping)

    @keyword_only
    def __init__(self, *, inputCol: str | None = None, outputCol: str | None = None,
                 synonyms: dict[str, str] | None = None) -> None:
        super().__init__()
        self._setDefault(inputCol="raw_terms", outputCol="terms", synonyms={})
        self._set(**self._input_kwargs)

    @keyword_only
    def setParams(self, *, inputCol: str | None = None, outputCol: str | None = None,
                  synonyms: dict[str, str] | None = None) -> TermNormalizer:
        return self._set(**self._input_kwargs)

    def batch_function(self):
        """A picklable ``f(list of term lists) -> list of term lists``."""
        synonyms = dict(self.getOrDefault("synonyms"))

        def normalize_batch(rows) -> list[list[str]]:
            # most emails contain no variant: one set test (C speed) instead of a lookup per term
            return [[] if r is None else list(r) if synonyms.keys().isdisjoint(r) else normalize_terms(r, synonyms)
                    for r in rows]

        return normalize_batch

    def _transform(self, dataset: DataFrame) -> DataFrame:
        normalize_batch = self.batch_function()

        @F.pandas_udf(T.ArrayType(T.StringType()))
        def normalize(rows: pd.Series) -> pd.Series:
            return pd.Series(normalize_batch(rows))

        return dataset.withColumn(self.getOutputCol(), normalize(F.col(self.getInputCol())))
