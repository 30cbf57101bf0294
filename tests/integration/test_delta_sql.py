"""Delta Lake's own SQL on the lake's tables, as an analyst types it: the catalog, history, time
travel, MERGE, OPTIMIZE, VACUUM, constraints and schema enforcement (real Spark, real Delta jars)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from pyspark.errors import AnalysisException
from pyspark.sql import functions as F

from churn_spark.lake.comments import TABLE_COMMENTS
from churn_spark.lake.tables import Lake, LakeError


@pytest.fixture
def lake(spark, tmp_path):
    return Lake(spark, root=str(tmp_path / "wh"), run_id="run-sql")


def _scores(spark, n: int, offset: int = 0):
    return spark.range(offset, offset + n).select(
        F.col("id").cast("string").alias("unit_id"), (F.col("id") % 10 / 10.0).alias("p_churn"))


def _details(spark, table: str) -> dict[str, str]:
    rows = spark.sql(f"DESCRIBE TABLE EXTENDED {table}").collect()
    return {r.col_name: r.data_type for r in rows}


def test_tables_are_documented_external_delta_tables_in_the_catalog(spark, lake):
    lake.write(_scores(spark, 5), "churn_scores")
    table = lake.table_name("churn_scores")
    assert table == "spark_catalog.churn.churn_scores"
    assert "churn_scores" in [r.tableName for r in spark.sql("SHOW TABLES IN churn").collect()]
    details = _details(spark, table)
    assert details["Type"] == "EXTERNAL" and details["Provider"] == "delta"
    assert details["Location"].endswith(lake.path("churn_scores"))
    assert details["Comment"] == TABLE_COMMENTS["churn_scores"].comment
    columns = {r.col_name: r.comment for r in spark.sql(f"DESCRIBE TABLE {table}").collect()}
    assert columns["p_churn"] == TABLE_COMMENTS["churn_scores"].columns["p_churn"]
    # the comment is set once: a second write adds one commit, not two
    before = lake.version("churn_scores")
    lake.write(_scores(spark, 6), "churn_scores")
    assert lake.version("churn_scores") == before + 1


def test_history_and_time_travel_by_version_and_timestamp(spark, lake):
    lake.write(_scores(spark, 10), "t")
    lake.write(_scores(spark, 3), "t")
    history = spark.sql("DESCRIBE HISTORY churn.t").orderBy("version").collect()
    assert [r.version for r in history] == [0, 1]
    assert [r.operation for r in history] == ["WRITE", "WRITE"]
    assert all('"run_id": "run-sql"' in r.userMetadata for r in history)
    assert spark.sql("SELECT count(*) FROM churn.t VERSION AS OF 0").first()[0] == 10
    assert spark.sql("SELECT count(*) FROM churn.t").first()[0] == 3
    history_v0 = spark.sql("DESCRIBE HISTORY churn.t").where("version = 0")
    at_v0 = history_v0.selectExpr("CAST(timestamp AS STRING)").first()[0]
    assert spark.sql(f"SELECT count(*) FROM churn.t TIMESTAMP AS OF '{at_v0}'").first()[0] == 10


def test_merge_into_in_sql_and_through_the_lake(spark, lake):
    lake.write(_scores(spark, 4), "t")
    spark.sql("""MERGE INTO churn.t AS t USING (SELECT '1' AS unit_id, 0.99 AS p_churn
                 UNION ALL SELECT '9', 0.5) AS s ON t.unit_id = s.unit_id
                 WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *""")
    rows = {r.unit_id: r.p_churn for r in spark.sql("SELECT * FROM churn.t").collect()}
    assert rows == {"0": 0.0, "1": 0.99, "2": 0.2, "3": 0.3, "9": 0.5}
    version = lake.merge(spark.createDataFrame([("2", 0.7)], "unit_id string, p_churn double"), "t",
                         on=["unit_id"])
    commit = lake.history("t")[0]
    assert (commit.version, commit.operation, commit.run_id) == (version, "MERGE", "run-sql")
    assert lake.read("t").where("unit_id = '2'").first().p_churn == 0.7
    assert lake.read("t").count() == 5


def test_optimize_compacts_and_vacuum_removes_what_time_travel_needed(spark, lake):
    lake.write(_scores(spark, 10), "t")
    for offset in (10, 20, 30):
        lake.write(_scores(spark, 10, offset).coalesce(1), "t", mode="append")
    assert spark.sql("DESCRIBE DETAIL churn.t").first().numFiles > 1
    spark.sql("OPTIMIZE churn.t")
    assert spark.sql("DESCRIBE DETAIL churn.t").first().numFiles == 1
    assert lake.read("t").count() == 40
    # (rows, not count(*): Delta answers a count from the statistics in its log without reading a file)
    assert len(spark.sql("SELECT * FROM churn.t VERSION AS OF 0").collect()) == 10  # its files are still there
    spark.conf.set("spark.databricks.delta.retentionDurationCheck.enabled", "false")
    try:
        spark.sql("VACUUM churn.t RETAIN 0 HOURS")
    finally:
        spark.conf.unset("spark.databricks.delta.retentionDurationCheck.enabled")
    assert lake.read("t").count() == 40
    with pytest.raises(Exception, match="(?i)file|exist"):
        spark.sql("SELECT * FROM churn.t VERSION AS OF 0").collect()


def test_constraints_hold_for_sql_and_for_the_pipelines_next_write(spark, lake):
    lake.write(_scores(spark, 5), "t")
    spark.sql("ALTER TABLE churn.t ADD CONSTRAINT p_is_a_probability CHECK (p_churn BETWEEN 0 AND 1)")
    with pytest.raises(Exception, match="(?i)violat"):
        spark.sql("INSERT INTO churn.t VALUES ('x', 1.5)")
    version = lake.version("t")
    # an overwrite by the pipeline meets the same rules, and changes nothing when it breaks them
    with pytest.raises(Exception, match="(?i)violat"):
        lake.write(_scores(spark, 3).withColumn("p_churn", F.lit(2.0)), "t")
    assert lake.version("t") == version and lake.read("t").count() == 5
    lake.write(_scores(spark, 3), "t")
    assert lake.read("t").count() == 3


def test_schema_enforcement_refuses_rows_of_another_shape(spark, lake):
    lake.write(_scores(spark, 5), "t")
    with pytest.raises(AnalysisException):
        spark.sql("INSERT INTO churn.t VALUES ('x', 0.5, 'an extra column')")
    with pytest.raises(AnalysisException):
        spark.sql("INSERT INTO churn.t SELECT 'x' AS unit_id, named_struct('a', 1) AS p_churn")
    assert lake.read("t").count() == 5


def test_analysts_create_their_own_delta_tables_with_not_null_columns_and_the_lake_never_drops_them(spark, lake):
    lake.write(_scores(spark, 20), "churn_scores")
    spark.sql("CREATE TABLE churn.top_segment (unit_id STRING NOT NULL, p_churn DOUBLE) USING delta")
    spark.sql("INSERT INTO churn.top_segment SELECT * FROM churn.churn_scores WHERE p_churn >= 0.8")
    assert spark.sql("SELECT count(*) FROM churn.top_segment").first()[0] == 4
    with pytest.raises(Exception, match="(?i)null"):
        spark.sql("INSERT INTO churn.top_segment VALUES (NULL, 0.5)")
    assert _details(spark, "churn.top_segment")["Type"] == "MANAGED"
    # a pipeline table of that name would have to replace it: refused, the analyst's data stays
    with pytest.raises(LakeError, match="managed table"):
        lake.write(_scores(spark, 1), "top_segment")
    assert spark.sql("SELECT count(*) FROM churn.top_segment").first()[0] == 4
    spark.sql("DROP TABLE churn.top_segment")


def test_the_catalog_persists_from_one_spark_application_to_the_next(tmp_path):
    """Two JVMs one after the other on one warehouse: the second finds the tables by name with no registration."""
    warehouse = tmp_path / "persist"
    smoke = subprocess.run([sys.executable, "-m", "churn_spark.app.cli", "smoke", "--warehouse", str(warehouse),
                            "--conf", "spark.driver_memory=1g"], capture_output=True, text=True, timeout=300)
    assert smoke.returncode == 0, smoke.stderr[-3000:]
    script = textwrap.dedent(f"""
        from churn_spark.config import load_config
        from churn_spark.session import get_spark
        spark = get_spark(load_config(["local"], ["run.warehouse={warehouse}", "spark.driver_memory=1g"]))
        print("TABLES", sorted(r.tableName for r in spark.sql("SHOW TABLES IN churn").collect()))
        print("ROWS", spark.sql("SELECT count(*) FROM churn.smoke_check").first()[0])
        print("AT_V0", spark.sql("SELECT count(*) FROM churn.smoke_check VERSION AS OF 0").first()[0])
    """)
    query = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert query.returncode == 0, query.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in query.stdout.splitlines() if line.split(" ")[0].isupper())
    assert lines["TABLES"] == "['smoke_check']"
    assert (lines["ROWS"], lines["AT_V0"]) == ("500", "1000")
    assert (warehouse / "_catalog" / "metastore_db").is_dir()
