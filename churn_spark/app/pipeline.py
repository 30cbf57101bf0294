"""The pipeline: stages in order, each reading and writing tables, resumable and idempotent.

A stage is a function ``fn(ctx) -> dict`` (a summary) that reads its input tables and
(over)writes its output tables through the lake. Each completed stage appends a row to
the ``pipeline_runs`` table: run id, stage, configuration fingerprint, the versions of its
input tables and of the outputs it wrote. A stage is *up to date* — and skipped — when its
last completed record has the same configuration fingerprint, its inputs are still at the
recorded versions and its outputs were not replaced since. So re-running the same command
after a crash or an interrupt resumes at the first stage that did not finish, and a re-run
with nothing changed does nothing; ``--force`` re-runs every stage, ``--from``/``--to``/
``--only`` choose a slice. Because every output is an overwrite committed atomically,
re-running a stage never duplicates rows and an interrupted stage leaves no partial table.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pyspark.sql import types as T

RUNS_TABLE = "pipeline_runs"


@dataclass(frozen=True)
class Stage:
    """One step of the pipeline: what it reads, writes and which configuration it depends on."""

    name: str
    target: str  # "module:function" taking the CLI Context
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    config: tuple[str, ...]  # configuration sections whose values change its result
    help: str = ""

    def function(self):
        module, name = self.target.split(":")
        return getattr(importlib.import_module(module), name)


_MARKETING = ("customers", "subscriptions", "complaints", "suspensions", "changes", "dm_actions",
              "free_papers")

GENERATE = Stage("generate", "churn_spark.synth.generate:run_generate_command", (),
                 (*_MARKETING, "emails", "truth"), ("generate",),
                 "generate the newspaper world (bronze tables)")
FEATURES = Stage("features", "churn_spark.features:run_features_command", _MARKETING,
                 ("observations",), ("features", "run"), "Appendix C variables per renewal point")
INGEST = Stage("ingest", "churn_spark.lake.ingest:run_ingest_command", (),
               ("emails", "observations", "quarantine"), ("ingest", "run"), "load your own data")
TEXT = Stage("text", "churn_spark.text.pipeline:run_text_command", ("emails", "observations"),
             ("email_terms", "vocabulary", "doc_vectors", "text_masking"), ("text",),
             "clean, segment, weight and sum the emails per unit")
LSI = Stage("lsi", "churn_spark.app.stages.common:run_lsi_stage", ("doc_vectors", "vocabulary"),
            ("lsi_concepts", "lsi_terms", "unit_concepts"), ("lsi", "run"),
            "SVD of the unit-by-term matrix, fold-in of every unit with emails")
SELECTION = Stage("selection", "churn_spark.app.stages.common:run_selection_stage", ("observations", "doc_vectors"),
                  ("feature_selection",), ("selection", "run"), "forward selection of marketing variables")
KSELECT = Stage("kselect", "churn_spark.app.stages.common:run_kselect_stage",
                ("observations", "doc_vectors", "unit_concepts", "feature_selection"), ("k_selection",),
                ("lsi", "selection", "run"), "number of concepts k by 5-fold CV AUC")
MODELS = Stage("models", "churn_spark.app.stages.common:run_models_stage",
               ("observations", "doc_vectors", "unit_concepts", "feature_selection", "k_selection"),
               ("model_coefficients", "test_predictions"), ("model", "selection", "run"),
               "fit the structured and structured + text models")
EVALUATE = Stage("evaluate", "churn_spark.app.stages.common:run_evaluate_stage",
                 ("test_predictions", "feature_selection", "k_selection", "model_coefficients"),
                 ("model_metrics", "roc_curve", "lift_curve"), ("evaluation",),
                 "AUC, DeLong, lift, curves, report and summary.json")
SCORE = Stage("score", "churn_spark.app.stages.common:run_score_stage",
              ("emails", "observations", "model_coefficients"),
              ("churn_scores",), ("model", "text", "run"), "score units without a label")

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


def config_fingerprint(cfg, stage: Stage) -> str:
    """A hash of the configuration sections ``stage`` depends on."""
    data = cfg.to_dict()
    relevant = {section: data.get(section) for section in stage.config}
    return hashlib.sha256(json.dumps(relevant, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _versions(lake, names: Sequence[str]) -> dict[str, int | None]:
    return {n: (lake.version(n) if lake.exists(n) else None) for n in names}


def _last_record(lake, stage: Stage) -> dict[str, Any] | None:
    if not lake.exists(RUNS_TABLE):
        return None
    rows = (lake.read(RUNS_TABLE).where(f"stage = '{stage.name}'")
            .orderBy("started_at", ascending=False).limit(1).collect())
    return rows[0].asDict() if rows else None


def is_up_to_date(lake, cfg, stage: Stage) -> bool:
    """Whether the last completed run of ``stage`` still describes the tables."""
    record = _last_record(lake, stage)
    if record is None or record["config_hash"] != config_fingerprint(cfg, stage):
        return False
    outputs = _versions(lake, stage.outputs)
    if any(v is None for v in outputs.values()):
        return False
    recorded_in = {k: v for k, v in json.loads(record["inputs"]).items()}
    current_in = _versions(lake, list(recorded_in))
    return recorded_in == current_in and json.loads(record["outputs"]) == outputs


def run_stage(ctx, stage: Stage) -> dict:
    """Run one stage, record it in ``pipeline_runs`` and return its summary."""
    lake = ctx.lake
    lake.reset_lineage()  # the commits of this stage record only what this stage read
    inputs = _versions(lake, [n for n in stage.inputs if lake.exists(n)])
    started = dt.datetime.now(dt.timezone.utc)
    t0 = time.time()
    print(f"[{stage.name}] started", flush=True)
    summary = stage.function()(ctx) or {}
    seconds = time.time() - t0
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


def run_pipeline(ctx, stages: Sequence[Stage], force: bool = False) -> dict[str, dict]:
    """Run ``stages`` in order, skipping those that are up to date unless ``force``."""
    summaries: dict[str, dict] = {}
    for stage in stages:
        # a re-run stage writes new versions, so every stage reading them is no longer up to date
        if not force and is_up_to_date(ctx.lake, ctx.cfg, stage):
            print(f"[{stage.name}] up to date, skipped", flush=True)
            summaries[stage.name] = _recorded_summary(ctx.lake, stage)
            continue
        summaries[stage.name] = run_stage(ctx, stage)
    return summaries


def _recorded_summary(lake, stage: Stage) -> dict:
    record = _last_record(lake, stage)
    return json.loads(record["summary"]) if record and record["summary"] else {}


# ---------------------------------------------------------------------------------------
# command-line entry points


def run_stage_command(ctx) -> dict:
    """``churn-spark <stage>``: run that one stage (always; it is what was asked for)."""
    return run_stage(ctx, ALL_STAGES[ctx.args.command])


def _chosen(ctx, stages: Sequence[Stage]) -> list[Stage]:
    return select_stages(stages, ctx.args.start, ctx.args.stop, ctx.args.only)


def run_generated_command(ctx) -> dict[str, dict]:
    """``churn-spark pipeline``: the stages on generated data."""
    return run_pipeline(ctx, _chosen(ctx, GENERATED_PIPELINE), force=ctx.args.force)


def run_own_data_command(ctx) -> dict[str, dict]:
    """``churn-spark run --emails --observations --out``: the stages on the user's data."""
    summaries = run_pipeline(ctx, _chosen(ctx, OWN_DATA_PIPELINE), force=ctx.args.force)
    print_result(ctx, summaries)
    return summaries


