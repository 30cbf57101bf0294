"""The text pipeline end to end: persistence, script invariance, the fused pass, the stage on a lake."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import opencc
import pandas as pd
import pytest
from pyspark.ml import Pipeline, PipelineModel

from churn_spark.app.context import Context
from churn_spark.app.stages import text as text_stage
from churn_spark.config import load_config
from churn_spark.lake.tables import Lake
from churn_spark.synth.text import TOPICS, render_emails, render_emails_with_pii
from churn_spark.text.aggregate import aggregate_unit_vectors, training_emails
from churn_spark.text.cleaning import PII_TYPES, EmailCleaner, normalize_width_script_case
from churn_spark.text.normalize import TermNormalizer
from churn_spark.text.pipeline import build_text_stages, emails_to_terms
from churn_spark.text.review import review_terms
from churn_spark.text.segment import ChineseSegmenter
from churn_spark.text.weighting import LogTfIdf

USER_DICT = "明河日报 5000 n\n投递员 5000 n\n送报员 5000 n\n"
SYNONYMS = {"送报员": "投递员", "定阅": "订阅"}
SIMPLIFIED = "您好：\n明河日报的送报员又没有按时投递报纸，我想取消定阅，请尽快处理退款。\n谢谢！\n张伟"


def _stages():
    return [EmailCleaner(), ChineseSegmenter(userDictionary=USER_DICT), TermNormalizer(synonyms=SYNONYMS),
            LogTfIdf(minTermCount=1)]


@pytest.fixture(scope="module")
def emails(spark):
    rng = np.random.default_rng(3)
    texts = render_emails(rng.dirichlet(np.ones(len(TOPICS)), size=40), rng, 0.2)
    rows = [(f"e{i}", s, b) for i, (s, b) in enumerate(texts)] + [("simplified", "退订", SIMPLIFIED)]
    return spark.createDataFrame(rows, "email_id string, subject string, body string").coalesce(1)


@pytest.fixture(scope="module")
def fitted(emails):
    return Pipeline(stages=_stages()).fit(emails)


def test_pipeline_model_saves_and_loads_with_identical_vectors(fitted, emails, tmp_path):
    fitted.write().overwrite().save(str(tmp_path / "text"))
    loaded = PipelineModel.load(str(tmp_path / "text"))
    assert [type(s).__name__ for s in loaded.stages] == ["EmailCleaner", "ChineseSegmenter", "TermNormalizer",
                                                          "LogTfIdfModel"]
    before = {r.email_id: (r.terms, r.vector) for r in fitted.transform(emails).collect()}
    after = {r.email_id: (r.terms, r.vector) for r in loaded.transform(emails).collect()}
    assert before == after
    assert sum(v.numNonzeros() for _, v in after.values()) > 0


def test_traditional_email_and_its_simplified_twin_get_the_same_vector(fitted, spark):
    s2t = opencc.OpenCC("s2t")
    traditional = s2t.convert(SIMPLIFIED)
    assert traditional != SIMPLIFIED
    full_width_html = "<p>" + traditional.replace("\n", "<br>").replace("，", "&#65292;") + "</p>"
    df = spark.createDataFrame([("s", "退订", SIMPLIFIED), ("t", s2t.convert("退订"), traditional),
                                ("h", "回覆：" + s2t.convert("退订"), full_width_html)],
                               "email_id string, subject string, body string").coalesce(1)
    rows = {r.email_id: r for r in fitted.transform(df).collect()}
    assert rows["s"].vector.numNonzeros() > 3
    assert rows["t"].vector == rows["s"].vector and rows["h"].vector == rows["s"].vector
    assert rows["s"].terms[:3] == ["退订", "明河日报", "投递员"]  # synonym normalised, signature dropped
    assert "张伟" not in rows["s"].terms and "谢谢" not in rows["s"].terms


def test_fused_single_pass_equals_the_stage_by_stage_pipeline(fitted, emails):
    cleaner, segmenter, normalizer, _ = fitted.stages
    fused = {r.email_id: r.terms for r in emails_to_terms(
        emails, cleaner, segmenter, normalizer, keep=("email_id",)).collect()}
    staged = {r.email_id: r.terms for r in fitted.transform(emails).select("email_id", "terms").collect()}
    assert fused == staged


# ---------------------------------------------------------------------------------------
# the stage function on a lake of generated emails that contain personal data; a third of
# them fall in no unit's window (too old, or from customers without a unit)

OBSERVATION_SCHEMA = ("unit_id string, customer_id string, cutoff_date date, window_start date, split string, "
                      "churn int")


def _windowed_email_ids(emails: list[tuple], observations: list[tuple], window_days: int) -> set[str]:
    """The window rule of docs/data_contract.md in pandas: ``start < day(sent_at) <= cutoff_date`` for some unit."""
    e = pd.DataFrame(emails, columns=["email_id", "customer_id", "sent_at", "subject", "body"])
    o = pd.DataFrame(observations, columns=["unit_id", "customer_id", "cutoff_date", "window_start", "split",
                                            "churn"])
    pairs = e.merge(o, on="customer_id")
    cutoff = pd.to_datetime(pairs["cutoff_date"])
    start = pd.to_datetime(pairs["window_start"]).fillna(cutoff - pd.Timedelta(days=window_days))
    day = pd.to_datetime(pairs["sent_at"]).dt.normalize()
    return set(pairs.loc[(day > start) & (day <= cutoff), "email_id"])


@pytest.fixture(scope="module")
def stage_run(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("text_stage")
    (root / "stopwords.txt").write_text("# test stopwords\n的\n是\n能\n", encoding="utf-8")
    (root / "exclusions.txt").write_text("问题\n", encoding="utf-8")
    cfg = load_config(["local"], [f"run.warehouse={root / 'wh'}", f"text.stopwords={root / 'stopwords.txt'}",
                                  f"text.exclusions={root / 'exclusions.txt'}", "text.min_term_count=2",
                                  "text.window_days=60", "text.partitions=2"])
    rng = np.random.default_rng(17)
    rendered = render_emails_with_pii(rng.dirichlet(np.ones(len(TOPICS)), size=120), rng, 0.2)
    emails, pii = [], {}
    for i, (subject, body, values) in enumerate(rendered):
        customer = f"c{i % 44}"  # c40..c43 have no unit
        sent = dt.datetime(2024, 1, 1, 9) + dt.timedelta(days=i % 90, hours=i % 7)
        emails.append((f"e{i}", customer, sent, subject, body))
        pii[f"e{i}"] = values
    # window (Jan 31, Mar 31]; every 10th customer's unit has no label (scored later, by the score stage);
    # c5 has a second unit with its own window_start: its window (Jan 1, Jan 20] holds older emails
    observations = [(f"u{c}", f"c{c}", dt.date(2024, 3, 31), None, "train" if c % 4 else "test",
                     None if c % 10 == 9 else c % 3 % 2) for c in range(40)]
    observations += [("u5_jan", "c5", dt.date(2024, 1, 20), dt.date(2024, 1, 1), "train", 1),
                     ("u_none", "c_none", dt.date(2024, 3, 31), None, "test", 0)]
    lake = Lake(spark, cfg)
    email_schema = "email_id string, customer_id string, sent_at timestamp, subject string, body string"
    lake.write(spark.createDataFrame(emails, email_schema), "emails")
    lake.write(spark.createDataFrame(observations, OBSERVATION_SCHEMA), "observations")
    result = text_stage.run(Context(cfg, spark=spark, lake=lake))
    windowed = _windowed_email_ids(emails, observations, cfg.text.window_days)
    return lake, result, pii, cfg, emails, observations, windowed


def test_only_emails_in_some_units_window_are_segmented(stage_run):
    lake, result, _, cfg, emails, observations, windowed = stage_run
    unlabelled = _windowed_email_ids(emails, [o for o in observations if o[5] is None], cfg.text.window_days)
    labelled = _windowed_email_ids(emails, [o for o in observations if o[5] is not None], cfg.text.window_days)
    # the fixture covers every case: skipped emails, emails only a unit without a label uses
    assert 30 < len(windowed) < len(emails) - 30 and unlabelled - labelled
    assert {r.email_id for r in lake.read("email_terms").collect()} == windowed
    assert result["emails"] == len(windowed)
    assert result["emails_outside_windows"] == len(emails) - len(windowed)


def test_vocabulary_and_doc_vectors_equal_those_from_every_email(stage_run, spark):
    """Segmenting every email (as before the semi-join) gives the same vocabulary and unit vectors."""
    lake, _, _, cfg, _, _, _ = stage_run
    observations, window_days = lake.read("observations"), cfg.text.window_days
    stages = build_text_stages(cfg)
    every_email = emails_to_terms(lake.read("emails"), stages.cleaner, stages.segmenter, stages.normalizer)
    model = stages.weighting.fit(training_emails(every_email, observations, window_days))
    stored = lake.read("vocabulary").toPandas().sort_values("term").reset_index(drop=True)
    expected = model.vocabulary.sort_values("term").reset_index(drop=True)
    assert list(stored["term"]) == list(expected["term"]) and list(stored["reason"]) == list(expected["reason"])
    reference = {r.unit_id: r for r in aggregate_unit_vectors(model.transform(every_email), observations,
                                                              window_days).collect()}
    stored_units = {r.unit_id: r for r in lake.read("doc_vectors").collect()}
    assert set(stored_units) == set(reference) and sum(r.n_emails for r in reference.values()) > 30
    for unit, row in stored_units.items():
        assert (row.n_emails, row.has_emails) == (reference[unit].n_emails, reference[unit].has_emails)
        np.testing.assert_allclose(row.vector.toArray(), reference[unit].vector.toArray(), rtol=1e-12)


def test_stage_writes_the_tables_and_reports_counts(stage_run):
    lake, result, pii, cfg, _, observations, windowed = stage_run
    assert {"email_terms", "vocabulary", "doc_vectors", "text_masking"} <= set(lake.list())
    assert lake.read("email_terms").columns == ["email_id", "customer_id", "sent_at", "terms"]
    assert result["emails"] == lake.read("email_terms").count() == len(windowed)
    assert result["units"] == len(observations) and 0 < result["units_with_emails"] < len(observations)
    assert result["vocabulary_size"] == lake.read("vocabulary").filter("not excluded").count() > 20
    vocab = {r.term: r.reason for r in lake.read("vocabulary").collect()}
    assert vocab["是"] == "stopword" and vocab["问题"] == "manual"
    doc = lake.read("doc_vectors")
    assert doc.columns == ["unit_id", "customer_id", "split", "churn", "n_emails", "has_emails", "vector"]
    assert doc.filter("unit_id = 'u_none'").first().n_emails == 0
    assert doc.first().vector.size == result["vocabulary_size"]
    masking = {r.pii_type: r["count"] for r in lake.read("text_masking").collect()}
    assert masking == result["masked"] and set(masking) == set(PII_TYPES)
    written = sum(len(pii[email_id]) for email_id in windowed)  # the counts cover the processed emails
    assert sum(masking.values()) >= written > 30
    model = PipelineModel.load(result["model_path"])
    assert model.stages[1].getOrDefault("dictionaryVersion") == result["dictionary_version"]
    report = review_terms(lake.read("vocabulary"), 10)
    assert "| kept |" in report and report.count("\n| ") >= 10


def test_no_personal_data_in_any_silver_table(stage_run):
    lake, _, pii, _, _, _, windowed = stage_run
    terms = {r.email_id: r.terms for r in lake.read("email_terms").collect()}
    vocabulary = [r.term for r in lake.read("vocabulary").collect()]
    checked = 0
    for email_id in windowed:
        values = pii[email_id]
        joined, spaced = "".join(terms[email_id]), " ".join(terms[email_id])
        for value in values:
            normal = normalize_width_script_case(value)
            assert normal not in joined and normal not in spaced and value not in joined
            # every identifying piece: Latin/digit runs of 4+, Chinese runs of 4+ (addresses)
            for piece in re.findall(r"[a-z0-9]{4,}|[\u4e00-\u9fff]{4,}", normal):
                assert piece not in joined, (email_id, value, piece)
            checked += 1
    assert checked > 30
    # generic patterns over every string written: no digits at all, no mail/URL residue
    for term in vocabulary + [t for ts in terms.values() for t in ts]:
        assert not re.search(r"\d|@|://|www|\.com", term), term
    for table in ("doc_vectors", "text_masking"):
        for field in lake.read(table).schema.fields:
            if field.dataType.simpleString() == "string":
                for row in lake.read(table).select(field.name).collect():
                    assert row[0] is None or not re.search(r"\d{5,}|@", row[0])
