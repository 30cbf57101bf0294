"""The generated newspaper world: determinism, schemas, sizes of the tiny preset, mechanism checks.

Tolerances of the tiny preset (its targets: ~1,500 units with emails, ~2,000 without, 18.5%
churn and 1.47 emails per unit with emails, as the paper's Tables 1-2): units with emails
1,500 +- 250, without 2,000 +- 350, churn rate with emails 0.185 +- 0.045, emails per unit
1.47 +- 0.12 (each is a random outcome of ~1,500 units).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F

from churn_spark.config import load_config
from churn_spark.evaluation.auc import auc
from churn_spark.lake.tables import Lake
from churn_spark.synth.generate import (
    TABLES,
    render_block_emails,
    run_generate,
    table_schema,
)
from churn_spark.synth.mechanism import (
    PRIMARY_WEIGHT,
    TEXT_EFFECTS,
    VOICES,
    Mechanism,
    expected_p_given_marketing,
    sigmoid,
)
from churn_spark.synth.presets import preset_params
from churn_spark.synth.world import simulate_block
from churn_spark.synth.world_codes import add_months, day


def _generate(spark, root, partitions: int):
    cfg = load_config(["local"], [f"run.warehouse={root}", "generate.preset=tiny", "generate.seed=7",
                                  f"generate.partitions={partitions}"])
    lake = Lake(spark, cfg)
    return lake, run_generate(spark, lake, cfg)


@pytest.fixture(scope="module")
def world(spark, tmp_path_factory):
    return _generate(spark, tmp_path_factory.mktemp("world2"), partitions=2)


def _digest(df):
    """Row count and an order-independent hash of all rows of a frame."""
    row_hash = F.xxhash64(*[F.col(c) for c in sorted(df.columns)]).cast("decimal(38,0)")
    r = df.agg(F.count("*").alias("n"), F.sum(row_hash).alias("h")).first()
    return r["n"], r["h"]


def test_same_tables_whatever_the_number_of_partitions(spark, world, tmp_path):
    lake2, result2 = world
    lake5, result5 = _generate(spark, tmp_path / "world5", partitions=5)
    assert result2["partitions"] == 2 and result5["partitions"] == 5
    for name in TABLES:
        a, b = lake2.read(name), lake5.read(name)
        assert _digest(a) == _digest(b), name
    # and a different seed gives a different world
    one = simulate_block(preset_params("tiny", seed=7), 0).tables["subscriptions"]
    other = simulate_block(preset_params("tiny", seed=8), 0).tables["subscriptions"]
    assert not one.equals(other)


def test_every_table_has_its_schema(world):
    lake, _ = world
    for name in TABLES:
        schema = lake.read(name).schema
        expected = table_schema(name)
        assert [(f.name, f.dataType) for f in schema] == [(f.name, f.dataType) for f in expected], name
    emails = lake.read("emails")
    assert emails.where(F.col("body").isNull() | (F.length("body") == 0)).count() == 0
    assert emails.select("email_id").distinct().count() == emails.count()


def test_tiny_preset_meets_its_targets(world):
    _, r = world
    assert abs(r["units_with_emails"] - 1500) <= 250
    assert abs(r["units_without_emails"] - 2000) <= 350
    assert abs(r["churn_rate_with_emails"] - 0.185) <= 0.045
    assert abs(r["emails_per_unit_with_emails"] - 1.47) <= 0.12
    # the text carries information beyond the marketing data
    assert r["oracle_auc_true"] > r["oracle_auc_marketing"] > 0.65


def test_truth_matches_the_emails_table(world):
    """A unit's n_emails is the number of its customer's emails in (window_start, cutoff]."""
    lake, _ = world
    units = lake.read("subscriptions").select(F.col("subscription_id").alias("unit_id"), "customer_id",
                                              "start_date", "expiry_date")
    emails = lake.read("emails").select("customer_id", "sent_at")
    counted = (units.join(emails, "customer_id")
               .where((F.col("sent_at") > F.col("start_date").cast("timestamp"))
                      & (F.col("sent_at") <= F.col("expiry_date").cast("timestamp")))
               .groupBy("unit_id").agg(F.count("*").alias("counted")))
    truth = lake.read("truth").join(counted, "unit_id", "left").fillna(0, ["counted"])
    assert truth.where(F.col("counted") != F.col("n_emails")).count() == 0
    assert truth.where(F.col("has_emails") != (F.col("n_emails") > 0)).count() == 0


def test_truth_probabilities_are_consistent(world):
    """E[p_marketing] = E[p_true] (law of total expectation) and E[p_true] ~ churn rate."""
    lake, _ = world
    r = lake.read("truth").where("has_emails").agg(
        F.avg("p_true").alias("p"), F.avg("p_marketing").alias("pm"), F.avg("churn").alias("y"),
        F.count("*").alias("n")).first()
    assert abs(r["p"] - r["pm"]) < 0.01
    assert abs(r["p"] - r["y"]) < 3 * np.sqrt(r["y"] * (1 - r["y"]) / r["n"]) + 0.01


def test_oracle_auc_equals_sklearn(spark):
    """The oracle AUCs' function (:func:`~churn_spark.evaluation.auc.auc`) is exact, ties counted half."""
    from sklearn.metrics import roc_auc_score
    rng = np.random.default_rng(3)
    score = rng.random(3000)
    score[:500] = np.round(score[:500], 2)  # and ties
    label = (rng.random(3000) < score * 0.6).astype(int)
    df = spark.createDataFrame(pd.DataFrame({"p": score, "y": label.astype("int32")})).repartition(3)
    assert auc(df, "p", "y") == pytest.approx(roc_auc_score(label, score), abs=1e-12)


