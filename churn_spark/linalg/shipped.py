"""Large read-only numpy arrays that functions on the executors read (the LSI projection ``V/s``).

A classic session ships a pickled function over 1 MB as a broadcast variable by itself, so there
an array simply travels in the function's closure. Spark Connect has no broadcast variables: a
closure travels inline in every plan that uses it, and the driver keeps each stage's task binary
(the closure included) until a garbage collection lets Spark's cleaner drop it, so a 25 MB
projection used by the tens of stages of the k search cost hundreds of MB of driver heap
(bench/RESULTS.md). On Connect the array is therefore uploaded once per session as a file
artifact (``SparkSession.addArtifacts(path, file=True)``) and the closure carries only its name;
a Python worker maps the file on first use (``SparkFiles.get``; the workers of a machine share
its pages) and keeps it for the tasks that follow.

    shipped = ship(spark, projection)      # on the driver
    def f(batches):                        # on the executors
        projection = shipped.value
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections import OrderedDict

import numpy as np
from pyspark.sql import SparkSession

from churn_spark.session import is_connect

# arrays a worker process keeps mapped (the k search uses one projection; a few leave room for a rerun)
_MAPPED_PER_WORKER = 4
_mapped: OrderedDict[str, np.ndarray] = OrderedDict()
# (session, artifact name) already uploaded: a session's artifacts cannot be replaced, only added
_uploaded: set[tuple[str, str]] = set()


class ShippedArray:
    """A read-only array for functions that run on the executors: ``value`` is the array.

    Pickled, it carries the array itself (classic: Spark broadcasts the large closure) or only the
    name of the session artifact that holds it (Spark Connect, :func:`ship`).
    """

    def __init__(self, array: np.ndarray, artifact: str | None = None) -> None:
        self._array: np.ndarray | None = array
        self.artifact = artifact

    @property
    def value(self) -> np.ndarray:
        if self._array is None:
            self._array = _map_artifact(self.artifact)
        return self._array

    def __getstate__(self) -> dict:
        return {"artifact": self.artifact, "array": None if self.artifact else self._array}

    def __setstate__(self, state: dict) -> None:
        self.artifact, self._array = state["artifact"], state["array"]


def ship(spark: SparkSession, array: np.ndarray) -> ShippedArray:
    """``array`` for the executors of ``spark``'s functions: in the closure on a classic session, as a
    file artifact of the session (named by its content, uploaded once) on Spark Connect."""
    array = np.ascontiguousarray(array)
    if not is_connect(spark):
        return ShippedArray(array)
    digest = hashlib.sha256(memoryview(array).cast("B"))
    digest.update(f"{array.dtype.str}{array.shape}".encode())
    name = f"churn-spark-array-{digest.hexdigest()[:24]}.npy"
    if (spark.session_id, name) not in _uploaded:
        with tempfile.TemporaryDirectory(prefix="churn-spark-ship-") as folder:
            path = os.path.join(folder, name)
            np.save(path, array, allow_pickle=False)
            spark.addArtifacts(path, file=True)
        _uploaded.add((spark.session_id, name))
    return ShippedArray(array, artifact=name)


def _map_artifact(name: str) -> np.ndarray:
    """The array in the session artifact ``name``, mapped read-only once per worker process."""
    if name not in _mapped:
        from pyspark import SparkFiles

        _mapped[name] = np.load(SparkFiles.get(name), mmap_mode="r", allow_pickle=False)
        while len(_mapped) > _MAPPED_PER_WORKER:
            _mapped.popitem(last=False)
    _mapped.move_to_end(name)
    return _mapped[name]
