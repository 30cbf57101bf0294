"""Delta tables by name under one warehouse root: the only way jobs read and write data.

Every table is a Delta table written by Delta Lake's own Spark data source
(``format("delta")``, the ``io.delta:delta-spark`` jars) at ``<root>/<name>``, and registered
in the session's catalog as ``<catalog>.<database>.<name>`` (an external table at that
folder, with the comments of :mod:`churn_spark.lake.comments`), so analysts find it with
``SHOW TABLES`` and use Delta's SQL on it: ``DESCRIBE HISTORY``, ``VERSION AS OF``, ``MERGE``.

Atomicity is Delta's: an overwrite is one commit that removes the old files and adds the new
ones (the old stay for time travel until ``VACUUM``), an append one commit of new files, a
:meth:`Lake.merge` one ``MERGE INTO``. A write that fails or is killed before its commit
leaves the previous version as it was; its files are orphans that no reader sees.

Every commit carries ``userMetadata`` = JSON ``{"run_id", "inputs": {table: version}, "txn"}``
so that each table version says which run wrote it from which input versions. The input
versions default to every table this ``Lake`` has read so far (the job's lineage).

Spark ML vector columns (``VectorUDT``) are stored as their struct
``struct<type,size,indices,values>`` with the UDT named in the column metadata: Delta's
protocol has no user-defined types, and any Delta reader (delta-rs, Trino, DuckDB) must open
the tables. ``read`` gives vectors back.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import sys
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
from pyspark.errors import AnalysisException
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, DataType, MapType, StringType, StructField, StructType, UserDefinedType

from churn_spark.config import Config
from churn_spark.lake.comments import TABLE_COMMENTS
from churn_spark.session import is_connect

UDT_KEY = "churn_spark.udt"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_COMMIT_FILE = re.compile(r"^\d{20}\.json$")


class LakeError(RuntimeError):
    """A table operation that cannot be done; the message says which table and why."""


class SchemaMismatchError(LakeError):
    """An append whose columns do not match the table's."""


class ConcurrentWriteError(LakeError):
    """Another writer committed a conflicting change first; this write was not applied."""


@dataclass(frozen=True)
class Commit:
    """One entry of a table's history."""

    version: int
    timestamp: dt.datetime
    operation: str
    run_id: str | None
    inputs: dict[str, int]
    num_files: int | None
    num_rows: int | None
    txn: str | None = None


def new_run_id() -> str:
    """A sortable, unique run id: UTC time plus random suffix."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


# ---------------------------------------------------------------------------------------
# schema helpers: vectors as stored, and the append check


def storage_schema(schema: StructType) -> StructType:
    """The schema as stored: top-level UDT columns become their struct, named in metadata."""
    fields = []
    for f in schema.fields:
        if isinstance(f.dataType, UserDefinedType):
            udt = f.dataType
            meta = {**(f.metadata or {}), UDT_KEY: json.dumps(udt.jsonValue())}
            fields.append(StructField(f.name, udt.sqlType(), f.nullable, meta))
        else:
            fields.append(f)
    return StructType(fields)


def logical_schema(schema: StructType) -> StructType:
    """Inverse of :func:`storage_schema`: struct columns named as UDTs become UDTs again."""
    fields = []
    for f in schema.fields:
        meta = dict(f.metadata or {})
        if UDT_KEY in meta:
            udt = UserDefinedType.fromJson(json.loads(meta.pop(UDT_KEY)))
            fields.append(StructField(f.name, udt, f.nullable, meta))
        else:
            fields.append(f)
    return StructType(fields)


def _type_key(data_type: DataType) -> str:
    """A type's identity for schema comparison, ignoring nullability and metadata."""
    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items()
                    if k not in ("nullable", "containsNull", "valueContainsNull", "metadata")}
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node
    return json.dumps(strip(data_type.jsonValue()), sort_keys=True)


