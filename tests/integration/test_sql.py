"""SQL over the tables: snapshot views in database churn, the CLI, and JDBC through beeline."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
from pyspark.sql import functions as F

from churn_spark.app.cli import main
from churn_spark.lake.sql import beeline_path, register_tables, wait_for_port
from churn_spark.lake.tables import Lake


@pytest.fixture
def warehouse(spark, tmp_path):
    root = str(tmp_path / "wh")
    lake = Lake(spark, root=root, backend="embedded")
    lake.write(spark.range(10).withColumn("decile", F.col("id") % 5), "churn_scores")
    lake.write(spark.createDataFrame([("structured", 0.74), ("structured_text", 0.78)],
                                     "model string, auc double"), "model_metrics")
    return lake


def test_tables_are_queryable_by_name_and_bound_to_their_snapshot(spark, warehouse):
    names = register_tables(spark, warehouse, "churn")
    assert names == ["churn_scores", "model_metrics"]
    assert spark.sql("SELECT count(*) FROM churn.churn_scores").first()[0] == 10
    best = spark.sql("SELECT model FROM churn.model_metrics ORDER BY auc DESC LIMIT 1").first()[0]
    assert best == "structured_text"
    # a new version does not change what the registered view shows until it is re-registered
    warehouse.write(spark.range(3).withColumn("decile", F.lit(1)), "churn_scores")
    assert spark.sql("SELECT count(*) FROM churn.churn_scores").first()[0] == 10
    register_tables(spark, warehouse, "churn")
    assert spark.sql("SELECT count(*) FROM churn.churn_scores").first()[0] == 3


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


def test_thrift_server_answers_jdbc_queries_from_beeline(warehouse, tmp_path):
    port = _free_port()
    env = {**os.environ, "CHURN_SPARK_VERBOSE": "1"}
    log = open(tmp_path / "thrift.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "churn_spark.app.cli", "thrift", "--warehouse", warehouse.root,
         "--port", str(port), "--conf", "spark.driver_memory=1g"],
        stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        assert wait_for_port("127.0.0.1", port, timeout=180), (tmp_path / "thrift.log").read_text()[-3000:]
        result = subprocess.run(
            [beeline_path(), "-u", f"jdbc:hive2://127.0.0.1:{port}/default", "-n", "analyst",
             "--silent=true", "--outputformat=csv2", "-e",
             "SELECT model, auc FROM churn.model_metrics ORDER BY auc DESC;"
             "SELECT sum(id) AS s FROM churn.churn_scores;"],
            capture_output=True, text=True, timeout=180)
        lines = [ln for ln in result.stdout.splitlines() if ln.strip()]
        assert lines[:3] == ["model,auc", "structured_text,0.78", "structured,0.74"], result.stderr[-2000:]
        assert lines[3:5] == ["s", "45"]
    finally:
        server.terminate()
        server.wait(60)
        log.close()