def run_demo_command(ctx) -> dict[str, dict]:
    """``churn-spark demo`` (``make demo``): generated data at the paper's size, every stage."""
    summaries = run_pipeline(ctx, _chosen(ctx, GENERATED_PIPELINE), force=ctx.args.force)
    print_result(ctx, summaries)
    return summaries


def print_result(ctx, summaries: dict[str, dict]) -> None:
    """The short result: sizes, k, Table 4 beside the paper's, DeLong, where things are."""
    from churn_spark.app.stages.common import read_manifest, report_dir

    cfg, lake = ctx.cfg, ctx.lake
    summary_path = f"{report_dir(cfg)}/summary.json"
    try:
        with open(summary_path, encoding="utf-8") as fh:
            summary = json.load(fh)
    except FileNotFoundError:
        print("result: no report yet (the evaluate stage has not run)")
        return
    paper = {"structured": (0.7380, 2.69), "structured_text": (0.7775, 3.07)}
    models = summary["models"]
    oracle = {name: m["oracle_auc"] for name, m in models.items() if m.get("oracle_auc") is not None}
    print()
    print(f"churn-spark result  (warehouse {lake.root})")
    print(f"  units: {summary['n_train']} train / {summary['n_test']} test with emails"
          f"   (paper: 9,603 / 3,161)")
    print(f"  chosen k: {summary['k']} concepts (paper: 170); "
          f"{len(models['structured'].get('variables', []))} marketing variables selected (paper: 20)")
    print()
    print("  Table 4, test set        AUC      95% CI            top-decile lift   paper AUC  lift"
          + ("   oracle AUC" if oracle else ""))
    for name, label in (("structured", "structured"), ("structured_text", "structured + text")):
        m = models[name]
        ci = (m.get("auc_ci_low", float("nan")), m.get("auc_ci_high", float("nan")))
        line = (f"  {label:<22} {m['auc']:.4f}   [{ci[0]:.4f}, {ci[1]:.4f}]   {m['top_decile_lift']:>6.2f}"
                f"            {paper[name][0]:.4f}     {paper[name][1]:.2f}")
        if oracle:
            line += f"   {oracle.get(name, float('nan')):.4f}"
        print(line)
    delong = summary["delong"]
    print(f"  DeLong test of the two AUCs: chi2 = {delong['chi2']:.2f}, p = {delong['p_value']:.2g}"
          "   (paper: chi2 = 23.1, p < 0.001)")
    print()
    print(f"  report:  {report_dir(cfg)}/report.md  (summary.json, ROC, lift and CV-AUC-by-k charts)")
    print(f"  tables:  {', '.join(lake.list())}")
    print(f"  models:  {read_manifest(cfg).get('model_version', '?')} under the warehouse's _models/")
    print(f"  query:   churn-spark sql --warehouse {lake.root} "
          "'SELECT model, auc, top_decile_lift FROM churn.model_metrics'")