def test_add_months_is_sparks(spark):
    dates = [dt.date(2004, 7, 31), dt.date(2005, 2, 28), dt.date(2004, 2, 29), dt.date(2005, 7, 1),
             dt.date(2004, 8, 30), dt.date(2005, 3, 31), dt.date(2004, 12, 31)]
    expected = [r[0] for r in spark.createDataFrame([(d,) for d in dates], "d date")
                .select(F.add_months("d", -30)).collect()]
    got = add_months(np.array([day(d.isoformat()) for d in dates]), -30)
    assert [dt.date(1970, 1, 1) + dt.timedelta(days=int(g)) for g in got] == expected


def _reference_expected_p(logit, mu, mech, rng, draws):
    """E[p | marketing] for units without marketing events, by a plain loop (independent code)."""
    names = list(VOICES)
    prior = np.array([VOICES[v][0] for v in names])
    out = []
    for lg, m in zip(logit, mu, strict=True):
        ps = []
        for _ in range(draws):
            topics = VOICES[names[rng.choice(len(names), p=prior / prior.sum())]][1]
            words, probs = list(topics), np.array(list(topics.values()))
            t = 0.0
            for _ in range(1 + rng.poisson(m)):
                a = rng.uniform(*PRIMARY_WEIGHT)
                first, second = (words[rng.choice(len(words), p=probs / probs.sum())] for _ in range(2))
                t += a * TEXT_EFFECTS.get(first, 0.0) + (1 - a) * TEXT_EFFECTS.get(second, 0.0)
            ps.append(sigmoid(lg + mech.text_scale * t))
        out.append(np.mean(ps))
    return np.array(out)


def test_p_marketing_is_the_conditional_expectation():
    """Without a text effect p_marketing is p; with one it is the average over redrawn emails."""
    rng = np.random.default_rng(0)
    logit = np.array([-2.0, -1.0, 0.5])
    mu = np.array([0.3, 0.3, 1.0])
    offset, count = np.zeros(3, dtype=np.int64), np.zeros(3, dtype=np.int64)
    topics = np.zeros(0, dtype=np.int64)     # no marketing events: all emails follow the voice
    no_text = Mechanism(text_scale=0.0)
    assert np.allclose(expected_p_given_marketing(logit, mu, offset, count, topics, no_text, rng, 64),
                       sigmoid(logit))
    with_text = Mechanism(text_scale=1.0)
    p = expected_p_given_marketing(logit, mu, offset, count, topics, with_text, rng, 20_000)
    reference = _reference_expected_p(logit, mu, with_text, np.random.default_rng(1), 4000)
    assert not np.allclose(p, sigmoid(logit), atol=0.02)      # the text moves p ...
    assert np.allclose(p, reference, atol=0.015)              # ... as the reference says (MC error)


def test_email_text_is_deterministic_per_block():
    emails = simulate_block(preset_params("tiny", seed=7), 1).tables["emails"].slice(0, 40)
    first = render_block_emails(emails, 7, 1, 0.1)
    second = render_block_emails(emails, 7, 1, 0.1)
    assert first.equals(second)
    other_block = render_block_emails(emails, 7, 2, 0.1)
    assert first.column("body").to_pylist() != other_block.column("body").to_pylist()
