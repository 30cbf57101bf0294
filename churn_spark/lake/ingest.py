"""Bring your own data: two input files -> the ``emails``, ``observations`` and ``quarantine`` tables.

:func:`ingest` reads the two inputs of the data contract (``docs/data_contract.md``) (Parquet, CSV with a
header row, JSON Lines or a Delta table; the format is detected from the path or given),
checks every row against the contract and writes through the lake (overwrite, so a re-run
replaces and never duplicates):

* ``emails``       ``(email_id, customer_id, sent_at, subject, body)`` -- the generator's schema;
* ``observations`` ``(unit_id, customer_id, cutoff_date, window_start, churn, split, <marketing
  variables>)`` -- every other input column is a marketing variable, renamed to
  lower_snake_case and kept with its type (CSV / JSON text is typed here: boolean, long,
  double or string, whichever every non-blank value of the column fits, in that order);
* ``quarantine``   ``(source, row_id, reason, record, run_id, ingested_at)`` -- one row per
  rejected input row, with the raw record as a JSON string.

A row gets the *first* reason of :data:`EMAIL_REASONS` / :data:`OBSERVATION_REASONS` that it
meets. Duplicates: among the rows that pass every earlier rule, one row per id is kept (emails:
earliest ``sent_at``, then the smallest hash of the content; observations: the smallest
normalised record), the others get ``duplicate email_id`` / ``duplicate unit_id``. An email
is of an ``unknown customer`` when its ``customer_id`` is in no kept observation.

Labelled units without a split get a seeded pseudo-random one, fixed by the unit id:

    u(unit) = pmod(xxhash64(run.seed, unit_id), 10^9) / 10^9  ~  Uniform[0, 1)
    split   = 'test' if u < run.test_share else 'train'

and unlabelled units (``churn`` null) get ``'score'``.

Nothing is dropped silently: every step after reading keeps one row per input row (column
expressions, a window, a left join on distinct keys), and after writing the job checks that
rows read = rows in the table + rows quarantined, per input. All the work is Spark column
expressions; the driver only collects a few counts.

One module (~670 lines) on purpose: the reasons of both inputs, their order and the checks that
nothing is lost are one contract, read in one place.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from pyspark import StorageLevel
from pyspark.errors import AnalysisException
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from churn_spark.config import Config

FORMATS = ("parquet", "csv", "json", "delta")
EMAIL_COLUMNS = ("email_id", "customer_id", "sent_at", "subject", "body")
OBSERVATION_CORE = ("unit_id", "customer_id", "cutoff_date", "window_start", "churn", "split")

#: Reasons an email is quarantined, in the order the rules are checked.
EMAIL_REASONS = (
    "malformed record",         # CSV row with the wrong number of fields; JSON line that does not parse
    "missing email_id",         # null or blank
    "email_id not valid text",  # control characters or U+FFFD (bytes that were not UTF-8)
    "missing customer_id",
    "customer_id not valid text",
    "missing sent_at",
    "unparseable sent_at",      # not one of the accepted ISO-8601 forms, or not a real instant
    "missing body",             # null or empty
    "body not valid text",      # U+FFFD, control characters other than tab/newline, or only blanks
    "subject not valid text",   # (subject is optional) U+FFFD or control characters
    "duplicate email_id",
    "unknown customer",         # customer_id in no kept observation
)

#: Reasons an observation is quarantined, in the order the rules are checked.
OBSERVATION_REASONS = (
    "malformed record",
    "missing unit_id",
    "unit_id not valid text",
    "missing customer_id",
    "customer_id not valid text",
    "missing cutoff_date",
    "unparseable cutoff_date",  # not yyyy-MM-dd (optionally with a midnight time), or not a real date
    "unparseable window_start",
    "window_start not before cutoff_date",
    "invalid churn",            # not 0/1/true/false (null, blank or NaN = a unit to score)
    "invalid split",            # not train/test (case-insensitive; blank = seeded split)
    "duplicate unit_id",
)

_CORRUPT = "__corrupt"  # the readers' column for records that do not parse
_BLANKS = r"\s\u00A0\u3000"  # whitespace incl. no-break and ideographic space
# U+FFFD is what Spark's CSV/JSON readers put where the bytes were not valid UTF-8
_BAD_IN_TEXT = r"[\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F\uFFFD]"  # tab, LF, CR allowed
_BAD_IN_ID = r"[\x00-\x1F\x7F-\x9F\uFFFD]"
# ISO-8601: date, optional [T or space] HH:mm[:ss[.fraction]], optional zone (Z, +08:00, +0800)
_TIMESTAMP = (r"^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2})(:\d{2}(?:\.\d{1,9})?)?"
              r" ?(Z|[+-]\d{2}:?\d{2})?)?$")
# a date, optionally with a midnight time as writers of datetime columns add it
_DATE = r"^(\d{4}-\d{2}-\d{2})(?:[T ]00:00(?::00(?:\.0{1,9})?)?(?:Z|[+-]00:?00)?)?$"
_INTEGER = r"^[+-]?\d{1,18}$"
_DECIMAL = r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$"
_EXTENSIONS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".json": "json",
               ".jsonl": "json", ".ndjson": "json"}
_COMPRESSIONS = (".gz", ".bz2", ".deflate", ".zst", ".lz4", ".snappy")


class IngestError(RuntimeError):
    """Input that cannot be ingested at all (missing, empty, no usable row); the message says why."""


# ---------------------------------------------------------------------------------------
# names


def sanitize_column_name(name: str) -> str:
    """``name`` in lower_snake_case: ``"Tenure Months"`` -> ``tenure_months``, ``CustomerID`` ->
    ``customer_id``. Returns ``""`` when no ASCII letter or digit is left."""
    snake = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    snake = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", snake)
    snake = re.sub(r"[^0-9A-Za-z]+", "_", snake).strip("_").lower()
    if snake and snake[0].isdigit():
        snake = f"col_{snake}"
    return snake


def sanitize_column_names(names: list[str]) -> tuple[list[str], dict[str, str]]:
    """Unique lower_snake_case names for ``names`` and the renames ``{old: new}`` (changed only).

    A name with nothing ASCII left becomes ``col_<position>``; a clash gets ``_2``, ``_3``...
    """
    result: list[str] = []
    taken: set[str] = set()
    for position, name in enumerate(names):
        base = sanitize_column_name(name) or f"col_{position}"
        candidate, n = base, 1
        while candidate in taken:
            n += 1
            candidate = f"{base}_{n}"
        taken.add(candidate)
        result.append(candidate)
    return result, {old: new for old, new in zip(names, result, strict=True) if old != new}


# ---------------------------------------------------------------------------------------
# inputs


def _listed_files(spark: SparkSession, path: str) -> list[tuple[str, int]] | None:
    """``(name, length)`` of the files Spark would read at ``path``, or None when it does not exist.

    DataFrame-only (classic and Connect sessions, the same view of storage as Spark): the
    ``binaryFile`` source without its ``content`` column reads no bytes. A file lists itself, a
    folder its files at any depth; names starting with ``_`` or ``.`` are skipped (``_delta_log``,
    ``_SUCCESS``, ``.crc`` files ...), as every file source skips them.
    """
    try:
        rows = (spark.read.format("binaryFile").option("recursiveFileLookup", "true").load(path)
                .select("path", "length").collect())
    except AnalysisException as e:
        if e.getCondition() == "PATH_NOT_FOUND" or "PATH_NOT_FOUND" in str(e):
            return None
        raise
    return [(r.path.rstrip("/").rsplit("/", 1)[-1], r.length) for r in rows]


def _format_of_name(name: str) -> str | None:
    lower = name.lower()
    for suffix in _COMPRESSIONS:
        if lower.endswith(suffix):
            lower = lower[: -len(suffix)]
            break
    return next((fmt for ext, fmt in _EXTENSIONS.items() if lower.endswith(ext)), None)


def detect_format(spark: SparkSession, path: str, fmt: str = "auto", what: str = "input") -> str:
    """The format of ``path`` (``fmt`` unless ``auto``), after checking that it exists and is not empty.

    ``auto``: a folder with ``_delta_log`` is Delta; otherwise the file extension (of the file,
    or of the data files in the folder): ``.parquet``/``.pq``, ``.csv``, ``.json``/``.jsonl``/
    ``.ndjson``, optionally compressed (``.gz``...).
    """
    if fmt not in ("auto", *FORMATS):
        raise IngestError(f"unknown format {fmt!r} for {what} {path}: use auto, {', '.join(FORMATS)}")
    files = _listed_files(spark, path)
    if files is None:
        raise IngestError(f"{what} path does not exist: {path}")
    data_files = [name for name, _ in files]
    size = sum(length for _, length in files)
    # the listing skips _delta_log: a Delta table is a folder holding one (a file has none)
    delta_log = _listed_files(spark, path.rstrip("/") + "/_delta_log")
    is_delta = delta_log is not None
    size += sum(length for _, length in delta_log or ())
    if size == 0:
        raise IngestError(f"{what} file is empty: {path}")
    if fmt == "delta" and not is_delta:
        raise IngestError(f"{what} is not a Delta table (no _delta_log folder): {path}")
    if fmt != "auto":
        return fmt
    if is_delta:
        return "delta"
    found = {f for f in map(_format_of_name, data_files) if f}
    if len(found) != 1:
        raise IngestError(f"cannot tell the format of {what} {path} from its name "
                          f"(found {sorted(found) or 'no known extension'}); pass --format")
    return found.pop()


@dataclass
class RawInput:
    """One input as read: columns ``_c0 .. _c<n-1>`` in input order, plus ``__corrupt`` for CSV/JSON."""

    df: DataFrame
    names: list[str]  # the input's own column names, by position
    path: str
    fmt: str

    @property
    def typed(self) -> bool:
        """Parquet and Delta carry column types; CSV and JSON values are text."""
        return self.fmt in ("parquet", "delta")

    @property
    def has_corrupt(self) -> bool:
        return _CORRUPT in self.df.columns

    def column(self, position: int) -> Column:
        return F.col(f"_c{position}")

    def data_type(self, position: int) -> T.DataType:
        return self.df.schema[f"_c{position}"].dataType

    def record(self) -> Column:
        """The raw record as JSON text under the input's own names (null fields left out)."""
        fields = [self.column(i).alias(name) for i, name in enumerate(self.names)]
        if self.has_corrupt:
            fields.append(F.col(_CORRUPT).alias("_corrupt_record"))
        return F.to_json(F.struct(*fields))


