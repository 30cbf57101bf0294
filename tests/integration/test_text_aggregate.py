"""Unit vectors: the email window rule at its edges, sums, units without emails, training emails."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from pyspark.ml.linalg import SparseVector, VectorUDT
from pyspark.sql import types as T

from churn_spark.text.aggregate import aggregate_unit_vectors, sum_sparse, training_emails

SIZE = 6
CUTOFF = dt.date(2024, 3, 31)
WINDOW = 30  # cutoff - 30 days = 2024-03-01
EMAILS = [  # email_id, customer, sent_at, vector entries; "in" = inside u1's window
    ("in_cutoff_midnight", "c1", dt.datetime(2024, 3, 31, 0, 0, 0), {0: 1.0}),
    ("in_cutoff_evening", "c1", dt.datetime(2024, 3, 31, 23, 59, 59), {1: 2.0}),
    ("out_day_after", "c1", dt.datetime(2024, 4, 1, 0, 0, 0), {2: 4.0}),
    ("out_window_start", "c1", dt.datetime(2024, 3, 1, 0, 0, 0), {3: 8.0}),
    ("out_window_start_evening", "c1", dt.datetime(2024, 3, 1, 23, 59, 59), {3: 16.0}),
    ("in_day_after_start", "c1", dt.datetime(2024, 3, 2, 0, 0, 0), {0: 0.5, 4: 32.0}),
    ("in_but_no_terms", "c1", dt.datetime(2024, 3, 15, 12, 0, 0), {}),
    ("other_customer", "c2", dt.datetime(2024, 3, 15, 12, 0, 0), {5: 64.0}),
]
OBSERVATIONS = [  # unit, customer, cutoff, window_start, split, churn
    ("u1", "c1", CUTOFF, None, "train", 1),
    ("u2", "c1", CUTOFF, dt.date(2024, 3, 15), "test", 0),  # window (03-15, 03-31]
    ("u3", "c3", CUTOFF, None, "train", None),  # no emails
    ("u4", "c2", dt.date(2024, 3, 14), None, "train", 0),  # its email comes a day late
]


@pytest.fixture(scope="module")
def frames(spark):
    schema = T.StructType([T.StructField("email_id", T.StringType()),
                           T.StructField("customer_id", T.StringType()),
                           T.StructField("sent_at", T.TimestampType()),
                           T.StructField("vector", VectorUDT())])
    emails = spark.createDataFrame([(e, c, t, SparseVector(SIZE, v)) for e, c, t, v in EMAILS], schema)
    observations = spark.createDataFrame(
        OBSERVATIONS,
        "unit_id string, customer_id string, cutoff_date date, window_start date, split string, churn int")
    return emails, observations


def expected_sum(email_ids: list[str]) -> np.ndarray:
    total = np.zeros(SIZE)
    for email_id, _, _, entries in EMAILS:
        if email_id in email_ids:
            for i, value in entries.items():
                total[i] += value
    return total


def test_window_edges_and_sums(frames):
    emails, observations = frames
    out = aggregate_unit_vectors(emails, observations, WINDOW, num_features=SIZE)
    units = {r.unit_id: r for r in out.collect()}
    assert set(units) == {"u1", "u2", "u3", "u4"}
    in_u1 = [e for e, *_ in EMAILS if e.startswith("in_")]
    assert units["u1"].n_emails == len(in_u1) == 4
    np.testing.assert_array_equal(units["u1"].vector.toArray(), expected_sum(in_u1))
    # window_start overrides cutoff - window: (2024-03-15, 2024-03-31]
    assert units["u2"].n_emails == 2
    np.testing.assert_array_equal(units["u2"].vector.toArray(),
                                  expected_sum(["in_cutoff_midnight", "in_cutoff_evening"]))
    assert (units["u1"].split, units["u1"].churn, units["u2"].split) == ("train", 1, "test")


def test_units_without_emails_are_kept_with_an_empty_vector(frames):
    emails, observations = frames
    out = aggregate_unit_vectors(emails, observations, WINDOW, num_features=SIZE)
    units = {r.unit_id: r for r in out.collect()}
    for unit in ("u3", "u4"):
        assert units[unit].n_emails == 0 and units[unit].has_emails is False
        assert units[unit].vector == SparseVector(SIZE, [], [])
    assert units["u1"].has_emails is True and units["u3"].churn is None


def test_vector_size_comes_from_column_metadata(frames):
    emails, observations = frames
    with pytest.raises(ValueError, match="vector size unknown"):
        aggregate_unit_vectors(emails, observations, WINDOW)
    meta = {"ml_attr": {"num_attrs": SIZE}}
    tagged = emails.withColumn("vector", emails["vector"].alias("vector", metadata=meta))
    out = aggregate_unit_vectors(tagged, observations, WINDOW)
    assert out.schema["vector"].metadata == {"ml_attr": {"num_attrs": SIZE}}
    assert out.filter("unit_id = 'u3'").first().vector.size == SIZE


def test_training_emails_are_the_distinct_emails_in_train_windows(frames):
    emails, observations = frames
    train = {r.email_id for r in training_emails(emails.drop("vector"), observations, WINDOW).collect()}
    # u1 (train) holds every "in_" email; u2 (test) does not add any; u4 (train) has none
    assert train == {e for e, *_ in EMAILS if e.startswith("in_")}
    assert training_emails(emails, observations, WINDOW).count() == len(train)  # no duplicates


def test_sum_sparse_accepts_vectors_structs_and_nulls():
    struct = {"type": 0, "size": 4, "indices": [1, 3], "values": [1.0, 2.0]}
    dense = {"type": 1, "size": None, "indices": None, "values": [1.0, 0.0, 0.0, 1.0]}
    total = sum_sparse([SparseVector(4, {1: 0.5}), struct, dense, None, float("nan")], 4)
    np.testing.assert_array_equal(total.toArray(), [1.0, 1.5, 0.0, 3.0])
    assert sum_sparse([None], 4) == SparseVector(4, [], [])


def test_unit_sums_agree_with_numpy_across_batch_boundaries(spark):
    rng = np.random.default_rng(4)
    n_units, size = 60, 40
    observations = spark.createDataFrame(
        [(f"u{u}", f"c{u % 45}", CUTOFF, "train", int(u % 2)) for u in range(n_units)],
        "unit_id string, customer_id string, cutoff_date date, split string, churn int")
    rows, dense = [], {}
    for e in range(200):
        customer = f"c{rng.integers(0, 50)}"
        sent = dt.datetime(2024, 3, 1) + dt.timedelta(days=int(rng.integers(0, 45)))
        idx = np.sort(rng.choice(size, size=5, replace=False))
        vector = SparseVector(size, idx, rng.random(5))
        rows.append((f"e{e}", customer, sent, vector))
        dense[f"e{e}"] = (customer, sent, vector.toArray())
    schema = T.StructType([T.StructField("email_id", T.StringType()),
                           T.StructField("customer_id", T.StringType()),
                           T.StructField("sent_at", T.TimestampType()),
                           T.StructField("vector", VectorUDT())])
    emails = spark.createDataFrame(rows, schema)
    key = "spark.sql.execution.arrow.maxRecordsPerBatch"
    before = spark.conf.get(key)
    spark.conf.set(key, "3")  # units' runs of rows cross Arrow batch boundaries
    try:
        results = {r.unit_id: r for r in aggregate_unit_vectors(emails, observations, WINDOW,
                                                                num_features=size).collect()}
    finally:
        spark.conf.set(key, before)
    for u in range(n_units):
        customer = f"c{u % 45}"
        members = [v for c, sent, v in dense.values()
                   if c == customer and dt.date(2024, 3, 1) < sent.date() <= CUTOFF]
        expected = np.sum(members, axis=0) if members else np.zeros(size)
        row = results[f"u{u}"]
        assert row.n_emails == len(members) and row.has_emails == bool(members)
        np.testing.assert_allclose(row.vector.toArray(), expected, rtol=1e-12)
    assert sum(r.n_emails for r in results.values()) > 100


def test_weighting_inside_the_sum_equals_transform_then_sum(spark, frames):
    """``weighting=`` weighs each email's terms in the summing pass: the same n_emails and vectors as
    ``weighting.transform`` + the sum, also for an email whose terms are null or all unknown."""
    from churn_spark.text.weighting import LogTfIdf

    _, observations = frames
    terms = {"in_cutoff_midnight": ["价格", "价格", "投诉"], "in_cutoff_evening": ["投递", "价格"],
             "in_day_after_start": ["投诉", "退订", "退订", "退订"], "in_but_no_terms": None,
             "out_day_after": ["退订"], "other_customer": ["未知词"]}
    rows = [(e, c, t, terms.get(e, ["投递"])) for e, c, t, _ in EMAILS]
    emails = spark.createDataFrame(rows, "email_id string, customer_id string, sent_at timestamp, terms array<string>")
    model = LogTfIdf(inputCol="terms", outputCol="vector", minTermCount=1, maxDocShare=1.0).fit(
        emails.where("email_id != 'other_customer'"))
    two_passes = {r.unit_id: r for r in aggregate_unit_vectors(model.transform(emails), observations, WINDOW).collect()}
    fused = {r.unit_id: r for r in aggregate_unit_vectors(emails, observations, WINDOW, vector_col="terms",
                                                          weighting=model).collect()}
    assert set(fused) == set(two_passes) == {"u1", "u2", "u3", "u4"}
    assert fused["u1"].n_emails == 4 and fused["u3"].n_emails == 0 and not fused["u3"].has_emails
    for unit, row in fused.items():
        assert (row.n_emails, row.has_emails) == (two_passes[unit].n_emails, two_passes[unit].has_emails)
        assert row.vector.size == model.vocabulary_size
        np.testing.assert_allclose(row.vector.toArray(), two_passes[unit].vector.toArray(), rtol=1e-15)
    assert fused["u1"].vector.toArray().sum() > 0


def test_weighted_sums_across_batch_boundaries_equal_numpy_and_transform_then_sum(spark):
    """The Arrow pass that weighs and sums (units' runs cut by batches of 3 rows, emails whose terms
    are null, empty or unknown) equals a numpy reference of ``sum_j log2(n_ij + 1) * idf_i`` and,
    bit for bit, ``weighting.transform`` followed by the sum."""
    from churn_spark.text.weighting import LogTfIdf

    rng = np.random.default_rng(11)
    words = ["价格", "投诉", "投递", "退订", "服务", "报纸", "未知词"]
    n_units = 50
    observations = spark.createDataFrame(
        [(f"u{u}", f"c{u % 30}", CUTOFF, "train", int(u % 2)) for u in range(n_units)],
        "unit_id string, customer_id string, cutoff_date date, split string, churn int")
    rows = []
    for e in range(300):
        kind = rng.integers(0, 10)
        terms = None if kind == 0 else [] if kind == 1 else list(rng.choice(words, size=int(rng.integers(1, 8))))
        sent = dt.datetime(2024, 3, 1, 12) + dt.timedelta(days=int(rng.integers(0, 45)))
        rows.append((f"e{e}", f"c{rng.integers(0, 35)}", sent, terms))
    emails = spark.createDataFrame(rows, "email_id string, customer_id string, sent_at timestamp, terms array<string>")
    model = LogTfIdf(inputCol="terms", outputCol="vector", minTermCount=1, maxDocShare=1.0,
                     excludedTerms=["未知词"]).fit(emails)
    kept, idf = model.kept_terms()
    key = "spark.sql.execution.arrow.maxRecordsPerBatch"
    before = spark.conf.get(key)
    spark.conf.set(key, "3")
    try:
        fused = {r.unit_id: r for r in aggregate_unit_vectors(emails, observations, WINDOW, vector_col="terms",
                                                              weighting=model).collect()}
        two_passes = {r.unit_id: r for r in aggregate_unit_vectors(model.transform(emails), observations,
                                                                   WINDOW).collect()}
    finally:
        spark.conf.set(key, before)
    assert set(fused) == {f"u{u}" for u in range(n_units)}
    for u in range(n_units):
        members = [t for _, c, sent, t in rows
                   if c == f"c{u % 30}" and dt.date(2024, 3, 1) < sent.date() <= CUTOFF]
        expected = np.zeros(len(kept))
        for terms in members:
            counts = np.array([(terms or []).count(w) for w in kept], dtype=float)
            expected += np.where(counts > 0, np.log2(counts + 1.0), 0.0) * idf
        row = fused[f"u{u}"]
        assert (row.n_emails, row.has_emails) == (len(members), bool(members))
        np.testing.assert_allclose(row.vector.toArray(), expected, rtol=1e-12)
        assert list(row.vector.indices) == sorted(row.vector.indices)
        np.testing.assert_array_equal(row.vector.toArray(), two_passes[f"u{u}"].vector.toArray())
    assert sum(r.n_emails for r in fused.values()) > 100
