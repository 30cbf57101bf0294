"""The pipeline: stages in order, each reading and writing tables, resumable and idempotent.

A stage (:class:`churn_spark.app.stages.Stage`) reads its input tables and (over)writes its
output tables through the lake. Each completed stage appends a row to the ``pipeline_runs``
table: run id, stage, configuration fingerprint, the versions of its input tables (and of the
tables saved with the artefacts it loads) and of the outputs it wrote. A stage is *up to date* —
and skipped — when its last completed record has the same configuration fingerprint, its inputs
are still at the recorded versions and its outputs were not replaced since. So re-running the
same command after a crash or an interrupt resumes at the first stage that did not finish, and a
re-run with nothing changed does nothing; ``force`` re-runs every stage, ``select_stages`` chooses
a slice. Because every output is an overwrite committed atomically, re-running a stage never
duplicates rows and an interrupted stage leaves no partial table.

:func:`run_stage` also checks each stage against its declaration: a stage that read a table
outside its ``inputs`` (or its own ``outputs``), or wrote one outside its ``outputs``, fails with
:class:`UndeclaredTableError`, so that freshness can trust the declarations.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from collections.abc import Sequence
from typing import Any

from pyspark.sql import types as T

from churn_spark.app.context import Context
from churn_spark.app.stages import (
    Stage,
    evaluate,
    features,
    generate,
    ingest,
    kselect,
    lsi,
    models,
    score,
    selection,
    text,
)
from churn_spark.config import Config
from churn_spark.lake.tables import Lake

RUNS_TABLE = "pipeline_runs"

GENERATE, FEATURES, INGEST, TEXT = generate.STAGE, features.STAGE, ingest.STAGE, text.STAGE
LSI, SELECTION, KSELECT, MODELS = lsi.STAGE, selection.STAGE, kselect.STAGE, models.STAGE
EVALUATE, SCORE = evaluate.STAGE, score.STAGE

GENERATED_PIPELINE = (GENERATE, FEATURES, TEXT, LSI, SELECTION, KSELECT, MODELS, EVALUATE, SCORE)
OWN_DATA_PIPELINE = (INGEST, TEXT, LSI, SELECTION, KSELECT, MODELS, EVALUATE, SCORE)
ALL_STAGES = {s.name: s for s in (*GENERATED_PIPELINE, INGEST)}

_RUNS_SCHEMA = T.StructType([
    T.StructField("run_id", T.StringType()),
    T.StructField("stage", T.StringType()),
    T.StructField("config_hash", T.StringType()),
    T.StructField("inputs", T.StringType()),   # JSON {table: version}
    T.StructField("outputs", T.StringType()),  # JSON {table: version}
    T.StructField("started_at", T.TimestampType()),
    T.StructField("seconds", T.DoubleType()),
    T.StructField("summary", T.StringType()),  # JSON, what the stage reported
])


class UndeclaredTableError(RuntimeError):
    """A stage read or wrote a table its declaration does not name."""


def config_fingerprint(cfg: Config, stage: Stage) -> str:
    """A hash of the configuration sections ``stage`` depends on."""
    data = cfg.to_dict()
    relevant = {section: data.get(section) for section in stage.config}
    return hashlib.sha256(json.dumps(relevant, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _versions(lake: Lake, names: Sequence[str]) -> dict[str, int | None]:
    return {n: (lake.version(n) if lake.exists(n) else None) for n in names}


def _depends_on(stage: Stage) -> list[str]:
    """The tables whose versions decide whether ``stage`` is up to date: its inputs and artefacts."""
    return list(dict.fromkeys((*stage.inputs, *stage.artefacts)))


def _last_record(lake: Lake, stage: Stage) -> dict[str, Any] | None:
    if not lake.exists(RUNS_TABLE):
        return None
    rows = (lake.read(RUNS_TABLE).where(f"stage = '{stage.name}'")
            .orderBy("started_at", ascending=False).limit(1).collect())
    return rows[0].asDict() if rows else None


def is_up_to_date(lake: Lake, cfg: Config, stage: Stage) -> bool:
    """Whether the last completed run of ``stage`` still describes the tables."""
    record = _last_record(lake, stage)
    if record is None or record["config_hash"] != config_fingerprint(cfg, stage):
        return False
    outputs = _versions(lake, stage.outputs)
    if any(v is None for v in outputs.values()):
        return False
    recorded_in = json.loads(record["inputs"])
    current_in = _versions(lake, list(recorded_in))
    return recorded_in == current_in and json.loads(record["outputs"]) == outputs


def undeclared_tables(stage: Stage, read: Sequence[str], written: Sequence[str]) -> list[str]:
    """What ``stage`` touched beyond its declaration, as readable phrases (empty when it kept to it).

    A stage may read back what it wrote (its ``outputs``); every written table must be an output.
    """
    problems = [f"read {t}" for t in sorted(set(read) - set(stage.inputs) - set(stage.outputs))]
    problems += [f"wrote {t}" for t in sorted(set(written) - set(stage.outputs))]
    return problems


def run_stage(ctx: Context, stage: Stage) -> dict:
    """Run one stage, check it kept to its declaration, record it in ``pipeline_runs``; return its summary."""
    lake = ctx.lake
    lake.reset_lineage()  # the commits of this stage record only what this stage read
    inputs = _versions(lake, [n for n in _depends_on(stage) if lake.exists(n)])
    started = dt.datetime.now(dt.timezone.utc)
    t0 = time.time()
    print(f"[{stage.name}] started", flush=True)
    summary = stage.run(ctx) or {}
    seconds = time.time() - t0
    problems = undeclared_tables(stage, list(lake.lineage), list(lake.written))
    if problems:
        raise UndeclaredTableError(f"stage {stage.name} {', '.join(problems)}: not in its declaration "
                                   f"(inputs {list(stage.inputs)}, outputs {list(stage.outputs)})")
    outputs = _versions(lake, stage.outputs)
    row = (lake.run_id, stage.name, config_fingerprint(ctx.cfg, stage), json.dumps(inputs),
           json.dumps(outputs), started, seconds, json.dumps(summary, default=str))
    record = ctx.spark.createDataFrame([row], _RUNS_SCHEMA)
    lake.write(record, RUNS_TABLE, mode="append", inputs=inputs)
    print(f"[{stage.name}] done in {seconds:.1f} s", flush=True)
    return summary


def select_stages(stages: Sequence[Stage], start: str | None = None, stop: str | None = None,
                  only: Sequence[str] = ()) -> list[Stage]:
    """The stages between ``start`` and ``stop`` (inclusive), or exactly ``only``."""
    names = [s.name for s in stages]
    for name in [start, stop, *only]:
        if name is not None and name not in names:
            raise ValueError(f"unknown stage {name!r}; stages: {', '.join(names)}")
    if only:
        return [s for s in stages if s.name in only]
    lo = names.index(start) if start else 0
    hi = names.index(stop) if stop else len(names) - 1
    return list(stages[lo:hi + 1])


def run_pipeline(ctx: Context, stages: Sequence[Stage], force: bool = False) -> dict[str, dict]:
    """Run ``stages`` in order, skipping those that are up to date unless ``force``."""
    summaries: dict[str, dict] = {}
    for stage in stages:
        # a re-run stage writes new versions, so every stage reading them is no longer up to date
        if not force and is_up_to_date(ctx.lake, ctx.cfg, stage):
            print(f"[{stage.name}] up to date, skipped", flush=True)
            summaries[stage.name] = recorded_summary(ctx.lake, stage)
            continue
        summaries[stage.name] = run_stage(ctx, stage)
    return summaries


def recorded_summary(lake: Lake, stage: Stage) -> dict:
    """The summary ``stage`` reported on its last completed run (empty if none)."""
    record = _last_record(lake, stage)
    return json.loads(record["summary"]) if record and record["summary"] else {}