def _csv_options(cfg: Config) -> dict[str, str]:
    # multiLine: quoted bodies span lines; escape='"': a quote inside a field is written ""
    return {"header": "true", "multiLine": "true", "escape": '"', "encoding": "UTF-8",
            "sep": cfg.ingest.csv_delimiter}


def read_input(spark: SparkSession, cfg: Config, path: str, fmt: str,
               json_columns: list[str] | None = None) -> RawInput:
    """Read ``path`` in format ``fmt`` (not ``auto``) with positional column names.

    CSV and JSON are read as text, PERMISSIVE, with records that do not parse in ``__corrupt``.
    JSON keys are ``json_columns`` when given (no schema inference pass), else inferred.
    """
    if fmt == "csv":
        options = _csv_options(cfg)
        names = spark.read.options(**options).csv(path).columns  # reads the header only
        schema = T.StructType([T.StructField(n, T.StringType()) for n in names]
                              + [T.StructField(_CORRUPT, T.StringType())])
        df = spark.read.schema(schema).options(**options, mode="PERMISSIVE",
                                               columnNameOfCorruptRecord=_CORRUPT).csv(path)
    elif fmt == "json":
        options = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": _CORRUPT}
        if json_columns is None:
            json_columns = [c for c in spark.read.options(**options).json(path).columns if c != _CORRUPT]
        names = list(json_columns)
        schema = T.StructType([T.StructField(n, T.StringType()) for n in names]
                              + [T.StructField(_CORRUPT, T.StringType())])
        df = spark.read.schema(schema).options(**options).json(path)
    elif fmt == "parquet":
        df = spark.read.parquet(path)
        names = df.columns
    elif fmt == "delta":
        df = spark.read.format("delta").load(path)
        names = df.columns
    else:
        raise IngestError(f"unknown format {fmt!r}")
    positional = [f"_c{i}" for i in range(len(names))] + [c for c in df.columns if c == _CORRUPT]
    return RawInput(df.toDF(*positional), list(names), path, fmt)


