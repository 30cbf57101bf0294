"""One shared local SparkSession for the whole test run.

``tests/unit`` never starts Spark (pure Python and numpy, a minute in all: ``pytest -m unit``);
``tests/integration`` runs real parts: a local SparkSession, Delta tables, spark-submit against a
standalone cluster, a Thrift server and JDBC client. Each test is marked by its folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from churn_spark.config import load_config
from churn_spark.session import get_spark

UNIT = Path(__file__).parent / "unit"

# the tiny pipeline's settings wherever it runs in the suite: a smaller k grid and SVD, the same method
# (imported by test modules that run it again: a different setting would make every stage out of date)
FAST = ["--conf", "lsi.k_max=40", "--conf", "lsi.k_grid=[5,10,20,40]", "--conf", "spark.shuffle_partitions=4"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker("unit" if UNIT in Path(item.path).parents else "integration")


@pytest.fixture(scope="session")
def cfg(tmp_path_factory):
    # the session's own warehouse: its Derby metastore (<warehouse>/_catalog) is never the checkout's
    warehouse = tmp_path_factory.mktemp("warehouse")
    return load_config(["local"], ["spark.shuffle_partitions=4", "spark.driver_memory=3g",
                                   f"run.warehouse={warehouse}"])


@pytest.fixture(scope="session")
def spark(cfg):
    session = get_spark(cfg, app_name="churn-spark-tests")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def tiny_warehouse(spark, tmp_path_factory) -> str:
    """Every stage of the pipeline on the tiny generated world, run once for the suite (a minute or two).

    Tests that change it restore it (test_pipeline's ``own_warehouse``); the others only read.
    """
    from churn_spark.app.cli import main

    root = str(tmp_path_factory.mktemp("tiny_pipeline") / "wh")
    assert main(["pipeline", "--preset", "tiny", "--warehouse", root, *FAST]) == 0
    return root