def check_append_schema(table: str, existing: StructType, incoming: StructType) -> None:
    """Raise :class:`SchemaMismatchError` naming every column that differs."""
    have = {f.name: _type_key(f.dataType) for f in storage_schema(existing).fields}
    new = {f.name: _type_key(f.dataType) for f in storage_schema(incoming).fields}
    missing = [c for c in have if c not in new]
    extra = [c for c in new if c not in have]
    changed = [f"{c} ({have[c]} -> {new[c]})" for c in have if c in new and have[c] != new[c]]
    if missing or extra or changed:
        parts = []
        if missing:
            parts.append(f"missing columns {missing}")
        if extra:
            parts.append(f"unexpected columns {extra}")
        if changed:
            parts.append(f"columns with another type {changed}")
        raise SchemaMismatchError(f"cannot append to table {table!r}: " + "; ".join(parts))


def _commit_metadata(run_id: str, inputs: dict[str, int], txn: str) -> str:
    return json.dumps({"run_id": run_id, "inputs": inputs, "txn": txn}, sort_keys=True)


def _parse_user_metadata(raw: Any) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        return json.loads(raw) if isinstance(raw, str) else dict(raw)
    except (ValueError, TypeError):
        return {}


# ---------------------------------------------------------------------------------------
# the public interface