# ---------------------------------------------------------------------------------------
# value rules (Spark column expressions)


def _strip(col: Column) -> Column:
    return F.regexp_replace(col, rf"^[{_BLANKS}]+|[{_BLANKS}]+$", "")


def _text(col: Column, data_type: T.DataType) -> Column:
    return col if isinstance(data_type, T.StringType) else col.cast("string")


def _clean(col: Column) -> Column:
    """Stripped text, blank -> null (CSV cannot tell an empty field from a missing one)."""
    stripped = _strip(col)
    return F.when(stripped != "", stripped)


def parse_timestamp(col: Column, data_type: T.DataType, naive_timezone: str = "UTC") -> Column:
    """``sent_at`` as a timestamp; null when it is not one of the accepted forms.

    Accepted text: ``yyyy-MM-dd``, optionally followed by ``T`` or a space and ``HH:mm``,
    ``HH:mm:ss`` or ``HH:mm:ss.f`` (1-9 digits), optionally followed by ``Z``, ``+hh:mm`` or
    ``+hhmm``. Without a zone the time is local time in ``naive_timezone`` (also for Parquet
    ``TIMESTAMP_NTZ`` and date columns). Assumes the session time zone UTC (session.py).
    """
    if isinstance(data_type, T.TimestampType):
        return col
    if isinstance(data_type, (T.TimestampNTZType, T.DateType)):
        return F.to_utc_timestamp(col.cast("timestamp"), naive_timezone)
    text = _strip(_text(col, data_type))
    day, hour_minute, seconds, zone = (F.regexp_extract(text, _TIMESTAMP, i) for i in (1, 2, 3, 4))
    clock = F.when(hour_minute == "", F.lit("00:00:00")).otherwise(
        F.concat(hour_minute, F.when(seconds == "", F.lit(":00")).otherwise(seconds)))
    hhmm = F.concat(F.substring(zone, 1, 3), F.lit(":"), F.substring(zone, 4, 2))  # +0800 -> +08:00
    offset = F.when(zone == "Z", F.lit("+00:00")).when(F.length(zone) == 5, hhmm).otherwise(zone)
    parsed = F.try_to_timestamp(F.concat(day, F.lit("T"), clock, offset),
                                F.lit("yyyy-MM-dd'T'HH:mm:ss[.SSSSSSSSS][XXX]"))
    parsed = F.when(zone == "", F.to_utc_timestamp(parsed, naive_timezone)).otherwise(parsed)
    return F.when(text.rlike(_TIMESTAMP), parsed)


