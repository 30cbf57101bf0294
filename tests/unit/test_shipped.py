"""A shipped array pickles with its values only where Spark broadcasts the closure (classic)."""

from __future__ import annotations

import pickle

import numpy as np

from churn_spark.linalg import shipped as shipped_module
from churn_spark.linalg.shipped import ShippedArray


def test_an_array_in_the_closure_travels_with_its_values():
    matrix = np.arange(12.0).reshape(3, 4)
    copy = pickle.loads(pickle.dumps(ShippedArray(matrix)))
    assert copy.artifact is None and np.array_equal(copy.value, matrix)


def test_an_artifact_travels_as_its_name_and_is_mapped_once_per_worker(tmp_path, monkeypatch):
    matrix = np.arange(2_000.0).reshape(100, 20)
    np.save(tmp_path / "a.npy", matrix)
    monkeypatch.setattr("pyspark.SparkFiles.get", lambda name: str(tmp_path / name))
    monkeypatch.setattr(shipped_module, "_mapped", type(shipped_module._mapped)())
    on_driver = ShippedArray(matrix, artifact="a.npy")
    raw = pickle.dumps(on_driver)
    assert len(raw) < 200 and on_driver.value is matrix  # the driver keeps its own copy
    first, second = pickle.loads(raw), pickle.loads(raw)
    assert np.array_equal(first.value, matrix) and not first.value.flags.writeable
    assert second.value is first.value  # the worker's mapping is reused, not loaded again
