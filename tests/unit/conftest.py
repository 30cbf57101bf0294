"""Unit tests start no JVM: a test here that asks for Spark belongs in ``tests/integration``."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def spark():
    pytest.fail("a unit test asked for a SparkSession: move it to tests/integration")