def parse_date(col: Column, data_type: T.DataType) -> Column:
    """A date column, or text ``yyyy-MM-dd`` (a midnight time may follow); null otherwise."""
    if isinstance(data_type, T.DateType):
        return col
    if isinstance(data_type, (T.TimestampType, T.TimestampNTZType)):
        return F.to_date(col)
    text = _strip(_text(col, data_type))
    return F.when(text.rlike(_DATE), F.try_to_date(F.regexp_extract(text, _DATE, 1), "yyyy-MM-dd"))


def parse_churn(col: Column, data_type: T.DataType) -> tuple[Column, Column]:
    """``(churn as int 0/1 or null, is_invalid)``: 0/1 in any numeric type, true/false, '0'/'1'."""
    text = F.lower(_clean(_text(col, data_type)))
    number = text.try_cast("double")
    churn = (F.when(text == "true", 1).when(text == "false", 0)
             .when(number == 1.0, 1).when(number == 0.0, 0)).cast("int")
    return churn, text.isNotNull() & (text != "nan") & churn.isNull()


def seeded_split(unit_id: Column, seed: int, test_share: float) -> Column:
    """'test' for a share ``test_share`` of unit ids, else 'train'; a fixed function of (seed, id)."""
    u = F.pmod(F.xxhash64(F.lit(str(seed)), unit_id), F.lit(10**9)) / F.lit(1e9)
    return F.when(u < F.lit(float(test_share)), F.lit("test")).otherwise(F.lit("train"))


def _first_reason(rules: list[tuple[str, Column]]) -> Column:
    """The reason of the first rule whose condition is true (null when none is)."""
    chain = None
    for reason, broken in rules:
        chain = F.when(broken, reason) if chain is None else chain.when(broken, reason)
    return chain if chain is not None else F.lit(None).cast("string")


def _id_rules(name: str, value: Column) -> list[tuple[str, Column]]:
    return [(f"missing {name}", value.isNull()), (f"{name} not valid text", value.rlike(_BAD_IN_ID))]


