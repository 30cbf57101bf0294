"""Delta tables by name under one warehouse root: the only way jobs read and write data.

``Lake.write`` / ``Lake.read`` / ``Lake.history`` / ``Lake.list`` hide which of two
backends does the work:

* **native** — ``format("delta")`` when the Delta Lake Spark classes are on the classpath
  (a cluster with the ``io.delta:delta-spark`` jars, Databricks).
* **embedded** (the default where the jars are missing, e.g. a pip-only machine) — Spark
  writes the Parquet data files in parallel into a staging folder of the table; the driver
  moves them into the table folder, reads each file's footer for its row count and min/max
  statistics, and ``deltalake`` (delta-rs) commits exactly those files as add actions in one
  atomic commit. Overwrite removes the previous files logically (they stay for time travel).
  Reads ask delta-rs for the snapshot's file list and let Spark read those files with the
  table's schema.

Every commit carries ``userMetadata`` = JSON ``{"run_id", "inputs": {table: version}, "txn"}``
so that each table version says which run wrote it from which input versions. The input
versions default to every table this ``Lake`` has read so far (the job's lineage).

Spark ML vector columns (``VectorUDT``) are stored as their struct
``struct<type,size,indices,values>`` with the UDT named in the column metadata, so any Delta
reader sees plain types while ``read`` gives vectors back.

The module (~650 lines) holds the ``Lake`` and both backends together on purpose: they share the
commit metadata, the schema mapping and the error types, and one reads the two side by side to
check they give the same tables.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import socket
import time
import urllib.parse
import uuid
from dataclasses import dataclass
from typing import Any

import pyarrow.fs as pafs
import pyarrow.parquet as pq
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import DataType, StructField, StructType, UserDefinedType

from churn_spark.config import Config
from churn_spark.session import delta_jars_present

UDT_KEY = "churn_spark.udt"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_STAGING = "_staging"
_STRING_STATS_MAX = 32  # Delta truncates string statistics; we keep only exact short ones


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
# schema helpers shared by both backends


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
    """Read and write Delta tables by name under ``root``.

    >>> lake = Lake(spark, cfg)                  # root = cfg.run.warehouse
    >>> lake.write(df, "emails")                 # overwrite, returns the new version
    >>> lake.read("emails", version=0)           # time travel
    """

    def __init__(self, spark: SparkSession, cfg: Config | None = None, *, root: str | None = None,
                 backend: str | None = None, run_id: str | None = None):
        self.spark = spark
        root = root or (cfg.run.warehouse if cfg is not None else None)
        if not root:
            raise LakeError("no warehouse root: pass root= or set run.warehouse")
        self.root = root if "://" in root else os.path.abspath(root)
        self.run_id = run_id or os.environ.get("CHURN_SPARK_RUN_ID") or new_run_id()
        self.target_file_rows = cfg.lake.target_file_rows if cfg is not None else 1_000_000
        self.stale_staging_hours = cfg.lake.stale_staging_hours if cfg is not None else 24.0
        choice = backend or (cfg.lake.backend if cfg is not None else "auto")
        if choice == "auto":
            choice = "native" if delta_jars_present(spark) else "embedded"
        if choice not in ("native", "embedded"):
            raise LakeError(f"lake.backend must be auto, embedded or native, not {choice!r}")
        if choice == "native" and not delta_jars_present(spark):
            raise LakeError("lake.backend=native but the Delta Lake jars (io.delta:delta-spark) "
                            "are not on the Spark classpath")
        self.backend = choice
        self._impl = _NativeBackend(self) if choice == "native" else _EmbeddedBackend(self)
        self._reads: dict[str, int] = {}
        self._writes: dict[str, int] = {}

    # -- naming ------------------------------------------------------------------------
    def path(self, name: str) -> str:
        if not _NAME.match(name):
            raise LakeError(f"invalid table name {name!r}: use lower_snake_case")
        return f"{self.root.rstrip('/')}/{name}"

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
        return self._impl.exists(self.path(name))

    def version(self, name: str) -> int:
        self._require(name)
        return self._impl.version(self.path(name))

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

    def history(self, name: str) -> list[Commit]:
        """Commits of ``name``, newest first."""
        self._require(name)
        return self._impl.history(self.path(name))

    def schema(self, name: str) -> StructType:
        self._require(name)
        return self._impl.schema(self.path(name))

    # -- data --------------------------------------------------------------------------
    def read(self, name: str, version: int | None = None) -> DataFrame:
        """The table's current snapshot, or the one at ``version`` (time travel)."""
        self._require(name)
        df, resolved = self._impl.read(self.path(name), version)
        self._reads[name] = resolved
        return df

    def write(self, df: DataFrame, name: str, mode: str = "overwrite",
              partition_by: list[str] | None = None, inputs: dict[str, int] | None = None) -> int:
        """Write ``df`` as the next version of ``name``; return that version.

        ``mode`` is ``overwrite`` (replace the content, and the schema) or ``append`` (the
        schema must match). ``inputs`` are the input table versions recorded with the commit
        (default: every table read through this lake).
        """
        if mode not in ("overwrite", "append"):
            raise LakeError(f"write mode must be 'overwrite' or 'append', not {mode!r}")
        partition_by = list(partition_by or [])
        for col in partition_by:
            if col not in df.columns:
                raise LakeError(f"partition column {col!r} is not a column of the frame for {name!r}")
        path = self.path(name)
        txn = uuid.uuid4().hex
        meta = _commit_metadata(self.run_id, inputs if inputs is not None else self.lineage, txn)
        self._impl.write(df, name, path, mode, partition_by, meta, txn)
        version = self._version_of(path, txn)
        self._writes[name] = version
        return version

    def _version_of(self, path: str, txn: str) -> int:
        """The version whose commit carries ``txn`` (other writers may have committed since)."""
        for commit in self._impl.history(path):
            if commit.txn == txn:
                return commit.version
        raise LakeError(f"commit {txn} not found in the history of {path}")

    def _require(self, name: str) -> None:
        if not self.exists(name):
            raise LakeError(f"table {name!r} does not exist under {self.root}")


