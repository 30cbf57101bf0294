"""The feature job: observations from the generated tiny world.

* consistency — for every unit the Spark variables equal the values the generator's churn
  mechanism used (``truth.x_*``), and the label equals the generator's churn decision;
* no leakage — events dated on or after the cutoff leave a unit's variables unchanged, the
  same events dated the day before the cutoff change them.
"""

from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import Row
from pyspark.sql import functions as F

from churn_spark.app.context import Context
from churn_spark.app.stages import features as features_stage
from churn_spark.config import load_config
from churn_spark.features import (
    FEATURE_DOCS,
    INPUT_TABLES,
    KEY_COLUMNS,
    observations_from_tables,
    split_column,
)
from churn_spark.lake.tables import Lake
from churn_spark.synth.generate import run_generate
from churn_spark.synth.mechanism import MECHANISM_VARIABLES


@pytest.fixture(scope="module")
def world(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("features_world")
    cfg = load_config(["local"], [f"run.warehouse={root}", "generate.preset=tiny", "generate.seed=11"])
    lake = Lake(spark, cfg)
    run_generate(spark, lake, cfg)
    result = features_stage.run(Context(cfg, spark=spark, lake=lake))
    return cfg, lake, result


def test_observations_shape(world):
    _, lake, result = world
    obs = lake.read("observations")
    types = dict(obs.dtypes)
    assert obs.columns == list(KEY_COLUMNS) + list(FEATURE_DOCS)
    assert (types["unit_id"], types["customer_id"], types["cutoff_date"], types["window_start"],
            types["churn"], types["split"]) == ("string", "string", "date", "date", "int", "string")
    for name in FEATURE_DOCS:
        assert types[name] in ("int", "bigint", "double", "boolean", "string"), name
    assert not {"phone", "mobile", "email", "address"} & set(obs.columns)   # no personal data in silver
    assert obs.select("unit_id").distinct().count() == obs.count() == result["units"]
    labelled = obs.where("split != 'score'")
    window = labelled.agg(F.min("cutoff_date"), F.max("cutoff_date")).first()
    assert window[0] >= dt.date(2004, 7, 1) and window[1] <= dt.date(2005, 7, 31)
    # renewal points after the labelled window, up to score_to, are the units to score
    pending = obs.where("split = 'score'").agg(F.count("*"), F.min("cutoff_date"), F.max("cutoff_date"),
                                               F.count("churn")).first()
    assert pending[0] > 0 and pending[1] > dt.date(2005, 7, 31) and pending[2] <= dt.date(2005, 8, 31)
    assert pending[3] == 0
    assert obs.where(F.col("window_start") >= F.col("cutoff_date")).count() == 0
    # nothing but age may be null in labelled units
    nulls = labelled.select([F.sum(F.col(c).isNull().cast("int")).alias(c) for c in obs.columns]).first().asDict()
    assert {c for c, n in nulls.items() if n} <= {"age"}


def test_features_equal_the_generators_values(world):
    _, lake, _ = world
    obs = lake.read("observations").where("split != 'score'")
    truth = lake.read("truth").select("unit_id", F.col("churn").alias("true_churn"),
                                      *[f"x_{v}" for v in MECHANISM_VARIABLES])
    joined = obs.join(truth, "unit_id", "full_outer")
    types = dict(obs.dtypes)

    def differs(v: str):
        ours, theirs = F.col(v), F.col(f"x_{v}")
        if types[v] == "double":
            return ~((ours.isNull() & theirs.isNull()) | (F.abs(ours - theirs) <= 1e-9 * (1 + F.abs(theirs))))
        return ~ours.eqNullSafe(theirs.cast(types[v]))

    # one pass: mismatches per variable, unmatched units, label disagreements, spread of a few variables
    counts = joined.agg(
        F.sum((F.col("churn").isNull() | F.col("true_churn").isNull()).cast("int")).alias("unmatched"),
        F.sum((F.col("churn") != F.col("true_churn")).cast("int")).alias("label"),
        *[F.sum(differs(v).cast("int")).alias(v) for v in MECHANISM_VARIABLES],
        *[F.countDistinct(v).alias(f"distinct_{v}") for v in ("days_since_last_complaint", "monetary_value",
                                                                "var_days_before_expiry", "n_not_renewed")],
    ).first().asDict()
    assert counts.pop("unmatched") == 0 and counts.pop("label") == 0
    assert {v: counts[v] for v in MECHANISM_VARIABLES if counts[v]} == {}
    # the comparison is not vacuous: the variables vary
    assert min(n for k, n in counts.items() if k.startswith("distinct_")) > 1


def test_split_is_seeded_and_stable(world):
    cfg, lake, result = world
    obs = lake.read("observations").where("split != 'score'")
    assert abs(result["test"] / (result["units"] - result["score"]) - cfg.run.test_share) < 0.04
    differs = [F.sum((F.col("split") != split_column(seed, cfg.run.test_share)).cast("int")).alias(name)
               for name, seed in (("same", cfg.run.seed), ("other", cfg.run.seed + 1))]
    r = obs.agg(*differs).first()
    assert r["same"] == 0 and r["other"] > 0


def _injected(units: list[Row], offset_days: int, tag: str) -> dict[str, list[tuple]]:
    """Rows for each event table, dated ``cutoff + offset_days`` for each unit."""
    rows: dict[str, list[tuple]] = {t: [] for t in ("complaints", "suspensions", "changes", "dm_actions",
                                                     "free_papers")}
    for i, u in enumerate(units):
        when = u["cutoff_date"] + dt.timedelta(days=offset_days)
        key = f"{tag}{i:04d}"
        rows["complaints"].append((f"K{key}", u["customer_id"], u["unit_id"], when, "late_delivery", 2))
        rows["suspensions"].append((f"P{key}", u["customer_id"], u["unit_id"], when,
                                    when + dt.timedelta(days=9)))
        rows["changes"].append((f"H{key}", u["customer_id"], when, "payment_method", "cash", "direct_debit"))
        # an action known before the cutoff whose response comes on/after the offset date
        rows["dm_actions"].append((f"D{key}", u["customer_id"], u["cutoff_date"] - dt.timedelta(days=3),
                                   "crosssell_magazine", "mail", True, when))
        rows["free_papers"].append((f"F{key}", u["customer_id"], when, 5, "promotion"))
    return rows


def _same(a, b) -> bool:
    """Equal, doubles up to rounding (sums may be added in another order)."""
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= 1e-9 * (1 + abs(b))
    return a == b


def test_no_variable_sees_events_after_the_cutoff(spark, world):
    cfg, lake, _ = world
    obs = lake.read("observations")
    # two disjoint samples of units, one unit per customer
    sample = (obs.dropDuplicates(["customer_id"]).orderBy("unit_id")
              .select("unit_id", "customer_id", "cutoff_date").limit(60).collect())
    after, before = sample[:30], sample[30:]
    injected = _injected(after, 0, "A")          # on the cutoff day: not strictly before
    for offset, units, tag in ((20, after, "L"), (-1, before, "B")):
        for t, rows in _injected(units, offset, tag).items():
            injected[t] += rows

    tables = {name: lake.read(name) for name in INPUT_TABLES}
    for name, rows in injected.items():
        tables[name] = tables[name].unionByName(spark.createDataFrame(rows, tables[name].schema))
    changed = observations_from_tables(tables, cfg)

    features = list(FEATURE_DOCS)
    ids = [u["unit_id"] for u in sample]
    old = {r["unit_id"]: r for r in obs.where(F.col("unit_id").isin(ids)).collect()}
    new = {r["unit_id"]: r for r in changed.where(F.col("unit_id").isin(ids)).collect()}
    for u in after:
        o, n = old[u["unit_id"]], new[u["unit_id"]]
        differing = {f for f in features if not _same(o[f], n[f])}
        assert differing == {"n_dm_actions"}, (u["unit_id"], differing)   # the action itself was known
        assert n["n_dm_actions"] == o["n_dm_actions"] + 2
    for u in before:
        o, n = old[u["unit_id"]], new[u["unit_id"]]
        assert n["n_complaints"] == o["n_complaints"] + 1
        assert n["days_since_last_complaint"] == 1
        assert n["n_complaints_current_term"] == o["n_complaints_current_term"] + 1
        assert n["n_suspensions"] == o["n_suspensions"] + 1
        assert n["days_since_last_suspension"] == 1
        assert n["n_payment_changes"] == o["n_payment_changes"] + 1
        assert n["days_since_last_payment_change"] == 1
        assert n["n_dm_responses"] == o["n_dm_responses"] + 1
        assert n["days_since_last_dm_response"] == 1
        assert n["n_free_papers"] == o["n_free_papers"] + 5
