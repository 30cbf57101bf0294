"""MarketingEncoder: medians, missing indicators, dummy coding, names, persistence."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.feature import VectorAssembler

from churn_spark.modeling.encoding import (
    MarketingEncoder,
    MarketingEncoderModel,
    candidate_columns,
    sanitize_name,
)


def _training_frame(n: int = 301, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 90, n).astype(float)
    age[rng.permutation(n)[:60]] = np.nan                    # 60 ages unknown, 241 known
    edition = rng.choice(["X1", "X2"], n, p=[0.6, 0.4]).astype(object)
    edition[:4] = "X9"                                        # rare levels (fewer than 10 units)
    edition[4:10] = "X3"
    channel = rng.choice(["门店自取", "postal", None], n, p=[0.5, 0.3, 0.2])
    return pd.DataFrame({
        "unit_id": [f"u{i}" for i in range(n)],
        "age": age,
        "monetary value (EUR)": rng.gamma(2.0, 100.0, n),
        "is_woman": rng.random(n) < 0.5,
        "edition": edition,
        "channel": channel,
        "renewal_date": [dt.date(2005, 1, 1)] * n,
    })


@pytest.fixture(scope="module")
def frames(spark):
    train = _training_frame()
    df = spark.createDataFrame(train.astype({"age": "float64"})).repartition(3)
    encoder = MarketingEncoder(inputCols=["age", "monetary value (EUR)", "is_woman", "edition", "channel"],
                               minLevelCount=10, outputCol="marketing")
    return train, df, encoder.fit(df)


def test_sanitize_name_gives_sql_identifiers():
    assert sanitize_name("monetary value (EUR)") == "monetary_value_EUR"
    assert sanitize_name("3rd edition") == "v_3rd_edition"
    assert sanitize_name("门店自取") == ""
    assert sanitize_name("a--b__c") == "a_b_c"


def test_candidate_columns_skips_dates_and_excluded(spark):
    df = spark.createDataFrame(_training_frame(20))
    chosen, skipped = candidate_columns(df, exclude=["unit_id"])
    assert chosen == ["age", "monetary value (EUR)", "is_woman", "edition", "channel"]
    assert list(skipped) == ["renewal_date"]


def test_candidate_names_and_labels(frames):
    _, _, model = frames
    names = model.candidateNames()
    # age had nulls -> indicator; edition: X1 is the reference, X3 and X9 are too rare;
    # channel: the Chinese level is the reference, null is a level of its own
    assert names == ["age", "age_missing", "monetary_value_EUR", "is_woman",
                     "edition_is_X2", "channel_is_postal", "channel_is_missing"]
    labels = model.candidateLabels()
    assert labels["edition_is_X2"] == "edition = X2"
    assert labels["channel_is_missing"] == "channel = (missing)"
    assert labels["age_missing"] == "age is missing"
    assert all(n.replace("_", "").isalnum() and n.isascii() for n in names)


def test_transform_matches_pandas_reference(frames, spark):
    train, df, model = frames
    out = model.transform(df).orderBy("unit_id").toPandas()
    ref = train.sort_values("unit_id").reset_index(drop=True)
    assert ref["age"].notna().sum() == 241                   # odd: the median is one of the values
    median_age = np.median(ref["age"].dropna())
    np.testing.assert_allclose(out["age"], ref["age"].fillna(median_age))
    np.testing.assert_array_equal(out["age_missing"], ref["age"].isna().astype(float))
    np.testing.assert_allclose(out["monetary_value_EUR"], ref["monetary value (EUR)"])
    np.testing.assert_array_equal(out["is_woman"], ref["is_woman"].astype(float))
    np.testing.assert_array_equal(out["edition_is_X2"], (ref["edition"] == "X2").astype(float))
    np.testing.assert_array_equal(out["channel_is_postal"], (ref["channel"] == "postal").astype(float))
    np.testing.assert_array_equal(out["channel_is_missing"], ref["channel"].isna().astype(float))
    vectors = np.array([v.toArray() for v in out["marketing"]])
    np.testing.assert_allclose(vectors, out[model.candidateNames()].to_numpy())


def test_unseen_levels_and_new_nulls(frames, spark):
    _, _, model = frames
    new = spark.createDataFrame(
        [("n1", None, None, None, "X7", "telepathy")],
        "unit_id string, age double, `monetary value (EUR)` double, is_woman boolean, edition string, "
        "channel string")
    row = model.transform(new).first()
    median_money = model.encodingSummary()[1]["median"]
    assert row["age_missing"] == 1.0 and row["age"] == model.encodingSummary()[0]["median"]
    # no indicator was learned for the money column: only the median fills the gap
    assert row["monetary_value_EUR"] == median_money and "monetary_value_EUR_missing" not in row
    assert row["edition_is_X2"] == 0.0
    assert row["channel_is_postal"] == 0.0 and row["channel_is_missing"] == 0.0


def test_save_load_alone_and_inside_a_pipeline(frames, tmp_path):
    _, df, model = frames
    model.write().overwrite().save(str(tmp_path / "encoder"))
    loaded = MarketingEncoderModel.load(str(tmp_path / "encoder"))
    assert loaded.candidateNames() == model.candidateNames()

    pipeline = Pipeline(stages=[
        MarketingEncoder(inputCols=["age", "edition", "channel"], minLevelCount=10),
        VectorAssembler(inputCols=["age", "age_missing", "edition_is_X2", "channel_is_postal"],
                        outputCol="features")]).fit(df)
    pipeline.write().overwrite().save(str(tmp_path / "pipeline"))
    reloaded = PipelineModel.load(str(tmp_path / "pipeline"))
    before = [r["features"].toArray().tolist() for r in pipeline.transform(df).orderBy("unit_id").collect()]
    after = [r["features"].toArray().tolist() for r in reloaded.transform(df).orderBy("unit_id").collect()]
    assert before == after


def test_max_levels_and_wrong_types(spark):
    df = spark.createDataFrame(pd.DataFrame({"c": list("aaaabbbccd") * 5,
                                             "when": [dt.date(2005, 1, 1)] * 50}))
    model = MarketingEncoder(inputCols=["c"], minLevelCount=1, maxLevels=2).fit(df)
    assert model.candidateNames() == ["c_is_b"]
    with pytest.raises(ValueError, match="numeric, boolean or string"):
        MarketingEncoder(inputCols=["when"]).fit(df)
    with pytest.raises(ValueError, match="not in the data"):
        MarketingEncoder(inputCols=["nope"]).fit(df)
