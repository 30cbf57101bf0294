"""What each ``churn-spark`` sub-command does, given the parsed command line in a :class:`Context`.

The stage commands and the pipeline commands run :mod:`churn_spark.app.pipeline`; the others
(``sql``, ``thrift``, ``review-terms``, ``smoke``, ``experiment``) call the library directly.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Sequence
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from churn_spark.app.artefacts import read_manifest, report_dir
from churn_spark.app.context import Context
from churn_spark.app.pipeline import (
    ALL_STAGES,
    GENERATED_PIPELINE,
    OWN_DATA_PIPELINE,
    Stage,
    run_pipeline,
    run_stage,
    select_stages,
)

# ---------------------------------------------------------------------------------------
# the stages and the pipeline


def run_stage_command(ctx: Context) -> dict:
    """``churn-spark <stage>``: run that one stage (always; it is what was asked for)."""
    return run_stage(ctx, ALL_STAGES[ctx.args.command])


def _chosen(ctx: Context, stages: Sequence[Stage]) -> list[Stage]:
    return select_stages(stages, ctx.args.start, ctx.args.stop, ctx.args.only)


def run_generated_command(ctx: Context) -> dict[str, dict]:
    """``churn-spark pipeline``: the stages on generated data."""
    return run_pipeline(ctx, _chosen(ctx, GENERATED_PIPELINE), force=ctx.args.force)


def run_own_data_command(ctx: Context) -> dict[str, dict]:
    """``churn-spark run --emails --observations --out``: the stages on the user's data."""
    summaries = run_pipeline(ctx, _chosen(ctx, OWN_DATA_PIPELINE), force=ctx.args.force)
    print_result(ctx)
    return summaries


def run_demo_command(ctx: Context) -> dict[str, dict]:
    """``churn-spark demo`` (``make demo``): generated data at the paper's size, every stage."""
    summaries = run_pipeline(ctx, _chosen(ctx, GENERATED_PIPELINE), force=ctx.args.force)
    print_result(ctx)
    return summaries


def print_result(ctx: Context) -> None:
    """The short result: sizes, k, Table 4 beside the paper's, DeLong, where things are."""
    cfg, lake = ctx.cfg, ctx.lake
    summary_path = f"{report_dir(cfg)}/summary.json"
    try:
        with open(summary_path, encoding="utf-8") as fh:
            summary = json.load(fh)
    except FileNotFoundError:
        print("result: no report yet (the evaluate stage has not run)")
        return
    paper = {"structured": (0.7380, 2.69), "structured_text": (0.7775, 3.07)}
    models = summary["models"]
    oracle = {name: m["oracle_auc"] for name, m in models.items() if m.get("oracle_auc") is not None}
    print()
    print(f"churn-spark result  (warehouse {lake.root})")
    print(f"  units: {summary['n_train']} train / {summary['n_test']} test with emails"
          f"   (paper: 9,603 / 3,161)")
    print(f"  chosen k: {summary['k']} concepts (paper: 170); "
          f"{len(models['structured'].get('variables', []))} marketing variables selected (paper: 20)")
    print()
    print("  Table 4, test set        AUC      95% CI            top-decile lift   paper AUC  lift"
          + ("   oracle AUC" if oracle else ""))
    for name, label in (("structured", "structured"), ("structured_text", "structured + text")):
        m = models[name]
        ci = (m.get("auc_ci_low", float("nan")), m.get("auc_ci_high", float("nan")))
        line = (f"  {label:<22} {m['auc']:.4f}   [{ci[0]:.4f}, {ci[1]:.4f}]   {m['top_decile_lift']:>6.2f}"
                f"            {paper[name][0]:.4f}     {paper[name][1]:.2f}")
        if oracle:
            line += f"   {oracle.get(name, float('nan')):.4f}"
        print(line)
    delong = summary["delong"]
    print(f"  DeLong test of the two AUCs: chi2 = {delong['chi2']:.2f}, p = {delong['p_value']:.2g}"
          "   (paper: chi2 = 23.1, p < 0.001)")
    print()
    print(f"  report:  {report_dir(cfg)}/report.md  (summary.json, ROC, lift and CV-AUC-by-k charts)")
    print(f"  tables:  {', '.join(lake.list())}")
    print(f"  models:  {read_manifest(cfg).get('model_version', '?')} under the warehouse's _models/")
    print(f"  query:   churn-spark sql --warehouse {lake.root} "
          "'SELECT model, auc, top_decile_lift FROM churn.model_metrics'")


# ---------------------------------------------------------------------------------------
# SQL


def run_sql_command(ctx: Context) -> None:
    """``churn-spark sql "SELECT ..."`` prints the result; without a query, an interactive shell."""
    spark, lake, database = ctx.spark, ctx.lake, ctx.cfg.run.database
    from churn_spark.lake.sql import format_rows, register_tables

    names = register_tables(lake)
    query = " ".join(ctx.args.query or [])
    if query:
        for statement in _statements(query):
            print(format_rows(spark.sql(statement), ctx.args.limit))
        return
    _interactive(spark, database, names, ctx.args.limit)


def _interactive(spark: SparkSession, database: str, names: list[str], limit: int) -> None:
    from churn_spark.lake.sql import format_rows

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


def _statements(text: str) -> list[str]:
    return [s.strip() for s in text.split(";") if s.strip()]