class Lake:
    """Read and write Delta tables by name under ``root``, registered in ``catalog.database``.

    >>> lake = Lake(spark, cfg)                  # root = cfg.run.warehouse, database = cfg.run.database
    >>> lake.write(df, "emails")                 # overwrite, returns the new version
    >>> lake.read("emails", version=0)           # time travel
    >>> lake.table_name("emails")                # 'spark_catalog.churn.emails', for SQL
    """

    def __init__(self, spark: SparkSession, cfg: Config | None = None, *, root: str | None = None,
                 database: str | None = None, catalog: str | None = None, run_id: str | None = None):
        self.spark = spark
        root = root or (cfg.run.warehouse if cfg is not None else None)
        if not root:
            raise LakeError("no warehouse root: pass root= or set run.warehouse")
        self.root = root if "://" in root else os.path.abspath(root)
        self.database = database or (cfg.run.database if cfg is not None else "churn")
        self.catalog = catalog or (cfg.lake.catalog if cfg is not None else "spark_catalog")
        for part in (self.catalog, self.database):
            if not _NAME.match(part):
                raise LakeError(f"invalid catalog or database name {part!r}: use lower_snake_case")
        self.run_id = run_id or os.environ.get("CHURN_SPARK_RUN_ID") or new_run_id()
        self.target_file_rows = cfg.lake.target_file_rows if cfg is not None else 1_000_000
        self._reads: dict[str, int] = {}
        self._writes: dict[str, int] = {}

    # -- naming ------------------------------------------------------------------------
    def path(self, name: str) -> str:
        """The table's folder, ``<root>/<name>``."""
        if not _NAME.match(name):
            raise LakeError(f"invalid table name {name!r}: use lower_snake_case")
        return f"{self.root.rstrip('/')}/{name}"

    def table_name(self, name: str) -> str:
        """The table's name in the catalog, ``<catalog>.<database>.<name>``."""
        self.path(name)  # validates
        return f"{self.catalog}.{self.database}.{name}"

    @property
    def lineage(self) -> dict[str, int]:
        """Versions of the tables read through this lake so far."""
        return dict(self._reads)

    @property
    def written(self) -> dict[str, int]:
        """Versions of the tables written through this lake since :meth:`reset_lineage`."""
        return dict(self._writes)

    def reset_lineage(self) -> None:
        """Forget the tables read and written so far (a new job step starts)."""
        self._reads.clear()
        self._writes.clear()

    # -- queries -----------------------------------------------------------------------
    def exists(self, name: str) -> bool:
        fs, base = pafs.FileSystem.from_uri(self.path(name))
        return fs.get_file_info(f"{base}/_delta_log").type == pafs.FileType.Directory

    def version(self, name: str) -> int:
        """The table's current version: the newest commit file ``_delta_log/<version>.json``.

        Read off the log's listing, as Delta itself finds it: a commit file appears whole
        (Delta's atomic put-if-absent), and a listing costs no Spark job.
        """
        self._require(name)
        fs, base = pafs.FileSystem.from_uri(self.path(name))
        commits = self._commit_versions(fs, base)
        if not commits:
            raise LakeError(f"table {name!r} has no commit in {self.path(name)}/_delta_log")
        return max(commits)

    def list(self) -> list[str]:
        """Names of the tables under the root, sorted."""
        fs, base = pafs.FileSystem.from_uri(self.root)
        if fs.get_file_info(base).type == pafs.FileType.NotFound:
            return []
        names = []
        for info in fs.get_file_info(pafs.FileSelector(base, recursive=False)):
            if info.type == pafs.FileType.Directory and _NAME.match(info.base_name):
                if fs.get_file_info(f"{info.path}/_delta_log").type == pafs.FileType.Directory:
                    names.append(info.base_name)
        return sorted(names)

    def history(self, name: str, limit: int | None = None) -> list[Commit]:
        """Commits of ``name``, newest first (``DESCRIBE HISTORY``)."""
        self._require(name)
        history = self.spark.sql(f"DESCRIBE HISTORY {_by_path(self.path(name))}"
                                 + (f" LIMIT {int(limit)}" if limit else ""))
        # milliseconds, not a timestamp: Python would read that in its own local time zone
        rows = history.selectExpr("version", "unix_millis(timestamp) AS millis", "operation",
                                  "operationMetrics", "userMetadata").collect()
        return sorted((_commit(row) for row in rows), key=lambda c: c.version, reverse=True)

    def schema(self, name: str) -> StructType:
        self._require(name)
        return logical_schema(self.spark.read.format("delta").load(self.path(name)).schema)

    # -- data --------------------------------------------------------------------------
    def read(self, name: str, version: int | None = None, timestamp: str | dt.datetime | None = None) -> DataFrame:
        """The table's current snapshot, or the one at ``version`` or ``timestamp`` (time travel).

        The snapshot is pinned: the frame reads the version recorded in :attr:`lineage`, even
        if another writer commits while it is being read.
        """
        self._require(name)
        if version is not None and timestamp is not None:
            raise LakeError("read at a version or at a timestamp, not both")
        if timestamp is not None:
            version = self._version_at(name, timestamp)
        resolved = self.version(name) if version is None else int(version)
        try:
            df = self.spark.read.format("delta").option("versionAsOf", resolved).load(self.path(name))
            df.schema  # noqa: B018 - resolves the version now, so a missing one fails here
        except AnalysisException as err:
            raise LakeError(f"table {name!r} has no version {resolved}: {_first_line(err)}") from err
        self._reads[name] = resolved
        return with_vectors(df)

    def write(self, df: DataFrame, name: str, mode: str = "overwrite",
              partition_by: Sequence[str] | None = None, inputs: dict[str, int] | None = None,
              replace_where: str | None = None) -> int:
        """Write ``df`` as the next version of ``name`` in one Delta commit; return that version.

        ``mode`` is ``overwrite`` (replace the content, and the schema; with ``replace_where``
        only the rows matching that predicate, Delta's ``replaceWhere``) or ``append`` (the
        schema must match). ``inputs`` are the input table versions recorded with the commit
        (default: every table read through this lake).
        """
        if mode not in ("overwrite", "append"):
            raise LakeError(f"write mode must be 'overwrite' or 'append', not {mode!r}")
        if replace_where is not None and mode != "overwrite":
            raise LakeError("replace_where replaces rows of an overwrite; it makes no sense with append")
        partition_by = list(partition_by or [])
        for col in partition_by:
            if col not in df.columns:
                raise LakeError(f"partition column {col!r} is not a column of the frame for {name!r}")
        path = self.path(name)
        exists = self.exists(name)
        if exists and (mode == "append" or replace_where is not None):
            check_append_schema(name, self.schema(name), df.schema)
        txn, before = uuid.uuid4().hex, self.version(name) if exists else -1
        meta = _commit_metadata(self.run_id, inputs if inputs is not None else self.lineage, txn)
        writer = with_comments(as_stored(df), name).write.format("delta").mode(mode).option("userMetadata", meta)
        if replace_where is not None:
            writer = writer.option("replaceWhere", replace_where)
        elif mode == "overwrite":
            writer = writer.option("overwriteSchema", "true")
        if self.target_file_rows:
            writer = writer.option("maxRecordsPerFile", self.target_file_rows)
        if partition_by:
            writer = writer.partitionBy(*partition_by)
        with _conflicts_named(name, mode):
            writer.save(path)
        self._register_after_write(name)
        version = self._version_of(name, txn, before)
        self._writes[name] = version
        return version

    def merge(self, df: DataFrame, name: str, on: Sequence[str], inputs: dict[str, int] | None = None) -> int:
        """Upsert ``df`` into ``name`` with one ``MERGE INTO``: rows whose ``on`` columns match are
        updated, the others inserted; return the new version. Creates the table if it is missing."""
        if not on:
            raise LakeError("merge needs the key columns that identify a row (on=...)")
        if not self.exists(name):
            return self.write(df, name, inputs=inputs)
        check_append_schema(name, self.schema(name), df.schema)
        txn, before = uuid.uuid4().hex, self.version(name)
        meta = _commit_metadata(self.run_id, inputs if inputs is not None else self.lineage, txn)
        source = f"_churn_merge_{txn}"
        as_stored(df).createOrReplaceTempView(source)
        condition = " AND ".join(f"t.`{c}` <=> s.`{c}`" for c in on)
        try:
            with _commit_metadata_of_sql(self.spark, meta), _conflicts_named(name, "merge"):
                self.spark.sql(f"MERGE INTO {_by_path(self.path(name))} t USING {source} s ON {condition} "
                               "WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *")
        finally:
            self.spark.catalog.dropTempView(source)
        self._register_after_write(name)
        version = self._version_of(name, txn, before)
        self._writes[name] = version
        return version

    # -- the catalog -------------------------------------------------------------------
    def register(self, name: str) -> str:
        """Make ``<catalog>.<database>.<name>`` the catalog's name of the table at :meth:`path`.

        An external table (``USING delta LOCATION``): dropping it from the catalog leaves the
        data. A name that points elsewhere (another warehouse's table of the same name) is
        pointed here; a *managed* table of that name is refused, since dropping it would
        delete its data. The table comment of :mod:`churn_spark.lake.comments` is set when it
        differs (one metadata commit). Returns the catalog name.
        """
        ident, path = self.table_name(name), self.path(name)
        if _REGISTERED.get(ident) == path:  # a new version changes nothing in the catalog
            return ident
        if not self.spark.catalog.databaseExists(f"{self.catalog}.{self.database}"):
            self.spark.sql(f"CREATE SCHEMA IF NOT EXISTS {self.catalog}.{self.database} "
                           f"COMMENT {_sql_string(DATABASE_COMMENT)}")
        if self.spark.catalog.tableExists(ident):
            detail = self.spark.sql(f"DESCRIBE DETAIL {ident}").first()
            if _same_location(detail["location"], path):
                self._set_comment(ident, name, detail["description"])
                _REGISTERED[ident] = path
                return ident
            kind = self.spark.catalog.getTable(ident).tableType
            if kind != "EXTERNAL":
                raise LakeError(f"{ident} is a {kind.lower()} table at {detail['location']}, not the "
                                f"table at {path}: drop or rename it first")
            self.spark.sql(f"DROP TABLE {ident}")  # external: the catalog entry only, not the data
        self.spark.sql(f"CREATE TABLE IF NOT EXISTS {ident} USING delta LOCATION {_sql_string(path)}")
        self._set_comment(ident, name, self.spark.sql(f"DESCRIBE DETAIL {ident}").first()["description"])
        _REGISTERED[ident] = path
        return ident

    def _register_after_write(self, name: str) -> None:
        """:meth:`register` a table just committed; a catalog that cannot be reached is named on
        stderr, not raised: the commit stands, and ``churn-spark sql``/``thrift`` register it later."""
        try:
            self.register(name)
        except LakeError:
            raise
        except Exception as err:  # e.g. the embedded Derby metastore is held by another Spark application
            print(f"lake: table {name!r} committed but not registered as {self.table_name(name)}: "
                  f"{_first_line(err)}", file=sys.stderr)

    def register_all(self) -> list[str]:
        """:meth:`register` every table under the root (a warehouse copied or moved); return the names."""
        names = self.list()
        for name in names:
            self.register(name)
        return names

    def _set_comment(self, ident: str, name: str, current: str | None) -> None:
        wanted = TABLE_COMMENTS[name].comment if name in TABLE_COMMENTS else None
        if wanted and wanted != current:  # a metadata commit, recorded as this run's like any other
            meta = _commit_metadata(self.run_id, {}, uuid.uuid4().hex)
            with _commit_metadata_of_sql(self.spark, meta):
                self.spark.sql(f"COMMENT ON TABLE {ident} IS {_sql_string(wanted)}")

    # -- helpers -----------------------------------------------------------------------
    def _version_of(self, name: str, txn: str, before: int) -> int:
        """The version whose commit carries ``txn``: the first commit file after ``before`` that does.

        Read off the commit files, not ``DESCRIBE HISTORY`` (a Spark job per write); other
        writers may have committed since. Delta makes no commit for a write that adds and
        removes no file (an empty frame over an empty table): then ``before`` stands.
        """
        fs, base = pafs.FileSystem.from_uri(self.path(name))
        newer = sorted(v for v in self._commit_versions(fs, base) if v > before)
        for version in newer:
            if _commit_txn(fs, f"{base}/_delta_log/{version:020d}.json") == txn:
                return version
        if not newer and before >= 0:
            return before
        raise LakeError(f"commit {txn} not found in the log of {self.path(name)} after version {before}")

    @staticmethod
    def _commit_versions(fs: pafs.FileSystem, base: str) -> list[int]:
        return [int(info.base_name[:-5]) for info in fs.get_file_info(pafs.FileSelector(f"{base}/_delta_log"))
                if _COMMIT_FILE.match(info.base_name)]

    def _version_at(self, name: str, timestamp: str | dt.datetime) -> int:
        """The version current at ``timestamp``: the newest committed at or before it (``TIMESTAMP AS OF``)."""
        when = _as_utc(timestamp)
        before = [c.version for c in self.history(name) if c.timestamp <= when]
        if not before:
            raise LakeError(f"table {name!r} has no version at {when.isoformat()}: its first commit is later")
        return max(before)

    def _require(self, name: str) -> None:
        if not self.exists(name):
            raise LakeError(f"table {name!r} does not exist under {self.root}")