def _infer_text_types(df: DataFrame, columns: list[str]) -> dict[str, str]:
    """For text columns: boolean, long, double or string -- the first that every non-blank value fits.

    One aggregation pass over ``df``.
    """
    if not columns:
        return {}
    aggregates = []
    for c in columns:
        value = _clean(F.col(c))
        aggregates += [F.count(value), F.count(F.when(F.lower(value).isin("true", "false"), 1)),
                       F.count(F.when(value.rlike(_INTEGER), 1)), F.count(F.when(value.rlike(_DECIMAL), 1))]
    counts = df.agg(*aggregates).first()
    types = {}
    for i, c in enumerate(columns):
        present, booleans, integers, decimals = counts[4 * i: 4 * i + 4]
        if present and booleans == present:
            types[c] = "boolean"
        elif present and integers == present:
            types[c] = "bigint"
        elif present and decimals == present:
            types[c] = "double"
        else:
            types[c] = "string"
    return types


def _typed_text(value: Column, type_name: str) -> Column:
    if type_name == "boolean":
        return F.lower(value) == "true"
    if type_name == "string":
        return value
    return value.try_cast(type_name)


# ---------------------------------------------------------------------------------------
# classification: every input row, with the reason it is rejected (null = kept)


@dataclass
class Classified:
    """All rows of one input: output columns + ``__reason`` (null = kept), ``__row_id``, ``__record``."""

    df: DataFrame
    output: list[str]
    info: dict[str, Any] = field(default_factory=dict)


def _positions(raw: RawInput, what: str, required: tuple[str, ...], known: tuple[str, ...]
               ) -> tuple[dict[str, int], dict[str, str], list[int]]:
    """Positions of the contract columns (matched by sanitised name), the renames, other positions."""
    clean, renames = sanitize_column_names(raw.names)
    where = {name: i for i, name in enumerate(clean)}
    missing = [c for c in required if c not in where]
    if missing:
        raise IngestError(f"{what} at {raw.path} lack the required column(s) {missing}; "
                          f"columns found: {raw.names}")
    found = {c: where[c] for c in known if c in where}
    others = [i for i in range(len(clean)) if i not in found.values()]
    return found, renames, others


def classify_emails(raw: RawInput, naive_timezone: str, known_customers: DataFrame | None) -> Classified:
    """Each email row with its first broken rule; ``known_customers`` (column ``customer_id``) or None."""
    found, renames, others = _positions(raw, "emails", ("email_id", "customer_id", "sent_at", "body"),
                                        EMAIL_COLUMNS)

    def text(name: str) -> Column:
        return _text(raw.column(found[name]), raw.data_type(found[name]))

    body = text("body")
    subject = _clean(text("subject")) if "subject" in found else F.lit(None).cast("string")
    sent_text = _clean(text("sent_at"))
    df = raw.df.select("*",
                       _clean(text("email_id")).alias("__email_id"),
                       _clean(text("customer_id")).alias("__customer_id"),
                       parse_timestamp(raw.column(found["sent_at"]), raw.data_type(found["sent_at"]),
                                       naive_timezone).alias("__sent_at"),
                       sent_text.isNotNull().alias("__has_sent_at"),
                       body.alias("__body"), subject.alias("__subject"))
    rules = [("malformed record", F.col(_CORRUPT).isNotNull())] if raw.has_corrupt else []
    rules += _id_rules("email_id", F.col("__email_id")) + _id_rules("customer_id", F.col("__customer_id"))
    rules += [
        ("missing sent_at", ~F.col("__has_sent_at")),
        ("unparseable sent_at", F.col("__sent_at").isNull()),
        ("missing body", F.col("__body").isNull() | (F.col("__body") == "")),
        ("body not valid text",
         F.col("__body").rlike(_BAD_IN_TEXT) | F.col("__body").rlike(rf"^[{_BLANKS}]*$")),
        ("subject not valid text", F.col("__subject").rlike(_BAD_IN_TEXT)),
    ]
    df = df.withColumn("__reason", _first_reason(rules))

    # duplicates among the rows still valid: keep the earliest, ties broken by content
    valid = F.col("__reason").isNull()
    content = ("__customer_id", "__subject", "__body")
    order = Window.partitionBy("__email_id", valid).orderBy("__sent_at", F.xxhash64(*content), *content)
    rank = F.row_number().over(order)
    df = df.withColumn("__reason", F.when(valid & (rank > 1), F.lit("duplicate email_id"))
                       .otherwise(F.col("__reason")))
    if known_customers is not None:
        known = known_customers.select(F.col("customer_id").alias("__known")).distinct()
        df = df.join(known, df["__customer_id"] == known["__known"], "left")  # distinct keys: 1 row per row
        df = df.withColumn("__reason", F.when(F.col("__reason").isNull() & F.col("__known").isNull(),
                                              F.lit("unknown customer")).otherwise(F.col("__reason")))
    df = df.select(
        F.col("__email_id").alias("email_id"), F.col("__customer_id").alias("customer_id"),
        F.col("__sent_at").alias("sent_at"), F.col("__subject").alias("subject"),
        F.col("__body").alias("body"), "__reason", F.col("__email_id").alias("__row_id"),
        F.when(F.col("__reason").isNotNull(), raw.record()).alias("__record"))
    ignored = [raw.names[i] for i in others]
    return Classified(df, list(EMAIL_COLUMNS), {"renamed_columns": renames, "ignored_columns": ignored})


