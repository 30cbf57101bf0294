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
import sys
import threading
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


def _statements(text: str) -> list[str]:
    return [s.strip() for s in text.split(";") if s.strip()]


def run_sql_command(ctx) -> None:
    """``churn-spark sql "SELECT ..."`` prints the result; without a query, an interactive shell."""
    spark, lake, database = ctx.spark, ctx.lake, ctx.cfg.run.database
    names = register_tables(spark, lake, database)
    query = " ".join(ctx.args.query or [])
    if query:
        for statement in _statements(query):
            print(format_rows(spark.sql(statement), ctx.args.limit))
        return
    _interactive(spark, database, names, ctx.args.limit)


def _interactive(spark: SparkSession, database: str, names: list[str], limit: int) -> None:
    try:
        import readline  # noqa: F401  (line editing and history in input())
    except ImportError:
        pass
    print(f"churn-spark SQL shell: {len(names)} tables in database {database}: {', '.join(names)}")
    print("End statements with ';'. Ctrl-D quits.")
    buffer = ""
    while True:
        try:
            line = input("churn> " if not buffer else "   ...> ")
        except EOFError:
            print()
            return
        buffer += line + "\n"
        if ";" not in line:
            continue
        for statement in _statements(buffer):
            try:
                print(format_rows(spark.sql(statement), limit))
            except Exception as err:  # show the error and keep the shell alive
                print(f"error: {str(err).strip().splitlines()[0]}", file=sys.stderr)
        buffer = ""


def start_thrift_server(spark: SparkSession, host: str, port: int) -> None:
    """Start Spark's Thrift JDBC/ODBC server on ``host:port`` over this session."""
    spark.conf.set("hive.server2.thrift.bind.host", host)
    spark.conf.set("hive.server2.thrift.port", str(port))
    jvm = spark.sparkContext._jvm
    jvm.org.apache.spark.sql.hive.thriftserver.HiveThriftServer2.startWithContext(
        spark._jsparkSession.sqlContext())


def run_thrift_command(ctx) -> None:
    """``churn-spark thrift``: serve the tables over JDBC until interrupted."""
    spark, lake, database = ctx.spark, ctx.lake, ctx.cfg.run.database
    names = register_tables(spark, lake, database)
    host, port = ctx.args.host, ctx.args.port
    start_thrift_server(spark, host, port)
    print(f"thrift: serving {len(names)} tables of {lake.root} as {database}.<table>", flush=True)
    print(f"thrift: jdbc:hive2://{host}:{port}/default  (e.g. beeline -u jdbc:hive2://{host}:{port}/default "
          f"-e 'SELECT * FROM {database}.model_metrics')", flush=True)
    stop = threading.Event()
    try:
        while not stop.wait(ctx.args.refresh_seconds):
            register_tables(spark, lake, database)  # pick up new table versions
    except KeyboardInterrupt:
        pass


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
