"""The one SparkSession factory of the project.

Embedded by default: ``local[*]`` tuned for a small machine (few shuffle partitions,
driver memory from the configuration, quiet logs). Under ``spark-submit`` the master,
driver memory and deploy settings come from the submit command and the cluster overlay;
this factory then only adds the pipeline's own settings.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

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
    if not launched_by_spark_submit():
        builder = builder.master(sc.master).config("spark.driver.memory", sc.driver_memory)
        log4j = Path(cfg.conf_dir) / "log4j2.properties"
        java_options = [*LOCAL_JVM_OPTIONS, *([f"-Dlog4j.configurationFile=file:{log4j}"] if log4j.exists() else [])]
        builder = builder.config("spark.driver.extraJavaOptions", " ".join(java_options))
        # executors must run the same interpreter as the driver (venv with jieba etc.)
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
        builder = builder.config("spark.ui.enabled", "false")
    builder = builder.config("spark.sql.shuffle.partitions", str(sc.shuffle_partitions))
    builder = builder.config("spark.sql.execution.arrow.maxRecordsPerBatch", str(sc.arrow_batch_size))
    for key, value in _FIXED.items():
        builder = builder.config(key, value)
    if cfg.lake.backend != "native":
        # SQL entry points expose each table's snapshot as a global temp view: name that
        # database after the project's, so analysts write churn.<table> on either backend
        builder = builder.config("spark.sql.globalTempDatabase", cfg.run.database)
    for key, value in (sc.conf or {}).items():
        builder = builder.config(key, str(value))
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(sc.log_level)
    return spark


def delta_jars_present(spark: SparkSession) -> bool:
    """Whether the Delta Lake Spark classes (io.delta:delta-spark) are on the classpath."""
    try:
        loader = spark.sparkContext._jvm.java.lang.Thread.currentThread().getContextClassLoader()
        spark.sparkContext._jvm.java.lang.Class.forName("io.delta.tables.DeltaTable", False, loader)
        return True
    except Exception:  # py4j raises Py4JJavaError (ClassNotFoundException) when absent
        return False