def classify_observations(raw: RawInput, seed: int, test_share: float) -> Classified:
    """Each observation row with its first broken rule, its split and its typed marketing variables."""
    required = ("unit_id", "customer_id", "cutoff_date", "churn")
    found, renames, others = _positions(raw, "observations", required, OBSERVATION_CORE)
    clean_names, _ = sanitize_column_names(raw.names)

    def column(name: str) -> tuple[Column, T.DataType]:
        return raw.column(found[name]), raw.data_type(found[name])

    # marketing variables: text is typed by its values; typed inputs keep their types
    marketing: dict[str, Column] = {}
    types: dict[str, str] = {}
    text_columns = [f"_c{i}" for i in others if not raw.typed or isinstance(raw.data_type(i), T.StringType)]
    inferred = {c: "string" for c in text_columns} if raw.typed else _infer_text_types(raw.df, text_columns)
    for i in others:
        name = clean_names[i]
        if f"_c{i}" in inferred:
            marketing[name] = _typed_text(_clean(raw.column(i)), inferred[f"_c{i}"])
        else:
            marketing[name] = raw.column(i)
        types[name] = inferred.get(f"_c{i}") or raw.data_type(i).simpleString()

    cutoff_col, cutoff_type = column("cutoff_date")
    churn, churn_invalid = parse_churn(*column("churn"))
    if "window_start" in found:
        window_col, window_type = column("window_start")
        window_start = parse_date(window_col, window_type)
        has_window = _clean(_text(window_col, window_type)).isNotNull()
    else:
        window_start, has_window = F.lit(None).cast("date"), F.lit(False)
    split_given = (F.lower(_clean(_text(*column("split")))) if "split" in found
                   else F.lit(None).cast("string"))
    df = raw.df.select(
        "*",
        _clean(_text(*column("unit_id"))).alias("__unit_id"),
        _clean(_text(*column("customer_id"))).alias("__customer_id"),
        _clean(_text(cutoff_col, cutoff_type)).isNotNull().alias("__has_cutoff"),
        parse_date(cutoff_col, cutoff_type).alias("__cutoff_date"),
        has_window.alias("__has_window"), window_start.alias("__window_start"),
        churn.alias("__churn"), churn_invalid.alias("__churn_invalid"), split_given.alias("__split_given"),
        *[value.alias(f"__m{n}") for n, value in enumerate(marketing.values())])
    rules = [("malformed record", F.col(_CORRUPT).isNotNull())] if raw.has_corrupt else []
    rules += _id_rules("unit_id", F.col("__unit_id")) + _id_rules("customer_id", F.col("__customer_id"))
    rules += [
        ("missing cutoff_date", ~F.col("__has_cutoff")),
        ("unparseable cutoff_date", F.col("__cutoff_date").isNull()),
        ("unparseable window_start", F.col("__has_window") & F.col("__window_start").isNull()),
        ("window_start not before cutoff_date", F.col("__window_start") >= F.col("__cutoff_date")),
        ("invalid churn", F.col("__churn_invalid")),
        ("invalid split", F.col("__split_given").isNotNull() & ~F.col("__split_given").isin("train", "test")),
    ]
    df = df.withColumn("__reason", _first_reason(rules))

    marketing_cols = [f"__m{n}" for n in range(len(marketing))]
    fingerprint = F.to_json(F.struct("__customer_id", "__cutoff_date", "__window_start", "__churn",
                                     "__split_given", *marketing_cols))
    valid = F.col("__reason").isNull()
    rank = F.row_number().over(Window.partitionBy("__unit_id", valid).orderBy(fingerprint))
    df = df.withColumn("__reason", F.when(valid & (rank > 1), F.lit("duplicate unit_id"))
                       .otherwise(F.col("__reason")))
    split = (F.when(F.col("__churn").isNull(), F.lit("score"))
             .when(F.col("__split_given").isNotNull(), F.col("__split_given"))
             .otherwise(seeded_split(F.col("__unit_id"), seed, test_share)))
    output = [*OBSERVATION_CORE, *marketing]
    df = df.select(
        F.col("__unit_id").alias("unit_id"), F.col("__customer_id").alias("customer_id"),
        F.col("__cutoff_date").alias("cutoff_date"), F.col("__window_start").alias("window_start"),
        F.col("__churn").alias("churn"), split.alias("split"),
        *[F.col(c).alias(name) for c, name in zip(marketing_cols, marketing, strict=True)],
        "__reason", F.col("__unit_id").alias("__row_id"),
        F.when(F.col("__reason").isNotNull(), raw.record()).alias("__record"))
    return Classified(df, output, {"renamed_columns": renames, "marketing_columns": types})


