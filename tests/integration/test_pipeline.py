"""The whole pipeline on the tiny generated world: tables, contract, privacy, resume, kill.

One run of every stage is shared by the tests of this module (it takes a few minutes);
a second run in a subprocess is killed half-way and re-run to check that nothing is left
partial or duplicated.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest
from conftest import FAST
from pyspark.sql import functions as F

from churn_spark.app.cli import main
from churn_spark.app.pipeline import GENERATED_PIPELINE, RUNS_TABLE
from churn_spark.lake.tables import Lake

SILVER_GOLD = ("observations", "email_terms", "text_masking", "vocabulary", "doc_vectors", "lsi_concepts",
               "lsi_terms", "unit_concepts", "feature_selection", "k_selection", "model_coefficients",
               "test_predictions", "model_metrics", "roc_curve", "lift_curve", "decile_lift", "delong_test",
               "churn_scores", "pipeline_runs")


@pytest.fixture
def warehouse(tiny_warehouse):
    return tiny_warehouse


@pytest.fixture
def lake(spark, warehouse):
    return Lake(spark, root=warehouse)


@pytest.fixture
def own_warehouse(spark, warehouse, tmp_path):
    """The module's finished warehouse for a test that changes it, put back as built afterwards.

    Restored at the same path, not copied elsewhere: ``run.warehouse`` is part of the stages'
    configuration, so a copy at another path would make every stage out of date.
    """
    as_built = tmp_path / "as_built"
    shutil.copytree(warehouse, as_built)
    yield warehouse, Lake(spark, root=warehouse)
    shutil.rmtree(warehouse)
    shutil.copytree(as_built, warehouse)


def test_every_stage_wrote_its_tables(lake):
    stages = {r.stage for r in lake.read(RUNS_TABLE).collect()}
    assert stages == {s.name for s in GENERATED_PIPELINE}
    for stage in GENERATED_PIPELINE:
        for table in stage.outputs:
            assert lake.exists(table), table
    # one row per unit wherever a table is per unit
    for table in ("observations", "doc_vectors", "unit_concepts", "test_predictions", "churn_scores"):
        df = lake.read(table)
        assert df.count() == df.select("unit_id").distinct().count() > 0, table
    # loadings for exactly the units with emails (the others' would all be zero)
    with_emails = lake.read("doc_vectors").where("has_emails").select("unit_id")
    concepts = lake.read("unit_concepts").select("unit_id")
    assert concepts.count() == with_emails.count() < lake.read("doc_vectors").count()
    assert concepts.join(with_emails, "unit_id", "left_anti").count() == 0


def test_unit_concepts_carry_their_size_without_evaluating_the_join(lake):
    from churn_spark.app.stages.units import labelled_units, with_concepts
    from churn_spark.linalg.vectors import vector_size

    units = with_concepts(lake, labelled_units(lake, "train"))
    stored = lake.read("unit_concepts").select(F.size("concepts")).distinct().collect()
    assert [r[0] for r in stored] == [40]  # k_max of FAST, every stored unit
    assert vector_size(units, "concepts", compute=False) == 40  # from the metadata, no job
    arrays = with_concepts(lake, labelled_units(lake, "train"), as_vector=False)
    assert arrays.schema["concepts"].dataType.simpleString() == "array<double>"
    assert vector_size(arrays, "concepts", compute=False) == 40
    one = units.orderBy("unit_id").select("unit_id", "concepts").first()
    same = arrays.where(F.col("unit_id") == one.unit_id).select("concepts").first()[0]
    assert same == one.concepts.toArray().tolist()


def test_summary_json_follows_the_data_contract(lake, warehouse):
    summary = json.loads(open(os.path.join(warehouse, "report", "summary.json"), encoding="utf-8").read())
    assert summary["n_train"] > 0 and summary["n_test"] > 0
    assert summary["k"] in (5, 10, 20, 40)
    for name in ("structured", "structured_text"):
        model = summary["models"][name]
        assert 0.5 < model["auc"] <= 1.0 and model["top_decile_lift"] > 1.0
    assert summary["models"]["structured"]["variables"]
    assert summary["delong"]["chi2"] >= 0 and 0 <= summary["delong"]["p_value"] <= 1
    metrics = {r.model: r.auc for r in lake.read("model_metrics").collect()}
    assert metrics["structured_text"] == pytest.approx(summary["models"]["structured_text"]["auc"])
    for chart in ("roc.png", "lift.png", "cv_auc_by_k.png", "report.md"):
        assert os.path.getsize(os.path.join(warehouse, "report", chart)) > 1000, chart


def test_scores_rank_every_unit_without_a_label(lake):
    pending = lake.read("observations").where("churn IS NULL").count()
    scores = lake.read("churn_scores")
    assert scores.count() == pending > 0
    stats = scores.agg(F.min("rank"), F.max("rank"), F.min("decile"), F.max("decile"),
                       F.min("p_churn"), F.max("p_churn")).first()
    assert (stats[0], stats[1], stats[2], stats[3]) == (1, pending, 1, 10)
    assert 0.0 <= stats[4] <= stats[5] <= 1.0
    top = scores.orderBy("rank").select("p_churn").limit(5).collect()
    assert [r.p_churn for r in top] == sorted((r.p_churn for r in top), reverse=True)


def _pii_patterns() -> list[re.Pattern]:
    # digit runs must stand alone: the digits of a float such as 0.1450676982591876 are no card number
    alone = r"(?<![0-9.]){}(?![0-9.])"
    return [re.compile(p) for p in (alone.format(r"1[3-9]\d{9}"), r"[\w.+-]+@[\w-]+\.[\w.]+",
                                    alone.format(r"\d{17}[\dXx]"), alone.format(r"\d{16,19}"),
                                    r"https?://", r"www\.")]


def test_no_personal_data_beyond_bronze(spark, lake):
    """Raw contact data of the generated customers and PII patterns appear in no silver/gold table."""
    contacts = lake.read("customers").select("phone", "mobile", "email").where("email IS NOT NULL").limit(300)
    known = {v for row in contacts.collect() for v in row if v}
    assert known
    for table in SILVER_GOLD:
        df = lake.read(table)
        text_cols = [f.name for f in df.schema if f.dataType.simpleString() in ("string", "array<string>")]
        if not text_cols:
            continue
        flat = df.select(F.concat_ws(" ", *[F.concat_ws(" ", F.col(c)) if dict(df.dtypes)[c].startswith("array")
                                            else F.col(c) for c in text_cols]).alias("t"))
        hits = flat.where(F.col("t").rlike("|".join(p.pattern for p in _pii_patterns()))).limit(3).collect()
        assert hits == [], (table, hits)
        found = flat.where(F.col("t").rlike("|".join(re.escape(v) for v in sorted(known)))).limit(3).collect()
        assert found == [], (table, found)


def test_rerun_skips_up_to_date_stages_and_changes_nothing(lake, warehouse, capsys):
    versions = {t: lake.version(t) for t in lake.list() if t != RUNS_TABLE}
    assert main(["pipeline", "--preset", "tiny", "--warehouse", warehouse, *FAST]) == 0
    out = capsys.readouterr().out
    assert out.count("up to date, skipped") == len(GENERATED_PIPELINE)
    assert {t: lake.version(t) for t in versions} == versions


def test_a_changed_setting_reruns_only_what_depends_on_it(own_warehouse, capsys):
    warehouse, lake = own_warehouse
    before = {t: lake.version(t) for t in ("observations", "doc_vectors", "model_metrics")}
    assert main(["pipeline", "--preset", "tiny", "--warehouse", warehouse, *FAST,
                 "--conf", "evaluation.curve_points=100"]) == 0
    out = capsys.readouterr().out
    assert "[evaluate] started" in out and "[text] up to date" in out
    after = {t: lake.version(t) for t in before}
    assert after["observations"] == before["observations"] and after["doc_vectors"] == before["doc_vectors"]
    assert after["model_metrics"] == before["model_metrics"] + 1
    assert lake.read("roc_curve").groupBy("model").count().first()[1] == 101


def test_a_killed_run_resumes_and_leaves_no_partial_or_duplicate_rows(spark, own_warehouse, tmp_path):
    """Kill a run in the middle of the text stage, then run the same command again.

    A changed text setting makes the text stage and everything after it out of date; the
    killed run must leave every table at its previous version, the re-run must finish it.
    Both runs stop after the LSI stage (``--to lsi``): the stages after it resume alike, and
    test_a_changed_setting_reruns_only_what_depends_on_it covers them.
    """
    warehouse, lake = own_warehouse
    command = [sys.executable, "-m", "churn_spark.app.cli", "pipeline", "--preset", "tiny", "--warehouse", warehouse,
               "--to", "lsi", *FAST, "--conf", "text.min_term_count=4"]
    tables = ("email_terms", "vocabulary", "doc_vectors", "unit_concepts")
    counts = {t: lake.read(t).count() for t in tables}
    versions = {t: lake.version(t) for t in tables}
    log_path = tmp_path / "killed.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + 600
        while time.time() < deadline and "[text] started" not in log_path.read_text():
            time.sleep(0.5)
        time.sleep(2)  # inside the stage's Spark jobs
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(60)
    assert "[text] started" in log_path.read_text() and "[text] done" not in log_path.read_text()
    # each table is committed atomically: the killed stage may have replaced some of its tables
    # (complete, one new version) but never left a half-written one
    killed = Lake(spark, root=warehouse)
    for table in tables:
        assert killed.version(table) in (versions[table], versions[table] + 1), table
        key = "email_id" if table == "email_terms" else ("term" if table == "vocabulary" else "unit_id")
        df = killed.read(table)
        assert df.count() == df.select(key).distinct().count() > 0, table

    rerun = subprocess.run(command, capture_output=True, text=True, timeout=1200)  # the same command again
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "[text] started" in rerun.stdout and "[lsi] done" in rerun.stdout
    fresh = Lake(spark, root=warehouse)
    assert fresh.read("vocabulary").where("NOT excluded").count() < \
        lake.read("vocabulary", version=versions["vocabulary"]).where("NOT excluded").count()
    for table, n in counts.items():
        if table == "vocabulary":
            continue  # the same terms, more of them excluded
        df = fresh.read(table)
        key = "email_id" if table == "email_terms" else "unit_id"
        assert df.count() == n == df.select(key).distinct().count(), table
        assert fresh.version(table) > versions[table], table  # recomputed by the re-run
    from deltalake import DeltaTable
    for table in fresh.list():  # every table a plain Delta table at the version Spark sees, for any reader
        assert DeltaTable(fresh.path(table)).version() == fresh.version(table), table


def test_experiment_add_non_emailers_refits_the_structured_model_on_nested_samples(own_warehouse, tmp_path, capsys):
    """Fig. 7: n = 0 is the structured model again; 100000 is clipped to the units without emails."""
    warehouse, lake = own_warehouse
    empty = str(tmp_path / "empty")
    assert main(["experiment", "add-non-emailers", "--warehouse", empty, *FAST]) == 1
    assert "run the pipeline first" in capsys.readouterr().err

    assert main(["experiment", "add-non-emailers", "--warehouse", warehouse, *FAST,
                 "--conf", "experiment.non_emailer_grid=[0,300,100000]"]) == 0
    assert "clipped" in capsys.readouterr().out
    train = (lake.read("observations").join(lake.read("doc_vectors").select("unit_id", "has_emails"), "unit_id")
             .where("split = 'train' AND churn IS NOT NULL"))
    with_emails, without = train.where("has_emails").count(), train.where("NOT has_emails").count()
    assert without > 300
    table = lake.read("non_emailer_experiment")
    grid = sorted((r.asDict() for r in table.where("model = 'structured_plus_non_emailers'").collect()),
                  key=lambda r: r["n_added"])
    assert [r["n_added"] for r in grid] == [0, 300, without]
    assert [r["n_train"] for r in grid] == [with_emails, with_emails + 300, with_emails + without]
    metrics = {r.model: r.auc for r in lake.read("model_metrics").collect()}
    # same training units, same variables, same GLM: the structured model of the models stage
    assert grid[0]["auc"] == pytest.approx(metrics["structured"], abs=1e-6)
    references = {r.model: r.auc for r in table.where("model <> 'structured_plus_non_emailers'").collect()}
    assert references == pytest.approx(metrics)
    for row in table.collect():
        assert 0.0 <= row.auc_ci_low < row.auc < row.auc_ci_high <= 1.0, row
    assert os.path.getsize(os.path.join(warehouse, "report", "fig7_non_emailers.png")) > 1000
