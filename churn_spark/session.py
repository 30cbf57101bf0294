"""The one SparkSession factory of the project.

Embedded by default: ``local[*]`` tuned for a small machine (few shuffle partitions,
driver memory from the configuration, quiet logs), with the Delta Lake jars that
``make jars`` fetched into ``jars/lib`` and a Hive metastore in Derby inside the warehouse
(``<warehouse>/_catalog``), so the tables stay registered from one session to the next.
Under ``spark-submit`` the master, driver memory, deploy settings and jars come from the
submit command and the cluster; this factory then only adds what the platform left unset.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from pyspark.sql import SparkSession

from churn_spark import classic
from churn_spark.config import Config

# Settings every session needs, whatever the environment.
_FIXED = {
    # Delta readers (delta-rs, Spark) agree on microsecond timestamps, not INT96
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.sources.partitionOverwriteMode": "static",
    "spark.sql.legacy.timeParserPolicy": "CORRECTED",
    # Arrow batches to Python workers also end at 64 MiB, whatever their row count: a batch of
    # wide rows (e.g. the cached numpy blocks of churn_spark.linalg.blocks) must not fill the JVM heap
    "spark.sql.execution.arrow.maxBytesPerBatch": str(64 << 20),
}

# The embedded driver JVM's options. On JDK 17-21 an allocation that meets a JNI critical
# section (native compression codecs, say) more than twice fails with OutOfMemoryError "Retried waiting
# for GCLocker too often" though the heap has room (JDK-8192647, fixed by a redesign in later
# JDKs): it killed a 5M-email run at 6g. More retries, as Trino does; JDKs without the flag ignore it.
LOCAL_JVM_OPTIONS = ("-XX:+IgnoreUnrecognizedVMOptions", "-XX:+UnlockDiagnosticVMOptions",
                     "-XX:GCLockerRetryAllocationCount=100")


# Delta Lake's SQL (MERGE, DESCRIBE HISTORY, time travel, OPTIMIZE ...) and its catalog for USING delta
DELTA_SESSION = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}
# where make jars puts them (jars/pom.xml) in a checkout
CHECKOUT_JARS = Path(__file__).resolve().parents[1] / "jars" / "lib"
# a Connect server's cache of resolved plans (a SQL setting a client may change)
CONNECT_PLAN_CACHE = "spark.connect.session.planCache.enabled"
CATALOG_DIR = "_catalog"  # the embedded metastore's folder inside the warehouse


class DeltaJarsMissing(RuntimeError):
    """An embedded session is asked for while the Delta Lake jars are nowhere to be found."""


def delta_jars(folder: str | Path | None = None) -> list[str]:
    """The Delta Lake jars in ``folder`` (config ``lake.jars``), by default the checkout's ``jars/lib``."""
    folder = Path(folder) if folder else CHECKOUT_JARS
    jars = sorted(str(p) for p in folder.glob("*.jar")) if folder.is_dir() else []
    if not any(Path(j).name.startswith("delta-spark_") for j in jars):
        raise DeltaJarsMissing(
            f"no Delta Lake jars in {folder}: run 'make jars' (make venv does it) or set lake.jars "
            "to a folder holding delta-spark_2.13 and delta-storage")
    return jars


def metastore_dir(cfg: Config) -> Path:
    """The embedded Hive metastore's folder: ``_catalog`` inside a local warehouse."""
    warehouse = cfg.run.warehouse
    if "://" in warehouse and not warehouse.startswith("file:"):
        raise ValueError(f"lake.metastore=derby keeps the catalog beside the tables, but run.warehouse "
                         f"{warehouse!r} is not local: use lake.metastore=platform with the cluster's metastore")
    return Path(warehouse.removeprefix("file:")).resolve() / CATALOG_DIR


