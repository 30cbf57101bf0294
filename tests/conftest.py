"""One shared local SparkSession for the whole test run, plus a fresh warehouse per test."""

from __future__ import annotations

import pytest

from churn_spark.config import load_config
from churn_spark.session import get_spark


@pytest.fixture(scope="session")
def cfg():
    return load_config(["local"], ["spark.shuffle_partitions=4", "spark.driver_memory=3g"])


@pytest.fixture(scope="session")
def spark(cfg):
    session = get_spark(cfg, app_name="churn-spark-tests")
    yield session
    session.stop()