def run_thrift_command(ctx: Context) -> None:
    """``churn-spark thrift``: serve the tables over JDBC until interrupted.

    Classic sessions only: Spark's Thrift server (HiveThriftServer2) runs inside this driver's JVM,
    which a Spark Connect client does not have.
    """
    from churn_spark import classic
    from churn_spark.lake.sql import register_tables, start_thrift_server
    from churn_spark.session import remote_url

    if remote_url(ctx.cfg):
        raise classic.ClassicOnlyError(
            "churn-spark thrift runs Spark's Thrift server inside its own driver and cannot use a Spark Connect "
            "session: drop --remote (and spark.remote, $SPARK_REMOTE)")
    lake, database = ctx.lake, ctx.cfg.run.database
    host, port = ctx.args.host, ctx.args.port
    names = start_thrift_server(lake, host, port)
    print(f"thrift: serving {len(names)} tables of {lake.root} as {database}.<table>", flush=True)
    print(f"thrift: jdbc:hive2://{host}:{port}/default  (e.g. beeline -u jdbc:hive2://{host}:{port}/default "
          f"-e 'SELECT * FROM {database}.model_metrics')", flush=True)
    stop = threading.Event()
    try:
        while not stop.wait(ctx.args.refresh_seconds):
            register_tables(lake)  # tables that other jobs wrote since (new versions need nothing)
    except KeyboardInterrupt:
        pass


def run_connect_server_command(ctx: Context) -> None:
    """``churn-spark connect-server``: a Spark Connect server for the warehouse, until interrupted.

    It holds the warehouse's catalog (the Derby metastore), so no other Spark application may use
    that warehouse meanwhile but through it: ``churn-spark <command> --remote sc://HOST:PORT``.
    """
    import signal

    from churn_spark.app.connect import start_connect_server, stop_connect_server

    cfg, host, port = ctx.cfg, ctx.args.host, ctx.args.port
    if ctx.args.remote:
        raise ValueError("connect-server starts a Spark Connect server: --remote names one to use instead")
    proc = start_connect_server(cfg, host, port, ctx.args.log, allow_non_loopback=ctx.args.allow_non_loopback)
    url, warehouse = f"sc://{host}:{port}", cfg.run.warehouse
    warehouse = warehouse if "://" in warehouse else os.path.abspath(warehouse)
    print(f"connect: Spark Connect server for {warehouse} at {url} (log: {proc.log_path})", flush=True)
    print(f"connect: e.g. churn-spark pipeline --remote {url} --warehouse {warehouse}  "
          "(the same warehouse: its tables are in this server's catalog)", flush=True)

    def _terminate(signum, frame):  # a scheduler's SIGTERM stops the server as Ctrl-C does
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        code = proc.wait()
        raise RuntimeError(f"the Spark Connect server exited with code {code}; log {proc.log_path}")
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        stop_connect_server(proc)


# ---------------------------------------------------------------------------------------
# the others


def run_review_terms_command(ctx: Context) -> str:
    """CLI adapter (``churn-spark review-terms [--top N]``): prints the review of the ``vocabulary`` table."""
    from churn_spark.text.review import review_terms

    top_n = getattr(ctx.args, "top", None) or ctx.cfg.text.review_top_n
    report = review_terms(ctx.lake.read("vocabulary"), top_n)
    print(report)
    return report


def run_smoke(ctx: Context) -> dict:
    """Write, read, overwrite and time-travel one table through the lake: proves on a new machine that
    Spark, the Python workers and the Delta layer work together, and prints what it saw."""
    spark, lake = ctx.spark, ctx.lake
    first = spark.range(1000).select(F.col("id").alias("unit"), (F.col("id") % 10).alias("decile"))
    v0 = lake.write(first, "smoke_check")
    second = first.where("decile < 5").withColumn("decile", F.col("decile") + 100)
    v1 = lake.write(second, "smoke_check")
    now, then = lake.read("smoke_check"), lake.read("smoke_check", version=v0)
    result = {
        "catalog_table": lake.table_name("smoke_check"),
        "table": lake.path("smoke_check"),
        "versions": [c.version for c in lake.history("smoke_check")],
        "rows_now": now.count(),
        "rows_at_v0": then.count(),
        "max_decile_now": now.agg(F.max("decile")).first()[0],
        "max_decile_at_v0": then.agg(F.max("decile")).first()[0],
    }
    # (v1 may be v0 + 2: the first registration sets the table comment in a metadata commit)
    assert v1 > v0 and result["rows_now"] == 500 and result["rows_at_v0"] == 1000
    print(f"smoke: Delta table {result['table']}, in the catalog as {result['catalog_table']}")
    print(f"smoke: wrote version {v0} (1000 rows), overwrote as version {v1} (500 rows)")
    print(f"smoke: now {result['rows_now']} rows (max decile {result['max_decile_now']}); "
          f"time travel to v{v0}: {result['rows_at_v0']} rows (max decile {result['max_decile_at_v0']})")
    return result


def run_experiment_command(ctx: Context) -> dict[str, Any]:
    """``churn-spark experiment NAME``: run that experiment and record it in ``pipeline_runs``."""
    from churn_spark.app.experiment import EXPERIMENTS

    return run_stage(ctx, EXPERIMENTS[ctx.args.name])
