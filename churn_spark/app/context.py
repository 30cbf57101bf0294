"""What every stage and command receives: the configuration, the command line, a Spark session, the lake."""

from __future__ import annotations

import argparse

from pyspark.sql import SparkSession

from churn_spark.config import Config
from churn_spark.lake.tables import Lake


class Context:
    """The configuration and the parsed command line, with the Spark session and the :class:`Lake`
    built on first use (so ``--help`` and configuration errors start no JVM).

    A test or a notebook passes the session and lake it already has: ``Context(cfg, spark=spark, lake=lake)``.
    """

    def __init__(self, cfg: Config, args: argparse.Namespace | None = None, *,
                 spark: SparkSession | None = None, lake: Lake | None = None) -> None:
        self.cfg = cfg
        self.args = args if args is not None else argparse.Namespace()
        self._spark = spark
        self._lake = lake

    @property
    def spark(self) -> SparkSession:
        if self._spark is None:
            from churn_spark.session import get_spark
            self._spark = get_spark(self.cfg)
        return self._spark

    @property
    def lake(self) -> Lake:
        if self._lake is None:
            self._lake = Lake(self.spark, self.cfg)
        return self._lake
