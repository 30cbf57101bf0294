"""The command line's contract with a scheduler: one line saying why a command failed."""

from __future__ import annotations

import pytest
from py4j.protocol import Py4JJavaError

from churn_spark.app.cli import _failure_reason, main


def test_a_jvm_error_is_reported_with_the_java_exception(spark):
    """A Py4JJavaError's first line only names the py4j call: the one-line reason adds the Java exception."""
    with pytest.raises(Py4JJavaError) as raised:  # one PySpark does not convert to a Python exception
        spark.sparkContext._jvm.java.lang.Class.forName("no.such.Clazz")
    reason = _failure_reason(raised.value)
    assert reason.startswith("An error occurred while calling")
    assert reason.endswith("java.lang.ClassNotFoundException: no.such.Clazz")
    assert _failure_reason(ValueError("first line\nsecond")) == "first line"


def test_invalid_configuration_exits_2_and_names_the_key(capsys):
    assert main(["lsi", "--conf", "lsi.no_such_key=1"]) == 2
    assert "lsi.no_such_key" in capsys.readouterr().err