# ---------------------------------------------------------------------------------------
# the job


def _quarantine_rows(classified: Classified, source: str, run_id: str, at: dt.datetime) -> DataFrame:
    return classified.df.where(F.col("__reason").isNotNull()).select(
        F.lit(source).alias("source"), F.col("__row_id").alias("row_id"), F.col("__reason").alias("reason"),
        F.col("__record").alias("record"), F.lit(run_id).alias("run_id"),
        F.lit(at).alias("ingested_at"))


def _describe(reasons: dict[str, int]) -> str:
    return ", ".join(f"{n} {r}" for r, n in sorted(reasons.items(), key=lambda kv: -kv[1])) or "none"


def _print_report(result: dict[str, Any]) -> None:
    print(f"ingest {result['run_id']}:")
    print(f"  {'input':<14}{'format':<9}{'rows':>10}{'kept':>10}{'quarantined':>13}")
    for source in ("emails", "observations"):
        s = result[source]
        print(f"  {source:<14}{s['format']:<9}{s['rows']:>10}{s['kept']:>10}{s['quarantined']:>13}")
    lines = [(source, reason, n) for source in ("emails", "observations")
             for reason, n in result[source]["reasons"].items()]
    if lines:
        print(f"  {'quarantined':<14}{'reason':<38}{'rows':>8}")
        for source, reason, n in lines:
            print(f"  {source:<14}{reason:<38}{n:>8}")
    obs = result["observations"]
    print("  splits: " + ", ".join(f"{k} {v}" for k, v in obs["splits"].items()))
    if result["emails"]["ignored_columns"]:
        print(f"  ignored email columns: {result['emails']['ignored_columns']}")
    if obs["renamed_columns"]:
        print("  renamed columns: " + ", ".join(f"{a!r} -> {b}" for a, b in obs["renamed_columns"].items()))


