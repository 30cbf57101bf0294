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

from pyspark import SparkConf, SparkContext
from pyspark.sql import SparkSession

from churn_spark.config import Config

# Settings every session needs, whatever the environment.
_FIXED = {
    # Delta readers (delta-rs, Spark) agree on microsecond timestamps, not INT96
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.sources.partitionOverwriteMode": "static",
    "spark.ui.showConsoleProgress": "false",
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


def get_spark(cfg: Config, app_name: str | None = None) -> SparkSession:
    """Build (or return the active) SparkSession for ``cfg``."""
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    sc = cfg.spark
    builder = SparkSession.builder.appName(app_name or sc.app_name)
    if launched_by_spark_submit():
        # the JVM spark-submit started holds its --conf and spark-defaults as system properties;
        # SparkConf reads them only once the gateway to that JVM is open
        SparkContext._ensure_initialized()
    given = SparkConf()  # what spark-submit (or the platform) already set
    derby = cfg.lake.metastore == "derby" and not given.contains("spark.hadoop.javax.jdo.option.ConnectionURL")
    if not launched_by_spark_submit():
        builder = builder.master(sc.master).config("spark.driver.memory", sc.driver_memory)
        jars = delta_jars(cfg.lake.jars)
        # spark.jars for the executors; the driver's own class path as well, since the threads of
        # the Thrift server load DeltaCatalog through the JVM's class loader, not Spark's
        builder = (builder.config("spark.jars", ",".join(jars))
                   .config("spark.driver.extraClassPath", os.pathsep.join(jars)))
        log4j = Path(cfg.conf_dir) / "log4j2.properties"
        java_options = [*LOCAL_JVM_OPTIONS, *([f"-Dlog4j.configurationFile=file:{log4j}"] if log4j.exists() else [])]
        if derby:  # Derby writes its derby.log into its home, not into the current folder
            java_options.append(f"-Dderby.system.home={metastore_dir(cfg)}")
        builder = builder.config("spark.driver.extraJavaOptions", " ".join(java_options))
        # executors must run the same interpreter as the driver (venv with jieba etc.)
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
        builder = builder.config("spark.ui.enabled", "false")
    builder = builder.config("spark.sql.shuffle.partitions", str(sc.shuffle_partitions))
    # Delta replays a table's log in this many tasks (50 by default): our tables have few files
    builder = builder.config("spark.databricks.delta.snapshotPartitions", str(sc.shuffle_partitions))
    builder = builder.config("spark.sql.execution.arrow.maxRecordsPerBatch", str(sc.arrow_batch_size))
    for key, value in _FIXED.items():
        builder = builder.config(key, value)
    for key, value in DELTA_SESSION.items():
        if not given.contains(key):  # Databricks and EMR set their own
            builder = builder.config(key, value)
    if derby:
        catalog = metastore_dir(cfg)
        builder = (builder.enableHiveSupport()
                   .config("spark.hadoop.javax.jdo.option.ConnectionURL",
                           f"jdbc:derby:;databaseName={catalog / 'metastore_db'};create=true")
                   .config("spark.sql.warehouse.dir", str(catalog / "managed")))
    for key, value in (sc.conf or {}).items():
        builder = builder.config(key, str(value))
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(sc.log_level)
    return spark