def launched_by_spark_submit() -> bool:
    """True when this Python process was started by spark-submit (the JVM already exists)."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


def remote_url(cfg: Config) -> str:
    """The Spark Connect server to use: ``spark.remote`` in the configuration, else the
    ``SPARK_REMOTE`` environment variable (pyspark's own); ``""`` for a classic session."""
    return cfg.spark.remote or os.environ.get("SPARK_REMOTE", "")


def is_connect(spark: SparkSession) -> bool:
    """True for a Spark Connect session (no SparkContext, no RDDs, no JVM gateway)."""
    return type(spark).__module__.startswith("pyspark.sql.connect")


def runtime_conf(cfg: Config) -> dict[str, str]:
    """The settings a session may change after it started (SQL settings): a Connect client
    sets these on its server-side session, a classic builder passes them with the rest."""
    sc = cfg.spark
    return {
        "spark.sql.shuffle.partitions": str(sc.shuffle_partitions),
        # Delta replays a table's log in this many tasks (50 by default): our tables have few files
        "spark.databricks.delta.snapshotPartitions": str(sc.shuffle_partitions),
        "spark.sql.execution.arrow.maxRecordsPerBatch": str(sc.arrow_batch_size),
        **_FIXED,
    }


def embedded_conf(cfg: Config) -> dict[str, str]:
    """Every setting of a session whose JVM this project starts: the embedded driver of
    :func:`get_spark`, and a Spark Connect server (``churn-spark connect-server``), which
    must hold the static ones (Delta's extension and jars, the metastore) itself."""
    sc = cfg.spark
    jars = delta_jars(cfg.lake.jars)
    log4j = Path(cfg.conf_dir) / "log4j2.properties"
    java_options = [*LOCAL_JVM_OPTIONS, *([f"-Dlog4j.configurationFile=file:{log4j}"] if log4j.exists() else [])]
    conf = {
        "spark.master": sc.master,
        "spark.app.name": sc.app_name,
        "spark.driver.memory": sc.driver_memory,
        # spark.jars for the executors; the driver's own class path as well, since the threads of
        # the Thrift server load DeltaCatalog through the JVM's class loader, not Spark's
        "spark.jars": ",".join(jars),
        "spark.driver.extraClassPath": os.pathsep.join(jars),
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        **runtime_conf(cfg),
        **DELTA_SESSION,
    }
    if cfg.lake.metastore == "derby":
        catalog = metastore_dir(cfg)
        java_options.append(f"-Dderby.system.home={catalog}")  # Derby writes derby.log into its home
        conf.update(_derby_conf(catalog))
    java_options += sc.driver_java_options.split()
    conf["spark.driver.extraJavaOptions"] = " ".join(java_options)
    conf.update({key: str(value) for key, value in (sc.conf or {}).items()})
    return conf


def _derby_conf(catalog: Path) -> dict[str, str]:
    return {"spark.sql.catalogImplementation": "hive",
            "spark.hadoop.javax.jdo.option.ConnectionURL":
                f"jdbc:derby:;databaseName={catalog / 'metastore_db'};create=true",
            "spark.sql.warehouse.dir": str(catalog / "managed")}


def get_spark(cfg: Config, app_name: str | None = None) -> SparkSession:
    """Build (or return the active) SparkSession for ``cfg``: a Spark Connect session when
    :func:`remote_url` names a server, else a classic one (embedded, or under spark-submit)."""
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    remote = remote_url(cfg)
    if remote:
        return _connect_session(cfg, remote, app_name)
    sc = cfg.spark
    if launched_by_spark_submit():
        # the JVM spark-submit started holds its --conf and spark-defaults as system properties;
        # SparkConf reads them only once the gateway to that JVM is open
        classic.open_gateway()
        given = classic.submitted_conf()  # what spark-submit (or the platform) already set
        derby = cfg.lake.metastore == "derby" and "spark.hadoop.javax.jdo.option.ConnectionURL" not in given
        conf = {**runtime_conf(cfg),
                **{k: v for k, v in DELTA_SESSION.items() if k not in given},  # Databricks and EMR set their own
                **(_derby_conf(metastore_dir(cfg)) if derby else {}),
                **{key: str(value) for key, value in (sc.conf or {}).items()}}
    else:
        conf = embedded_conf(cfg)
        # executors must run the same interpreter as the driver (venv with jieba etc.)
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app_name or sc.app_name)
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    classic.set_log_level(spark, sc.log_level)
    return spark


def _connect_session(cfg: Config, remote: str, app_name: str | None) -> SparkSession:
    """A session on the Spark Connect server ``remote``. Only SQL settings can be changed from
    here; the server was started with the rest (Delta's extension and jars, the metastore)."""
    from pyspark.sql.connect.client.retries import DefaultPolicy

    spark = SparkSession.builder.remote(remote).appName(app_name or cfg.spark.app_name).getOrCreate()
    # how long a call waits for a server that stopped answering (backoff from 50 ms, x4, at most 1 min)
    spark.client.set_retry_policies([DefaultPolicy(max_retries=cfg.spark.remote_retries)])
    for key, value in runtime_conf(cfg).items():
        spark.conf.set(key, value)
    # the server caches resolved plans keyed by the plan itself, and the pipeline's plans carry the LSI
    # projection (tens of MB) in their functions' closures: at 100k emails the cache held ~300 MB more
    # driver heap than a classic session needs (bench/RESULTS.md); a server that forbids it keeps its own
    if spark.conf.isModifiable(CONNECT_PLAN_CACHE):
        spark.conf.set(CONNECT_PLAN_CACHE, "false")
    for key, value in (cfg.spark.conf or {}).items():
        if not spark.conf.isModifiable(key):
            raise ValueError(f"spark.conf {key!r} cannot be set from a Spark Connect client: "
                             "start the server with it (churn-spark connect-server --conf ...)")
        spark.conf.set(key, str(value))
    return spark


def default_parallelism(spark: SparkSession) -> int:
    """The application's cores (``SparkContext.defaultParallelism`` of a classic session).

    A Connect session has no SparkContext: there the number of partitions of ``spark.range``
    tells it (Spark splits a range into that many), found by one small job per session.
    """
    if not is_connect(spark):
        return classic.default_parallelism(spark)
    key = spark.session_id
    if key not in _CONNECT_PARALLELISM:
        from pyspark.sql import functions as F

        ids = spark.range(0, 1 << 16).select(F.spark_partition_id().alias("partition"))
        probe = ids.agg(F.max("partition").alias("last")).first()
        _CONNECT_PARALLELISM[key] = int(probe["last"]) + 1
    return _CONNECT_PARALLELISM[key]


_CONNECT_PARALLELISM: dict[str, int] = {}
