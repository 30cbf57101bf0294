"""The Delta table layer: real local Spark with Delta Lake's jars, real files; delta-rs as the independent reader."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pyarrow as pa
import pyarrow.dataset as pads
import pytest
from deltalake import DeltaTable
from pyspark.ml.linalg import SparseVector, Vectors, VectorUDT
from pyspark.sql import functions as F
from pyspark.sql.types import LongType, StructField, StructType

from churn_spark.lake.tables import ConcurrentWriteError, Lake, LakeError, SchemaMismatchError


@pytest.fixture
def lake(spark, tmp_path):
    return Lake(spark, root=str(tmp_path / "wh"), run_id="run-test")


def _frame(spark, n: int, offset: int = 0):
    return spark.range(offset, offset + n).select(
        F.col("id").cast("long").alias("id"),
        F.concat(F.lit("c"), (F.col("id") % 3).cast("string")).alias("cat"),
        (F.col("id") * 0.5).alias("x"),
        F.to_date(F.lit("2005-01-01")).alias("day"),
        F.to_timestamp(F.lit("2005-01-01 10:00:00")).alias("ts"),
    )


def _add_actions(path: str, version: int | None = None) -> list[dict]:
    table = DeltaTable(path, version=version) if version is not None else DeltaTable(path)
    return pa.table(table.get_add_actions(flatten=True)).to_pylist()


def test_round_trip_preserves_rows_and_schema(spark, lake):
    df = _frame(spark, 100).repartition(3)
    version = lake.write(df, "things")
    assert version == 0
    back = lake.read("things")
    assert back.schema.names == df.schema.names
    assert [f.dataType for f in back.schema] == [f.dataType for f in df.schema]
    assert sorted(map(tuple, back.collect())) == sorted(map(tuple, df.collect()))
    assert lake.list() == ["things"]
    # the committed files carry row counts and min/max statistics
    adds = _add_actions(lake.path("things"))
    assert sum(a["num_records"] for a in adds) == 100
    assert min(a["min.id"] for a in adds) == 0 and max(a["max.id"] for a in adds) == 99
    # and the table is in the catalog under its name, at its folder
    detail = spark.sql(f"DESCRIBE DETAIL {lake.table_name('things')}").first()
    assert detail["location"].rstrip("/").endswith(lake.path("things"))
    assert spark.sql(f"SELECT count(*) FROM {lake.table_name('things')}").first()[0] == 100


def test_overwrite_then_time_travel_and_history(spark, lake):
    lake.write(_frame(spark, 10), "t")
    lake.write(_frame(spark, 5, offset=100), "t", mode="overwrite")
    assert lake.read("t").count() == 5
    old = lake.read("t", version=0)
    assert sorted(r.id for r in old.collect()) == list(range(10))
    history = lake.history("t")
    assert [c.operation for c in history] == ["WRITE", "WRITE"]
    assert [c.version for c in history] == [1, 0]
    assert all(c.run_id == "run-test" for c in history)
    with pytest.raises(LakeError, match="no version 7"):
        lake.read("t", version=7)
    # time travel by timestamp: the version current at a moment between the two commits
    first, second = history[1].timestamp, history[0].timestamp
    assert lake.read("t", timestamp=first + (second - first) / 2).count() == 10
    assert lake.lineage["t"] == 0
    with pytest.raises(LakeError, match="first commit is later"):
        lake.read("t", timestamp=first - dt.timedelta(days=1))


def test_commit_records_run_id_and_input_versions(spark, lake):
    lake.write(_frame(spark, 3), "src")
    lake.write(_frame(spark, 4), "src")
    derived = lake.read("src").where("id > 0")
    lake.write(derived, "dst")
    commit = lake.history("dst")[0]
    assert commit.inputs == {"src": 1}
    assert commit.run_id == "run-test"
    raw = DeltaTable(lake.path("dst")).history()[0]["userMetadata"]
    assert json.loads(raw)["inputs"] == {"src": 1}


def test_append_adds_rows_and_mismatched_schema_fails_naming_columns(spark, lake):
    lake.write(_frame(spark, 10), "t")
    lake.write(_frame(spark, 10, offset=10), "t", mode="append")
    assert lake.read("t").count() == 20
    bad = _frame(spark, 2).drop("x").withColumn("x", F.col("id").cast("string")) \
        .withColumn("extra", F.lit(1))
    with pytest.raises(SchemaMismatchError) as err:
        lake.write(bad, "t", mode="append")
    message = str(err.value)
    assert "'extra'" in message and "x (" in message
    assert lake.read("t").count() == 20
    assert lake.version("t") == 1


def test_failed_write_leaves_previous_version(spark, lake):
    lake.write(_frame(spark, 50), "t")
    committed = {a["path"] for a in _add_actions(lake.path("t"))}

    @F.udf("long")
    def explode_on_77(x):
        if x == 77:
            raise ValueError("boom in the middle of the job")
        return x

    failing = _frame(spark, 200).repartition(4).withColumn("id", explode_on_77("id"))
    with pytest.raises(Exception, match="boom"):
        lake.write(failing, "t")
    assert lake.version("t") == 0
    assert lake.read("t").count() == 50
    # files the failed tasks wrote may lie in the folder, but no version names them
    assert {a["path"] for a in _add_actions(lake.path("t"))} == committed


def test_partitioned_table_round_trip_and_pyarrow_reads_it_without_spark(spark, lake):
    df = _frame(spark, 30)
    lake.write(df, "parts", partition_by=["cat"])
    dirs = sorted(d for d in os.listdir(lake.path("parts")) if d.startswith("cat="))
    assert dirs == ["cat=c0", "cat=c1", "cat=c2"]
    back = lake.read("parts")
    assert back.schema.names == df.schema.names
    assert sorted(map(tuple, back.collect())) == sorted(map(tuple, df.collect()))
    # a real Delta table: delta-rs + pyarrow read the same rows, no Spark involved
    table = DeltaTable(lake.path("parts")).to_pyarrow_table()
    assert table.num_rows == 30
    rows = sorted(zip(table["id"].to_pylist(), table["cat"].to_pylist(), table["x"].to_pylist(), strict=True))
    assert rows == sorted((r.id, r.cat, r.x) for r in df.collect())
    assert table.schema.field("ts").type.tz == "UTC"
    assert table["ts"][0].as_py() == dt.datetime(2005, 1, 1, 10, tzinfo=dt.timezone.utc)
    # and the bare files are not what Delta reads: a stale file outside the log is ignored
    lake.write(_frame(spark, 3), "parts", mode="overwrite", partition_by=["cat"])
    assert DeltaTable(lake.path("parts")).to_pyarrow_table().num_rows == 3
    assert pads.dataset(lake.path("parts"), format="parquet",
                        exclude_invalid_files=True).count_rows() >= 33


def test_vector_columns_survive_and_are_structs_for_other_readers(spark, lake):
    rows = [(1, Vectors.sparse(5, [0, 3], [1.0, 2.5])), (2, Vectors.sparse(5, [], [])),
            (3, Vectors.dense([1.0, 2.0]))]
    schema = StructType([StructField("unit", LongType()), StructField("vec", VectorUDT())])
    df = spark.createDataFrame(rows, schema)
    lake.write(df, "vecs")
    back = {r.unit: r.vec for r in lake.read("vecs").collect()}
    assert back[1] == SparseVector(5, [0, 3], [1.0, 2.5])
    assert back[2].numNonzeros() == 0 and back[3][1] == 2.0
    table = DeltaTable(lake.path("vecs")).to_pyarrow_table()
    assert set(table.schema.field("vec").type.names) == {"type", "size", "indices", "values"}


def test_concurrent_appends_both_land(spark, lake):
    lake.write(_frame(spark, 1), "t")
    errors = []

    def append(offset):
        try:
            Lake(spark, root=lake.root).write(
                _frame(spark, 10, offset=offset), "t", mode="append")
        except Exception as err:  # pragma: no cover - reported by the assert below
            errors.append(err)

    threads = [threading.Thread(target=append, args=(o,)) for o in (100, 200)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert errors == []
    assert lake.read("t").count() == 21
    assert lake.version("t") == 2


def test_conflicting_overwrites_one_wins_other_gets_clear_error(spark, lake, tmp_path):
    lake.write(_frame(spark, 5), "t")
    started, go = tmp_path / "started", tmp_path / "go"

    @F.udf("long")
    def wait_for_go(x):
        # runs inside the second writer's Spark job, after it took its snapshot (v0)
        import pathlib
        import time
        pathlib.Path(started).touch()
        for _ in range(600):
            if pathlib.Path(go).exists():
                break
            time.sleep(0.1)
        return x

    errors = []

    def second_overwrite():
        try:
            slow = _frame(spark, 7, offset=700).coalesce(1).withColumn("id", wait_for_go("id"))
            Lake(spark, root=lake.root, run_id="second").write(slow, "t")
        except Exception as err:
            errors.append(err)

    t = threading.Thread(target=second_overwrite)
    t.start()
    for _ in range(600):
        if started.exists():
            break
        threading.Event().wait(0.1)
    Lake(spark, root=lake.root, run_id="first").write(_frame(spark, 3, offset=300), "t")
    go.touch()
    t.join()
    assert len(errors) == 1 and isinstance(errors[0], ConcurrentWriteError)
    assert "concurrent write to table 't'" in str(errors[0])
    assert sorted(r.id for r in lake.read("t").collect()) == [300, 301, 302]
    assert [c.run_id for c in lake.history("t") if c.operation == "WRITE"] == ["first", "run-test"]


def test_a_killed_writer_leaves_the_previous_version_intact(spark, lake, tmp_path):
    """kill -9 of a job in the middle of its write: the table reads as before, at the same version."""
    lake.write(_frame(spark, 5), "t")
    started = tmp_path / "started"
    script = tmp_path / "writer.py"
    script.write_text(textwrap.dedent(f"""
        import pathlib, time
        from pyspark.sql import functions as F
        from churn_spark.config import load_config
        from churn_spark.lake.tables import Lake
        from churn_spark.session import get_spark

        cfg = load_config(["local"], ["run.warehouse={tmp_path / 'writer_wh'}", "spark.driver_memory=1g"])
        spark = get_spark(cfg)

        @F.udf("long")
        def slow(x):
            pathlib.Path({str(started)!r}).touch()
            time.sleep(600)
            return x

        Lake(spark, root={lake.root!r}, run_id="killed").write(spark.range(1000).withColumn("id", slow("id")), "t")
    """))
    writer = subprocess.Popen([sys.executable, str(script)], start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 180
        while not started.exists() and time.time() < deadline and writer.poll() is None:
            time.sleep(0.5)
        assert started.exists(), "the writer never reached its write"
    finally:
        os.killpg(writer.pid, signal.SIGKILL)
        writer.wait(60)
    assert lake.version("t") == 0
    assert lake.read("t").count() == 5
    assert [c.run_id for c in lake.history("t") if c.operation == "WRITE"] == ["run-test"]
    lake.write(_frame(spark, 6), "t")  # and the next writer is not in the way of anything
    assert lake.read("t").count() == 6


def test_replace_where_replaces_only_the_matching_rows_in_one_commit(spark, lake):
    lake.write(_frame(spark, 30), "parts", partition_by=["cat"])
    replacement = _frame(spark, 3, offset=1000).withColumn("cat", F.lit("c0"))
    version = lake.write(replacement, "parts", replace_where="cat = 'c0'")
    assert version == lake.version("parts")
    assert lake.history("parts")[0].operation == "WRITE"
    back = lake.read("parts")
    assert sorted(r.id for r in back.where("cat = 'c0'").collect()) == [1000, 1001, 1002]
    assert back.where("cat != 'c0'").count() == 20  # the other partitions are untouched
    # rows outside the predicate are refused by Delta, and the table stays as it was
    with pytest.raises(Exception, match="DELTA_REPLACE_WHERE_MISMATCH"):
        lake.write(_frame(spark, 3, offset=2000), "parts", replace_where="cat = 'c0'")
    assert lake.version("parts") == version
    with pytest.raises(LakeError, match="append"):
        lake.write(replacement, "parts", mode="append", replace_where="cat = 'c0'")


def test_an_empty_frame_over_an_empty_table_is_a_write_that_changes_nothing(spark, lake):
    empty = _frame(spark, 0)
    first = lake.write(empty, "t")
    assert lake.write(empty, "t") == lake.version("t") >= first  # Delta made no commit: nothing to add or remove
    assert lake.read("t").count() == 0
