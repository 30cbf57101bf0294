"""SQL over the result tables: ``churn-spark sql``, an interactive shell, and the Thrift server.

Every table of the warehouse is queryable by name in the database ``run.database``
(``churn``): ``SELECT * FROM churn.model_metrics``.

* native backend (Delta jars present): catalog tables ``USING DELTA`` at the table folders;
* embedded backend: each SQL entry point registers every table's *current snapshot* as a
  global temporary view when it starts (Spark's global temp database is named ``churn`` by
  the session factory). A view is bound to the files of its snapshot, so a query never sees
  files that a later version removed; the Thrift server re-registers the snapshots
  periodically to pick up new versions.
"""

from __future__ import annotations

import os
import time

from pyspark.sql import DataFrame, SparkSession

from churn_spark.lake.tables import Lake


def register_tables(spark: SparkSession, lake: Lake, database: str) -> list[str]:
    """Make every table of ``lake`` queryable as ``<database>.<table>``; return the names."""
    names = lake.list()
    if lake.backend == "native":
        spark.sql(f"CREATE DATABASE IF NOT EXISTS {database}")
        for name in names:
            location = lake.path(name)
            spark.sql(f"CREATE TABLE IF NOT EXISTS {database}.{name} USING DELTA LOCATION '{location}'")
        return names
    global_db = spark.conf.get("spark.sql.globalTempDatabase")
    if global_db != database:
        raise RuntimeError(f"the Spark session's global temp database is {global_db!r}, not {database!r}: "
                           "create the session with churn_spark.session.get_spark")
    for name in names:
        lake.read(name).createOrReplaceGlobalTempView(name)
    return names


def format_rows(df: DataFrame, limit: int = 100) -> str:
    """A plain-text table of the first ``limit`` rows (the way psql prints a result)."""
    rows = df.limit(limit + 1).collect()
    header = df.columns
    shown = [[_cell(v) for v in row] for row in rows[:limit]]
    widths = [max([len(h)] + [len(r[i]) for r in shown]) for i, h in enumerate(header)]
    line = " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    out = [line, "-+-".join("-" * w for w in widths)]
    out += [" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in shown]
    more = " (more rows not shown)" if len(rows) > limit else ""
    out.append(f"({len(shown)} row{'s' if len(shown) != 1 else ''}{more})")
    return "\n".join(out)


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, tuple)) and len(value) > 8:
        return "[" + ", ".join(_cell(v) for v in value[:8]) + ", ...]"
    return "NULL" if value is None else str(value)


def start_thrift_server(spark: SparkSession, host: str, port: int) -> None:
    """Start Spark's Thrift JDBC/ODBC server on ``host:port`` over this session."""
    spark.conf.set("hive.server2.thrift.bind.host", host)
    spark.conf.set("hive.server2.thrift.port", str(port))
    jvm = spark.sparkContext._jvm
    jvm.org.apache.spark.sql.hive.thriftserver.HiveThriftServer2.startWithContext(
        spark._jsparkSession.sqlContext())


def beeline_path() -> str:
    """The beeline launcher that ships with the pyspark package."""
    import pyspark
    return os.path.join(os.path.dirname(pyspark.__file__), "bin", "beeline")


def wait_for_port(host: str, port: int, timeout: float = 120.0) -> bool:
    import socket
    deadline = time.time() + timeout
    while time.time() < deadline:
        with socket.socket() as sock:
            sock.settimeout(1.0)
            if sock.connect_ex((host, port)) == 0:
                return True
        time.sleep(0.5)
    return False
