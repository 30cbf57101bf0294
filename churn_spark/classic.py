"""Classic sessions only: everything that needs the SparkContext, RDDs, the JVM gateway or MLlib.

A Spark Connect session (Databricks serverless and shared clusters, Databricks Connect, any
Spark 4 Connect server) has none of these, so no other module of the package touches them
(``tests/unit/test_connect_path.py`` fails if one does). Each function here either has a
Connect alternative where it is called, or says that it is classic-only:

* :func:`open_gateway`, :func:`submitted_conf` — under spark-submit, the settings the JVM holds;
* :func:`set_log_level` — the driver's log level (a Connect server has its own log4j settings);
* :func:`default_parallelism` — the cores of the application (Connect: a probe job instead);
* :class:`RddPartitions` — cached per-partition Python objects for the iterative passes of
  :mod:`churn_spark.linalg.blocks` and :mod:`churn_spark.lsi.svd`: an RDD ships its stored
  bytes to the Python worker as they are, where a cached DataFrame copies them into Arrow
  batches first (the DataFrame form, for Connect, is :class:`churn_spark.linalg.blocks.FramePartitions`);
* :func:`arpack_svd` — ``RowMatrix.computeSVD`` (ARPACK) of ``pyspark.mllib``;
* :func:`start_thrift_server` — Spark's Thrift JDBC/ODBC server inside this driver.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F


class ClassicOnlyError(RuntimeError):
    """A classic-only feature was asked of a Spark Connect session."""


def _is_connect(spark: SparkSession) -> bool:
    # churn_spark.session.is_connect, which sits a layer above (session imports this module)
    return type(spark).__module__.startswith("pyspark.sql.connect")


def _require_classic(spark: SparkSession, what: str) -> None:
    if _is_connect(spark):
        raise ClassicOnlyError(f"{what} needs a classic Spark session (a driver with a SparkContext), "
                               "not a Spark Connect session")


def open_gateway() -> None:
    """Open the py4j gateway to the JVM that spark-submit started (its settings are system properties)."""
    from pyspark import SparkContext

    SparkContext._ensure_initialized()


def submitted_conf() -> dict[str, str]:
    """The settings spark-submit (or the platform's spark-defaults) already gave the driver JVM."""
    from pyspark import SparkConf

    return dict(SparkConf().getAll())


def set_log_level(spark: SparkSession, level: str) -> None:
    """The driver's log level; a Spark Connect server keeps the log settings it was started with."""
    if not _is_connect(spark):
        spark.sparkContext.setLogLevel(level)


def default_parallelism(spark: SparkSession) -> int:
    """``SparkContext.defaultParallelism`` of a classic session."""
    _require_classic(spark, "default_parallelism")
    return spark.sparkContext.defaultParallelism


class RddPartitions:
    """:class:`churn_spark.linalg.blocks.CachedPartitions` in an RDD (classic sessions only).

    ``frame``'s rows, each decoded once by ``decode(row values)``, are cached as Python objects;
    a pass (:meth:`collect`) is ``mapPartitions`` over the pass partitions (at most
    ``coalesce_to``, each reading several cached partitions in turn) and a ``collect``.
    """

    def __init__(self, frame: DataFrame, decode: Callable[[tuple], Any], coalesce_to: int = 0,
                 storage: StorageLevel = StorageLevel.MEMORY_AND_DISK) -> None:
        stored = frame.rdd.map(lambda row: decode(tuple(row)))
        self.partitions = stored.getNumPartitions()
        self._cached = stored.persist(storage)
        self.count = self._cached.count()  # materialises the cache
        coalesced = coalesce_to and self.partitions > coalesce_to
        self._passes = self._cached.coalesce(coalesce_to) if coalesced else self._cached

    def collect(self, per_partition: Callable[[Iterator[Any]], Iterator[Any]]) -> list[Any]:
        return self._passes.mapPartitions(per_partition).collect()

    def frame(self, schema: str) -> DataFrame:
        return SparkSession.active().createDataFrame(self._passes, schema)

    def unpersist(self) -> None:
        self._cached.unpersist()


def arpack_svd_arrays(df: DataFrame, col: str, k_of: Callable[[int, int], int],
                      rcond: float) -> tuple[np.ndarray, np.ndarray, float, int, int, int]:
    """``RowMatrix.computeSVD`` (ARPACK) of the vector column ``col`` (null vectors left out).

    ``k_of(n_rows, n_cols)`` gives the number of triplets once the shape is known. Returns
    ``s``, ``V``, ``‖A‖_F²``, rows, columns and that number. The rows are converted to ``pyspark.mllib``
    vectors once and cached in the JVM, since ARPACK passes over them once per Lanczos step.
    """
    _require_classic(df.sparkSession, "the ARPACK SVD (svd_method=arpack)")
    from pyspark.mllib.linalg import Vectors as MLlibVectors
    from pyspark.mllib.linalg.distributed import RowMatrix

    rows = df.select(col).where(F.col(col).isNotNull()).rdd.map(lambda row: MLlibVectors.fromML(row[0]))
    matrix = RowMatrix(rows)
    java_rows = matrix._java_matrix_wrapper._java_model.rows()
    java_rows.cache()
    try:
        n_rows, n_cols = int(matrix.numRows()), int(matrix.numCols())
        # one more pass: ‖A‖_F² = Σ_j ‖column j‖²
        norms = matrix.computeColumnSummaryStatistics().normL2()
        frobenius2 = float(np.sum(np.asarray(norms) ** 2))
        k = k_of(n_rows, n_cols)
        svd = matrix.computeSVD(k, computeU=False, rCond=rcond)
        return svd.s.toArray(), svd.V.toArray(), frobenius2, n_rows, n_cols, k
    finally:
        java_rows.unpersist(False)


def start_thrift_server(spark: SparkSession, host: str, port: int) -> None:
    """Spark's Thrift JDBC/ODBC server (HiveThriftServer2) inside this driver, on ``host:port``."""
    _require_classic(spark, "the Thrift server (churn-spark thrift)")
    spark.conf.set("hive.server2.thrift.bind.host", host)
    spark.conf.set("hive.server2.thrift.port", str(port))
    jvm = spark.sparkContext._jvm
    jvm.org.apache.spark.sql.hive.thriftserver.HiveThriftServer2.startWithContext(spark._jsparkSession.sqlContext())