# ---------------------------------------------------------------------------------------
# embedded backend: Spark writes Parquet, delta-rs commits


def _file_stats(fs: pafs.FileSystem, path: str) -> tuple[int, dict[str, Any]]:
    """Row count and Delta statistics (numRecords, minValues, maxValues, nullCount) of a file."""
    with fs.open_input_file(path) as fh:
        meta = pq.read_metadata(fh)
    schema = meta.schema.to_arrow_schema()
    top_level = {name: i for i, name in enumerate(schema.names)}
    mins: dict[str, Any] = {}
    maxs: dict[str, Any] = {}
    nulls: dict[str, int] = {}
    for name in top_level:
        ftype = schema.field(name).type
        nested = ftype.num_fields > 0
        lo = hi = None
        null_count = 0
        exact = not nested
        for rg in range(meta.num_row_groups):
            group = meta.row_group(rg)
            col = next((group.column(c) for c in range(group.num_columns)
                        if group.column(c).path_in_schema == name), None)
            stats = col.statistics if col is not None else None
            if stats is None:
                exact = False
                continue
            null_count += stats.null_count if stats.has_null_count else 0
            if stats.has_min_max:
                lo = stats.min if lo is None else min(lo, stats.min)
                hi = stats.max if hi is None else max(hi, stats.max)
        if nested:
            continue
        nulls[name] = null_count
        if not exact or lo is None:
            continue
        lo_json, hi_json = _stat_value(lo), _stat_value(hi)
        if lo_json is not None and hi_json is not None:
            mins[name], maxs[name] = lo_json, hi_json
    stats = {"numRecords": meta.num_rows, "minValues": mins, "maxValues": maxs, "nullCount": nulls}
    return meta.num_rows, stats


