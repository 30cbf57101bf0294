"""Where the pipeline keeps what is not a table: the fitted models and the report.

::

    <model_dir>/text              PipelineModel [EmailCleaner, ChineseSegmenter, TermNormalizer, LogTfIdfModel]
    <model_dir>/lsi               LatentSemanticIndexingModel (k_max concepts, fold-in)
    <model_dir>/encoder           MarketingEncoderModel (candidates -> numeric columns)
    <model_dir>/structured        PipelineModel [ChurnLogisticModel] (the selected variables)
    <model_dir>/structured_text   PipelineModel [ChurnLogisticModel] (the variables + the first k concepts)
    <model_dir>/manifest.json     selected variables, k, window, model version (run id)
    <report_dir>/                 report.md, summary.json, the charts

``model_dir`` is ``run.model_dir`` or ``<warehouse>/_models``; ``report_dir`` is ``run.report_dir``
or ``<warehouse>/report`` (the data contract's ``DIR/report/``).
"""

from __future__ import annotations

import json
import os
from typing import Any

from pyspark.ml.util import MLWritable
from pyspark.sql import SparkSession

from churn_spark.config import Config
from churn_spark.session import is_connect


def model_dir(cfg: Config) -> str:
    """``run.model_dir``, or ``<warehouse>/_models``."""
    return _absolute(cfg.run.model_dir or f"{cfg.run.warehouse.rstrip('/')}/_models")


def report_dir(cfg: Config) -> str:
    """``run.report_dir``, or ``<warehouse>/report``."""
    return _absolute(cfg.run.report_dir or f"{cfg.run.warehouse.rstrip('/')}/report")


def _absolute(folder: str) -> str:
    return folder if "://" in folder or os.path.isabs(folder) else os.path.abspath(folder)


def artefact_path(cfg: Config, name: str) -> str:
    """Where the fitted artefact ``name`` (text, lsi, encoder, ...) is saved."""
    return f"{model_dir(cfg).rstrip('/')}/{name}"


def save_model(model: MLWritable, path: str) -> None:
    """Save the fitted ``model`` at ``path``, replacing what was there.

    ``MLWriter.overwrite()`` deletes the old folder through the JVM's Hadoop FileSystem, which
    a Spark Connect client cannot reach; there an overwriting write of an empty frame clears
    the folder on the server's file system instead (the model's parts go in sub-folders).
    """
    spark = SparkSession.active()
    if is_connect(spark):
        spark.range(0).selectExpr("'' AS value").write.mode("overwrite").text(path)
        model.write().save(path)
    else:
        model.write().overwrite().save(path)


def _manifest_path(cfg: Config) -> str:
    return artefact_path(cfg, "manifest.json")


def read_manifest(cfg: Config) -> dict[str, Any]:
    """The manifest the ``kselect`` and ``models`` stages wrote (k, variables, window, model version)."""
    with open(_manifest_path(cfg), encoding="utf-8") as fh:
        return json.load(fh)


def update_manifest(cfg: Config, **entries: Any) -> None:
    """Set ``entries`` in the manifest, keeping the others."""
    path = _manifest_path(cfg)
    data = read_manifest(cfg) if os.path.exists(path) else {}
    data.update(entries)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, sort_keys=True)