# catalog name -> table folder, as this process registered it: every change of a name's folder
# goes through Lake.register, so a name found here needs no catalog round trip on the next write
_REGISTERED: dict[str, str] = {}

DATABASE_COMMENT = "churn-spark: the tables of the churn pipeline (bronze inputs to gold scores)"


# ---------------------------------------------------------------------------------------
# vectors and comments, as stored


def _vector_columns(schema: StructType) -> list[str]:
    return [f.name for f in schema.fields if isinstance(f.dataType, UserDefinedType)]


def _identity(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    yield from batches


def as_stored(df: DataFrame) -> DataFrame:
    """``df`` with its vector columns as their structs (named in the column metadata).

    Spark casts no UDT to its struct; Arrow carries both the same way, so an identity
    ``mapInArrow`` with the storage schema converts without touching the values.
    """
    if _vector_columns(df.schema):
        df = df.mapInArrow(_identity, storage_schema(df.schema))
    return _plain_strings(df) if is_connect(df.sparkSession) else df


def _has_string(data_type: DataType) -> bool:
    if isinstance(data_type, StringType):
        return True
    if isinstance(data_type, ArrayType):
        return _has_string(data_type.elementType)
    if isinstance(data_type, MapType):
        return _has_string(data_type.keyType) or _has_string(data_type.valueType)
    return isinstance(data_type, StructType) and any(_has_string(f.dataType) for f in data_type.fields)


def _plain_strings(df: DataFrame) -> DataFrame:
    """``df`` with every string type cast to the plain ``string`` of a DDL name.

    A schema that a Spark Connect client sends (``mapInArrow``, ``createDataFrame``) reaches
    the server with an explicit default collation, which Delta writes into the table as
    ``string collate UTF8_BINARY``: a type that readers other than Spark (delta-rs, DuckDB)
    refuse. Casting to a type parsed from its DDL name gives the plain one back.
    """
    if not any(_has_string(f.dataType) for f in df.schema.fields):
        return df
    return df.select(*[F.col(f"`{f.name}`").cast(f.dataType.simpleString()).alias(f.name, metadata=f.metadata)
                       if _has_string(f.dataType) else F.col(f"`{f.name}`") for f in df.schema.fields])


def with_vectors(df: DataFrame) -> DataFrame:
    """Inverse of :func:`as_stored`: struct columns named as vectors become ``VectorUDT`` again."""
    logical = logical_schema(df.schema)
    if logical == df.schema:
        return df
    return df.mapInArrow(_identity, logical)


def with_comments(df: DataFrame, name: str) -> DataFrame:
    """``df`` with the column comments of table ``name`` in its schema (Delta keeps them)."""
    doc = TABLE_COMMENTS.get(name)
    if doc is None or not doc.columns:
        return df
    columns: list[Column] = []
    for f in df.schema.fields:
        text = doc.columns.get(f.name)
        columns.append(F.col(f"`{f.name}`").alias(f.name, metadata={**(f.metadata or {}), "comment": text})
                       if text else F.col(f"`{f.name}`"))
    return df.select(*columns)


# ---------------------------------------------------------------------------------------
# SQL and history helpers


def _by_path(path: str) -> str:
    return f"delta.`{path}`"


def _sql_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _same_location(location: str, path: str) -> bool:
    def norm(p: str) -> str:
        p = re.sub(r"^file:(//)?", "", p)
        return p.rstrip("/")
    return norm(location) == norm(path)


def _first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


def _commit_txn(fs: pafs.FileSystem, path: str) -> str | None:
    """The ``txn`` in a commit file's ``commitInfo``, its first line as Delta writes it."""
    with fs.open_input_stream(path) as stream:
        head = b""
        while b"\n" not in head and (chunk := stream.read(1 << 16)):
            head += chunk
    first = json.loads(head.split(b"\n", 1)[0] or b"{}")
    return _parse_user_metadata(first.get("commitInfo", {}).get("userMetadata")).get("txn")


def _as_utc(when: str | dt.datetime) -> dt.datetime:
    """A time given without a zone is UTC, the session's time zone (churn_spark.session)."""
    parsed = dt.datetime.fromisoformat(when) if isinstance(when, str) else when
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


def _commit(row: Any) -> Commit:
    user = _parse_user_metadata(row["userMetadata"])
    metrics = row["operationMetrics"] or {}
    return Commit(
        version=int(row["version"]), operation=row["operation"],
        timestamp=dt.datetime.fromtimestamp(row["millis"] / 1000, dt.timezone.utc),
        run_id=user.get("run_id"), inputs={k: int(v) for k, v in (user.get("inputs") or {}).items()},
        num_files=_maybe_int(metrics.get("numFiles") or metrics.get("numTargetFilesAdded")),
        num_rows=_maybe_int(metrics.get("numOutputRows")), txn=user.get("txn"))


def _maybe_int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


class _commit_metadata_of_sql:
    """``userMetadata`` for the Delta commits of SQL statements (which take no write options)."""

    KEY = "spark.databricks.delta.commitInfo.userMetadata"

    def __init__(self, spark: SparkSession, meta: str):
        self.spark, self.meta = spark, meta

    def __enter__(self) -> None:
        self.spark.conf.set(self.KEY, self.meta)

    def __exit__(self, *exc) -> bool:
        self.spark.conf.unset(self.KEY)
        return False


class _conflicts_named:
    """Turns Delta's optimistic-concurrency exceptions into :class:`ConcurrentWriteError`."""

    def __init__(self, name: str, operation: str):
        self.name, self.operation = name, operation

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, err, tb) -> bool:
        if err is not None and _is_conflict(err):
            raise ConcurrentWriteError(
                f"concurrent write to table {self.name!r}: another writer committed a conflicting change "
                f"first; this {self.operation} was not applied ({_first_line(err)})") from err
        return False


def _is_conflict(err: BaseException) -> bool:
    # io.delta.exceptions.Concurrent*Exception, error classes DELTA_CONCURRENT_* (classic and Connect)
    text = f"{type(err).__name__} {err}"
    return "DELTA_CONCURRENT" in text or "Concurrent" in text and "Exception" in text