def _stat_value(value: Any) -> Any:
    """A footer min/max as Delta's JSON statistics want it, or None to leave it out."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int,)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        return value if len(value) <= _STRING_STATS_MAX else None
    return None


def _partition_values(rel_path: str, partition_by: list[str]) -> dict[str, str | None]:
    """Partition values from a Hive-style relative path ``a=1/b=x/part-....parquet``."""
    found: dict[str, str | None] = {}
    for segment in rel_path.split("/")[:-1]:
        if "=" in segment:
            key, raw = segment.split("=", 1)
            value = urllib.parse.unquote(raw)
            found[key] = None if value == "__HIVE_DEFAULT_PARTITION__" else value
    missing = [c for c in partition_by if c not in found]
    if missing:
        raise LakeError(f"file {rel_path} lacks partition directories for {missing}")
    return {c: found[c] for c in partition_by}


class _EmbeddedBackend:
    def __init__(self, lake: Lake):
        self.lake = lake

    @staticmethod
    def _table(path: str, version: int | None = None):
        from deltalake import DeltaTable
        return DeltaTable(path, version=version) if version is not None else DeltaTable(path)

    def exists(self, path: str) -> bool:
        from deltalake import DeltaTable
        return DeltaTable.is_deltatable(path)

    def version(self, path: str) -> int:
        return self._table(path).version()

    def schema(self, path: str) -> StructType:
        return logical_schema(StructType.fromJson(json.loads(self._table(path).schema().to_json())))

    def history(self, path: str) -> list[Commit]:
        commits = []
        for entry in self._table(path).history():
            user = _parse_user_metadata(entry.get("userMetadata"))
            metrics = entry.get("operationMetrics") or {}
            commits.append(Commit(
                version=int(entry["version"]),
                timestamp=dt.datetime.fromtimestamp(entry["timestamp"] / 1000, dt.timezone.utc),
                operation=str(entry.get("operation", "")),
                run_id=user.get("run_id"),
                inputs={k: int(v) for k, v in (user.get("inputs") or {}).items()},
                num_files=_maybe_int(metrics.get("num_added_files")),
                num_rows=_maybe_int(metrics.get("num_added_rows")),
                txn=user.get("txn"),
            ))
        return sorted(commits, key=lambda c: c.version, reverse=True)

    def read(self, path: str, version: int | None) -> tuple[DataFrame, int]:
        try:
            table = self._table(path, version)
        except Exception as err:  # delta-rs raises for versions that do not exist
            raise LakeError(f"cannot open {path} at version {version}: {err}") from err
        stored = StructType.fromJson(json.loads(table.schema().to_json()))
        schema = logical_schema(stored)
        files = table.file_uris()
        spark = self.lake.spark
        if not files:
            return spark.createDataFrame([], schema), table.version()
        partitions = list(table.metadata().partition_columns)
        reader = spark.read.schema(schema)
        if partitions:
            reader = reader.option("basePath", path)
        df = reader.parquet(*files).select(*schema.names)
        return df, table.version()

    def write(self, df: DataFrame, name: str, path: str, mode: str, partition_by: list[str],
              meta: str, txn: str) -> None:
        from deltalake import CommitProperties, DeltaTable, Schema
        from deltalake.transaction import AddAction, create_table_with_add_actions

        stored = storage_schema(df.schema)
        delta_schema = Schema.from_json(stored.json())
        # The snapshot this write is based on: a commit by someone else after this point
        # is a concurrent change that delta-rs checks against (Delta's conflict rules).
        table = DeltaTable(path) if DeltaTable.is_deltatable(path) else None
        if table is not None:
            existing_parts = list(table.metadata().partition_columns)
            if mode == "append":
                current = StructType.fromJson(json.loads(table.schema().to_json()))
                check_append_schema(name, logical_schema(current), df.schema)
                if partition_by and partition_by != existing_parts:
                    raise LakeError(f"cannot append to {name!r} partitioned by {partition_by}: "
                                    f"the table is partitioned by {existing_parts}")
                partition_by = existing_parts

        fs, base = pafs.FileSystem.from_uri(path)
        self._clean_stale_staging(fs, base, path)
        staging = f"{base}/{_STAGING}/{txn}"
        moved: list[str] = []
        committed = False
        try:
            _write_marker(fs, base, txn, [])
            writer = df.write.mode("overwrite")
            if self.lake.target_file_rows:
                writer = writer.option("maxRecordsPerFile", self.lake.target_file_rows)
            if partition_by:
                writer = writer.partitionBy(*partition_by)
            writer.parquet(_uri(path, f"{_STAGING}/{txn}"))

            adds = []
            now_ms = int(time.time() * 1000)
            staged = [info for info in fs.get_file_info(pafs.FileSelector(staging, recursive=True))
                      if info.type == pafs.FileType.File and info.base_name.endswith(".parquet")]
            # name the files before moving them: a writer killed from here on leaves a marker
            # from which the next writer removes what never got committed
            _write_marker(fs, base, txn, [f"{base}/{info.path[len(staging) + 1:]}" for info in staged])
            for info in staged:
                rel = info.path[len(staging) + 1:]
                target = f"{base}/{rel}"
                fs.create_dir(target.rsplit("/", 1)[0], recursive=True)
                fs.move(info.path, target)
                moved.append(target)
                _, stats = _file_stats(fs, target)
                adds.append(AddAction(
                    path=rel, size=info.size, partition_values=_partition_values(rel, partition_by),
                    modification_time=now_ms, data_change=True, stats=json.dumps(stats)))
            props = CommitProperties(custom_metadata={"userMetadata": meta})
            if table is None:
                create_table_with_add_actions(path, delta_schema, adds, mode="error",
                                              partition_by=partition_by or None, commit_properties=props)
            else:
                table.create_write_transaction(adds, mode=mode, schema=delta_schema,
                                               partition_by=partition_by or None, commit_properties=props)
            committed = True
        except BaseException as err:  # Ctrl-C too: nothing uncommitted may stay visible on disk
            committed = self._committed(path, txn)
            if not committed:
                for target in moved:
                    _delete_quietly(fs, target)
                if _is_conflict(err):
                    raise ConcurrentWriteError(
                        f"concurrent write to table {name!r}: another writer committed a conflicting "
                        f"change first; this {mode} was not applied ({err})") from err
                raise
        finally:
            _delete_quietly(fs, staging, directory=True)
            _delete_quietly(fs, _marker_path(base, txn))
            _remove_if_empty(fs, f"{base}/{_STAGING}")

    def _clean_stale_staging(self, fs: pafs.FileSystem, base: str, path: str) -> None:
        """Remove what writers that died (killed, crashed host) left in ``_staging``.

        A writer is dead when its marker names this host and a process that no longer
        exists, or when the marker is older than ``lake.stale_staging_hours``. Files it had
        already moved into the table folder are deleted unless its commit reached the log.
        """
        folder = f"{base}/{_STAGING}"
        infos = fs.get_file_info(pafs.FileSelector(folder, allow_not_found=True))
        for info in infos:
            if info.type != pafs.FileType.File or not info.base_name.endswith(_MARKER):
                continue
            txn = info.base_name[: -len(_MARKER)]
            try:
                with fs.open_input_stream(info.path) as fh:
                    marker = json.loads(fh.read().decode("utf-8"))
            except (OSError, ValueError):
                continue
            if not _writer_is_dead(marker, self.lake.stale_staging_hours):
                continue
            if not self._committed(path, txn):
                for target in marker.get("targets", []):
                    _delete_quietly(fs, target)
            _delete_quietly(fs, f"{folder}/{txn}", directory=True)
            _delete_quietly(fs, info.path)
        _remove_if_empty(fs, folder)

    def _committed(self, path: str, txn: str) -> bool:
        """Whether a commit carrying ``txn`` reached the log (then its files must stay)."""
        try:
            return any(c.txn == txn for c in self.history(path))
        except Exception:  # no table yet
            return False


_MARKER = ".writer"


def _marker_path(base: str, txn: str) -> str:
    return f"{base}/{_STAGING}/{txn}{_MARKER}"


def _write_marker(fs: pafs.FileSystem, base: str, txn: str, targets: list[str]) -> None:
    """Who is writing ``txn`` (host, pid, start) and which table files it is about to add."""
    fs.create_dir(f"{base}/{_STAGING}", recursive=True)
    marker = {"host": socket.gethostname(), "pid": os.getpid(), "started": time.time(), "targets": targets}
    with fs.open_output_stream(_marker_path(base, txn)) as fh:
        fh.write(json.dumps(marker).encode("utf-8"))


def _writer_is_dead(marker: dict[str, Any], stale_hours: float) -> bool:
    if time.time() - float(marker.get("started", 0)) > stale_hours * 3600:
        return True
    if marker.get("host") != socket.gethostname():
        return False
    try:
        os.kill(int(marker["pid"]), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, KeyError, ValueError, TypeError):
        return False
    return False


def _uri(path: str, rel: str) -> str:
    return f"{path.rstrip('/')}/{rel}"


def _is_conflict(err: Exception) -> bool:
    from deltalake.exceptions import CommitFailedError
    text = str(err).lower()
    return isinstance(err, CommitFailedError) or "conflict" in text or "concurrent" in text \
        or "already exists" in text


def _delete_quietly(fs: pafs.FileSystem, path: str, directory: bool = False) -> None:
    try:
        info = fs.get_file_info(path)
        if info.type == pafs.FileType.NotFound:
            return
        if directory:
            fs.delete_dir(path)
        else:
            fs.delete_file(path)
    except OSError:
        pass


def _remove_if_empty(fs: pafs.FileSystem, path: str) -> None:
    try:
        if not fs.get_file_info(pafs.FileSelector(path, allow_not_found=True)):
            _delete_quietly(fs, path, directory=True)
    except OSError:
        pass


def _maybe_int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


# ---------------------------------------------------------------------------------------
# native backend: Delta Lake's own Spark data source


class _NativeBackend:
    def __init__(self, lake: Lake):
        self.lake = lake
        self.spark = lake.spark

    def _delta_table(self, path: str):
        jvm = self.spark.sparkContext._jvm
        return jvm.io.delta.tables.DeltaTable.forPath(self.spark._jsparkSession, path)

    def exists(self, path: str) -> bool:
        jvm = self.spark.sparkContext._jvm
        return bool(jvm.io.delta.tables.DeltaTable.isDeltaTable(self.spark._jsparkSession, path))

    def version(self, path: str) -> int:
        return self.history(path)[0].version

    def schema(self, path: str) -> StructType:
        return logical_schema(self.spark.read.format("delta").load(path).schema)

    def history(self, path: str) -> list[Commit]:
        rows = DataFrame(self._delta_table(path).history(), self.spark).collect()
        commits = []
        for row in rows:
            user = _parse_user_metadata(row["userMetadata"])
            metrics = row["operationMetrics"] or {}
            commits.append(Commit(
                version=int(row["version"]), timestamp=row["timestamp"], operation=row["operation"],
                run_id=user.get("run_id"), inputs={k: int(v) for k, v in (user.get("inputs") or {}).items()},
                num_files=_maybe_int(metrics.get("numFiles")),
                num_rows=_maybe_int(metrics.get("numOutputRows")), txn=user.get("txn")))
        return sorted(commits, key=lambda c: c.version, reverse=True)

    def read(self, path: str, version: int | None) -> tuple[DataFrame, int]:
        reader = self.spark.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", version)
        df = reader.load(path)
        schema = logical_schema(df.schema)
        resolved = version if version is not None else self.version(path)
        if schema != df.schema:  # vectors stored as structs come back as vectors
            df = self.spark.createDataFrame(df.rdd, schema)
        return df, resolved

    def write(self, df: DataFrame, name: str, path: str, mode: str, partition_by: list[str],
              meta: str, txn: str) -> None:
        if mode == "append" and self.exists(path):
            check_append_schema(name, self.schema(path), df.schema)
        writer = df.write.format("delta").mode(mode).option("userMetadata", meta)
        if mode == "overwrite":
            writer = writer.option("overwriteSchema", "true")
        if partition_by:
            writer = writer.partitionBy(*partition_by)
        try:
            writer.save(path)
        except Exception as err:
            if "Concurrent" in str(err) or "conflict" in str(err).lower():
                raise ConcurrentWriteError(f"concurrent write to table {name!r}: {err}") from err
            raise