def ingest(spark: SparkSession, lake: Any, cfg: Config, emails_path: str, observations_path: str,
           fmt: str = "auto") -> dict[str, Any]:
    """Load the user's emails and observations into ``emails``, ``observations`` and ``quarantine``.

    Returns ``{"run_id", "emails": {...}, "observations": {...}, "versions": {table: version}}`` where
    each input's entry holds ``path, format, rows, kept, quarantined, reasons {reason: rows}`` (and for
    observations ``splits``, ``renamed_columns``, ``marketing_columns {name: type}``).
    Raises :class:`IngestError` when an input is missing or empty, or when no valid labelled
    observation or no valid email is left; then no table is written.
    """
    emails_fmt = detect_format(spark, emails_path, fmt, "emails")
    observations_fmt = detect_format(spark, observations_path, fmt, "observations")
    settings = cfg.ingest
    run_id, at = lake.run_id, dt.datetime.now(dt.timezone.utc)

    # read and check both inputs' columns before any counting: a wrong file fails fast
    raw_obs = read_input(spark, cfg, observations_path, observations_fmt)
    raw_emails = read_input(spark, cfg, emails_path, emails_fmt,
                            json_columns=list(EMAIL_COLUMNS) if emails_fmt == "json" else None)
    observations = classify_observations(raw_obs, cfg.run.seed, cfg.run.test_share)
    kept_obs = observations.df.where(F.col("__reason").isNull())
    emails = classify_emails(raw_emails, settings.naive_timezone,
                             kept_obs if settings.require_known_customer else None)
    observations.df.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        obs_counts = observations.df.groupBy("__reason", "split").count().collect()
        obs_reasons = _reason_counts(obs_counts, OBSERVATION_REASONS)
        splits = {s: sum(r["count"] for r in obs_counts if r["__reason"] is None and r["split"] == s)
                  for s in ("train", "test", "score")}
        n_obs = sum(r["count"] for r in obs_counts)
        if splits["train"] + splits["test"] == 0:
            raise IngestError(f"no valid labelled observation in {observations_path} ({n_obs} rows; "
                              f"quarantined: {_describe(obs_reasons)}; unlabelled: {splits['score']})")

        emails.df.persist(StorageLevel.MEMORY_AND_DISK)
        email_counts = emails.df.groupBy("__reason").count().collect()
        email_reasons = _reason_counts(email_counts, EMAIL_REASONS)
        n_emails = sum(r["count"] for r in email_counts)
        n_kept_emails = n_emails - sum(email_reasons.values())
        if n_kept_emails == 0:
            raise IngestError(f"no valid email in {emails_path} ({n_emails} rows; "
                              f"quarantined: {_describe(email_reasons)})")

        kept_emails = emails.df.where(F.col("__reason").isNull()).select(*emails.output)
        versions = {
            "emails": lake.write(kept_emails, "emails", inputs={}),  # inputs are files, not tables
            "observations": lake.write(kept_obs.select(*observations.output), "observations", inputs={}),
            "quarantine": lake.write(_quarantine_rows(emails, "emails", run_id, at).unionByName(
                _quarantine_rows(observations, "observations", run_id, at)), "quarantine", inputs={}),
        }
        # nothing dropped silently: rows read = rows written + rows quarantined, per input (one job)
        tables = [lake.read(name).select(F.lit(name).alias("source"), F.lit(True).alias("kept"))
                  for name in ("emails", "observations")]
        tables.append(lake.read("quarantine").select("source", F.lit(False).alias("kept")))
        in_tables = tables[0].unionByName(tables[1]).unionByName(tables[2]).groupBy("source", "kept").count()
        counted = {(r["source"], r["kept"]): r["count"] for r in in_tables.collect()}
        written = {s: counted.get((s, True), 0) for s in ("emails", "observations")}
        quarantined = {s: counted.get((s, False), 0) for s in ("emails", "observations")}
        for source, n_in in (("emails", n_emails), ("observations", n_obs)):
            if n_in != written[source] + quarantined.get(source, 0):
                raise IngestError(f"{source}: {n_in} rows read but {written[source]} written and "
                                  f"{quarantined.get(source, 0)} quarantined")
    finally:
        observations.df.unpersist()
        emails.df.unpersist()

    result = {
        "run_id": run_id,
        "emails": {"path": emails_path, "format": emails_fmt, "rows": n_emails, "kept": written["emails"],
                   "quarantined": quarantined.get("emails", 0), "reasons": email_reasons, **emails.info},
        "observations": {"path": observations_path, "format": observations_fmt, "rows": n_obs,
                         "kept": written["observations"], "quarantined": quarantined.get("observations", 0),
                         "reasons": obs_reasons, "splits": splits, **observations.info},
        "versions": versions,
    }
    _print_report(result)
    return result


def _reason_counts(rows: list[Any], rule_order: tuple[str, ...]) -> dict[str, int]:
    """``{reason: rows}`` from grouped counts (kept rows, reason null, left out), in rule order."""
    totals: dict[str, int] = {}
    for row in rows:
        if row["__reason"] is not None:
            totals[row["__reason"]] = totals.get(row["__reason"], 0) + row["count"]
    order = {r: i for i, r in enumerate(rule_order)}
    return dict(sorted(totals.items(), key=lambda kv: order.get(kv[0], len(order))))


