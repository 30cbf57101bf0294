"""Marketing variables -> numeric candidate columns for forward selection and the models.

The observations table carries the Appendix C marketing variables as numeric, boolean or
string columns. Logistic regression needs numbers without gaps, so this Spark ML
estimator learns, on the training units only,

* for a numeric or boolean column ``x``: the training median ``m`` (nulls are imputed
  with it, ``x' = x if x is not null else m``) and, when ``x`` had nulls in training,
  an indicator candidate ``x_missing = 1[x is null]``;
* for a string column ``c``: its levels seen at least ``min_level_count`` times (at most
  ``max_levels``, most frequent first). The most frequent level is the reference and gets
  no column; every other kept level ``v`` becomes a 0/1 dummy ``c_is_v = 1[c == v]``.
  Rare levels, and levels never seen in training, get all zeros (they fall into the
  reference group). A null string is a level of its own (``c_is_missing``).

Each numeric column and each dummy is a candidate of its own, as in the paper's Table 3
("edition is X1", "newspaper picked up at a shop"). Candidate names are safe SQL
identifiers (``[A-Za-z0-9_]``, not starting with a digit); :meth:`candidateLabels` keeps
the readable description (``edition = X1``) for reports.

The fitted model stores everything it learned in one JSON ``Param``, so it is saved and
loaded with Spark ML's default params writer/reader, alone or inside a ``PipelineModel``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from pyspark import keyword_only
from pyspark.ml import Estimator, Model
from pyspark.ml.functions import array_to_vector
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import HasInputCols, HasOutputCol
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

#: Spark types read as numbers (booleans become 0/1).
NUMERIC_TYPES = (T.ByteType, T.ShortType, T.IntegerType, T.LongType, T.FloatType, T.DoubleType,
                 T.DecimalType, T.BooleanType)

_MISSING_LEVEL = "missing"


def sanitize_name(name: str) -> str:
    """``name`` reduced to ``[A-Za-z0-9_]``, runs of other characters -> one ``_``.

    Returns ``""`` when nothing ASCII is left (e.g. a purely Chinese level); callers pick a
    fallback. A leading digit gets a ``v_`` prefix so the result is a valid SQL identifier.
    """
    cleaned = re.sub(r"[^0-9A-Za-z_]+", "_", name).strip("_")
    cleaned = re.sub(r"_+", "_", cleaned)
    if cleaned and cleaned[0].isdigit():
        cleaned = f"v_{cleaned}"
    return cleaned


def candidate_columns(df: DataFrame, exclude: Iterable[str] = ()) -> tuple[list[str], dict[str, str]]:
    """Columns of ``df`` usable as marketing candidates, and the others with the reason.

    Numeric, boolean and string columns not in ``exclude`` are candidates; dates,
    timestamps, arrays, vectors etc. are skipped (``{column: reason}``).
    """
    excluded = set(exclude)
    chosen: list[str] = []
    skipped: dict[str, str] = {}
    for field in df.schema.fields:
        if field.name in excluded:
            continue
        if isinstance(field.dataType, NUMERIC_TYPES + (T.StringType,)):
            chosen.append(field.name)
        else:
            skipped[field.name] = f"type {field.dataType.simpleString()} is not numeric, boolean or string"
    return chosen, skipped


class _EncoderParams(HasInputCols, HasOutputCol):
    minLevelCount: Param[int] = Param(
        Params._dummy(), "minLevelCount",
        "a string level needs at least this many training rows to get a dummy column",
        typeConverter=TypeConverters.toInt)
    maxLevels: Param[int] = Param(
        Params._dummy(), "maxLevels",
        "at most this many levels per string column (the reference included), most frequent first",
        typeConverter=TypeConverters.toInt)
    medianAccuracy: Param[int] = Param(
        Params._dummy(), "medianAccuracy",
        "accuracy of percentile_approx for the training medians (rank error <= n / accuracy; Spark's default "
        "10000; an exact median would hold every distinct value in memory)",
        typeConverter=TypeConverters.toInt)

    def __init__(self) -> None:
        super().__init__()
        self._setDefault(minLevelCount=10, maxLevels=20, medianAccuracy=10000, outputCol="")


class MarketingEncoder(Estimator["MarketingEncoderModel"], _EncoderParams,
                       DefaultParamsReadable["MarketingEncoder"], DefaultParamsWritable):
    """Learns medians and category levels of the marketing columns on the training rows.

    ``outputCol`` (optional, default ``""`` = none): also assemble all candidates into one
    dense vector column.
    """

    @keyword_only
    def __init__(self, *, inputCols: list[str] | None = None, outputCol: str = "",
                 minLevelCount: int = 10, maxLevels: int = 20, medianAccuracy: int = 10000) -> None:
        super().__init__()
        self._set(**self._input_kwargs)

    @keyword_only
    def setParams(self, *, inputCols: list[str] | None = None, outputCol: str = "",
                  minLevelCount: int = 10, maxLevels: int = 20,
                  medianAccuracy: int = 10000) -> MarketingEncoder:
        return self._set(**self._input_kwargs)

    def _fit(self, dataset: DataFrame) -> MarketingEncoderModel:
        input_cols = list(self.getInputCols())
        types = {f.name: f.dataType for f in dataset.schema.fields}
        missing = [c for c in input_cols if c not in types]
        if missing:
            raise ValueError(f"MarketingEncoder: input columns not in the data: {missing}")
        numeric = [c for c in input_cols if isinstance(types[c], NUMERIC_TYPES)]
        strings = [c for c in input_cols if isinstance(types[c], T.StringType)]
        others = [c for c in input_cols if c not in numeric and c not in strings]
        if others:
            raise ValueError(f"MarketingEncoder: columns must be numeric, boolean or string: {others}")

        medians, null_counts = self._numeric_stats(dataset, numeric)
        levels = self._level_counts(dataset, strings)

        # names already used by columns that stay in the output (all but numeric sources)
        taken = {c for c in types if c not in numeric}
        columns: list[dict[str, Any]] = []
        for source in input_cols:
            if source in numeric:
                name = _unique(sanitize_name(source) or "x", taken)
                spec: dict[str, Any] = {"source": source, "kind": "numeric", "name": name,
                                        "median": medians[source], "missing_name": None}
                if null_counts[source] > 0:
                    spec["missing_name"] = _unique(f"{name}_missing", taken)
                columns.append(spec)
            else:
                columns.append(self._categorical_spec(source, levels.get(source, []), taken))
        model = MarketingEncoderModel(encoding=json.dumps({"columns": columns}, ensure_ascii=False))
        return self._copyValues(model)

    def _numeric_stats(self, dataset: DataFrame, numeric: list[str]) -> tuple[dict, dict]:
        """Training median and null count of every numeric column, in one Spark job."""
        if not numeric:
            return {}, {}
        exprs = []
        accuracy = self.getOrDefault(self.medianAccuracy)
        for i, c in enumerate(numeric):
            exprs.append(F.percentile_approx(F.col(c).cast("double"), 0.5, accuracy).alias(f"m{i}"))
            exprs.append(F.sum(F.col(c).isNull().cast("long")).alias(f"n{i}"))
        row = dataset.agg(*exprs).first()
        medians = {c: float(row[f"m{i}"]) if row[f"m{i}"] is not None else 0.0 for i, c in enumerate(numeric)}
        nulls = {c: int(row[f"n{i}"] or 0) for i, c in enumerate(numeric)}
        return medians, nulls

    def _level_counts(self, dataset: DataFrame, strings: list[str]) -> dict[str, list[tuple[Any, int]]]:
        """Frequent levels per string column (count >= minLevelCount), in one Spark job.

        Only levels above the count threshold reach the driver, so an ID-like column with
        millions of distinct values costs nothing there.
        """
        if not strings:
            return {}
        pairs = F.explode(F.array(*[
            F.struct(F.lit(i).alias("col"), F.col(c).alias("value")) for i, c in enumerate(strings)]))
        counts = (dataset.select(pairs.alias("p")).select("p.col", "p.value")
                  .groupBy("col", "value").count()
                  .where(F.col("count") >= self.getOrDefault(self.minLevelCount)))
        per_column: dict[str, list[tuple[Any, int]]] = {c: [] for c in strings}
        for row in counts.collect():
            per_column[strings[row["col"]]].append((row["value"], int(row["count"])))
        max_levels = self.getOrDefault(self.maxLevels)
        for c, found in per_column.items():
            # most frequent first; ties by value so that the encoding is deterministic
            found.sort(key=lambda lv: (-lv[1], "" if lv[0] is None else lv[0]))
            per_column[c] = found[:max_levels]
        return per_column

    @staticmethod
    def _categorical_spec(source: str, levels: list[tuple[str | None, int]], taken: set[str]) -> dict:
        base = sanitize_name(source) or "c"
        dummies = []
        for rank, (value, count) in enumerate(levels[1:], start=1):
            part = _MISSING_LEVEL if value is None else (sanitize_name(value) or f"level{rank}")
            dummies.append({"value": value, "count": count, "name": _unique(f"{base}_is_{part}", taken)})
        return {"source": source, "kind": "categorical",
                "reference": levels[0][0] if levels else None,
                "reference_count": levels[0][1] if levels else 0,
                "levels": dummies}


def _unique(name: str, taken: set[str]) -> str:
    """``name``, or ``name_2``, ``name_3``... whichever is free; the result is added to ``taken``."""
    candidate, i = name, 1
    while candidate in taken:
        i += 1
        candidate = f"{name}_{i}"
    taken.add(candidate)
    return candidate


class MarketingEncoderModel(Model, _EncoderParams, DefaultParamsReadable["MarketingEncoderModel"],
                            DefaultParamsWritable):
    """Applies the learned imputation and dummy coding; adds one double column per candidate."""

    encoding: Param[str] = Param(Params._dummy(), "encoding",
                                 "learned encoding (medians, levels, output names) as JSON",
                                 typeConverter=TypeConverters.toString)

    @keyword_only
    def __init__(self, *, encoding: str = '{"columns": []}') -> None:
        super().__init__()
        self._set(**self._input_kwargs)

    def _columns(self) -> list[dict[str, Any]]:
        return json.loads(self.getOrDefault(self.encoding))["columns"]

    def candidateNames(self) -> list[str]:
        """Output candidate column names, in input-column order."""
        names: list[str] = []
        for spec in self._columns():
            if spec["kind"] == "numeric":
                names.append(spec["name"])
                if spec["missing_name"]:
                    names.append(spec["missing_name"])
            else:
                names.extend(d["name"] for d in spec["levels"])
        return names

    def candidateLabels(self) -> dict[str, str]:
        """Readable description of each candidate, e.g. ``{"edition_is_X1": "edition = X1"}``."""
        labels: dict[str, str] = {}
        for spec in self._columns():
            if spec["kind"] == "numeric":
                labels[spec["name"]] = spec["source"]
                if spec["missing_name"]:
                    labels[spec["missing_name"]] = f"{spec['source']} is missing"
            else:
                for d in spec["levels"]:
                    shown = "(missing)" if d["value"] is None else d["value"]
                    labels[d["name"]] = f"{spec['source']} = {shown}"
        return labels

    def encodingSummary(self) -> list[dict[str, Any]]:
        """The learned encoding per input column (medians, reference levels, dummies)."""
        return self._columns()

    def _transform(self, dataset: DataFrame) -> DataFrame:
        outputs: dict[str, Column] = {}
        for spec in self._columns():
            source = F.col(spec["source"])
            if spec["kind"] == "numeric":
                outputs[spec["name"]] = F.coalesce(source.cast("double"), F.lit(float(spec["median"])))
                if spec["missing_name"]:
                    outputs[spec["missing_name"]] = source.isNull().cast("double")
            else:
                for d in spec["levels"]:
                    if d["value"] is None:
                        hit = source.isNull()
                    else:
                        hit = F.coalesce(source == d["value"], F.lit(False))
                    outputs[d["name"]] = hit.cast("double")
        out_col = self.getOrDefault(self.outputCol)
        result = dataset.withColumns(outputs) if outputs else dataset
        if out_col:
            names = self.candidateNames()
            result = result.withColumn(out_col, array_to_vector(F.array(*[F.col(n) for n in names])))
        return result
