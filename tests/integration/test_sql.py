"""SQL over the tables: catalog tables in database churn, the CLI, and JDBC through beeline."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest
from pyspark.sql import functions as F

from churn_spark.app.cli import main
from churn_spark.lake.sql import beeline_path, register_tables, wait_for_port
from churn_spark.lake.tables import Lake


@pytest.fixture
def warehouse(spark, tmp_path):
    root = str(tmp_path / "wh")
    lake = Lake(spark, root=root)
    lake.write(spark.range(10).withColumn("decile", F.col("id") % 5), "churn_scores")
    lake.write(spark.createDataFrame([("structured", 0.74), ("structured_text", 0.78)],
                                     "model string, auc double"), "model_metrics")
    return lake


def test_tables_are_queryable_by_name_and_read_their_current_version(spark, warehouse):
    names = register_tables(warehouse)
    assert names == ["churn_scores", "model_metrics"]
    assert spark.sql("SELECT count(*) FROM churn.churn_scores").first()[0] == 10
    best = spark.sql("SELECT model FROM churn.model_metrics ORDER BY auc DESC LIMIT 1").first()[0]
    assert best == "structured_text"
    # a catalog table is the table, not a snapshot: a new version shows at once, the old one by VERSION AS OF
    warehouse.write(spark.range(3).withColumn("decile", F.lit(1)), "churn_scores")
    assert spark.sql("SELECT count(*) FROM churn.churn_scores").first()[0] == 3
    assert spark.sql("SELECT count(*) FROM churn.churn_scores VERSION AS OF 0").first()[0] == 10


def test_a_moved_warehouse_is_registered_again_at_its_new_place(spark, warehouse, tmp_path):
    import shutil
    moved = Lake(spark, root=str(tmp_path / "moved"))
    shutil.copytree(warehouse.root, moved.root, ignore=shutil.ignore_patterns("_catalog"))
    assert register_tables(moved) == ["churn_scores", "model_metrics"]
    location = spark.sql("DESCRIBE DETAIL churn.churn_scores").first()["location"]
    assert location.rstrip("/").endswith(moved.path("churn_scores"))


def test_sql_command_prints_a_result(warehouse, capsys):
    code = main(["sql", "--warehouse", warehouse.root,
                 "SELECT decile, count(*) AS n FROM churn.churn_scores GROUP BY decile ORDER BY decile"])
    out = capsys.readouterr().out
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[0].split("|")[0].strip() == "decile"
    assert [ln.split("|")[1].strip() for ln in lines[2:7]] == ["2"] * 5
    assert "(5 rows)" in out


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_thrift_server_answers_jdbc_queries_from_beeline(spark, warehouse, tmp_path):
    port = _free_port()
    env = {**os.environ, "CHURN_SPARK_VERBOSE": "1"}
    log = open(tmp_path / "thrift.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "churn_spark.app.cli", "thrift", "--warehouse", warehouse.root,
         "--port", str(port), "--conf", "spark.driver_memory=1g"],
        stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        assert wait_for_port("127.0.0.1", port, timeout=180), (tmp_path / "thrift.log").read_text()[-3000:]
        for _ in range(120):  # the tables this warehouse's catalog did not have yet are registered
            if "thrift: serving" in (tmp_path / "thrift.log").read_text():
                break
            time.sleep(0.5)
        result = subprocess.run(
            [beeline_path(), "-u", f"jdbc:hive2://127.0.0.1:{port}/default", "-n", "analyst",
             "--silent=true", "--outputformat=csv2", "-e",
             "SELECT model, auc FROM churn.model_metrics ORDER BY auc DESC;"
             "SELECT sum(id) AS s FROM churn.churn_scores;"],
            capture_output=True, text=True, timeout=180)
        lines = [ln for ln in result.stdout.splitlines() if ln.strip()]
        assert lines[:3] == ["model,auc", "structured_text,0.78", "structured,0.74"], result.stderr[:3000]
        assert lines[3:5] == ["s", "45"]
        # Delta's SQL through the JDBC client: the history of a table, and a query of an older version
        warehouse.write(spark.range(4).withColumn("decile", F.lit(7)), "churn_scores")
        result = subprocess.run(
            [beeline_path(), "-u", f"jdbc:hive2://127.0.0.1:{port}/default", "-n", "analyst",
             "--silent=true", "--outputformat=csv2", "-e",
             "DESCRIBE HISTORY churn.churn_scores;"
             "SELECT sum(id) AS s FROM churn.churn_scores VERSION AS OF 0;"
             "SELECT sum(id) AS s FROM churn.churn_scores;"],
            capture_output=True, text=True, timeout=180)
        lines = [ln for ln in result.stdout.splitlines() if ln.strip()]
        header = lines[0].split(",")
        assert header[:3] == ["version", "timestamp", "userId"], result.stderr[-2000:]
        history = [ln for ln in lines[1:] if ln[:1].isdigit() and ",WRITE," in ln]
        assert sorted(int(ln.split(",")[0]) for ln in history)[0] == 0 and len(history) == 2
        assert lines[-4:] == ["s", "45", "s", "6"], result.stderr[-2000:]
    finally:
        server.terminate()
        server.wait(60)
        log.close()
