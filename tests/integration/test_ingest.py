"""Bring-your-own-data ingest: real files in every format, malformed rows, exact quarantine counts."""

from __future__ import annotations

import csv
import datetime as dt
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import functions as F
from pyspark.sql import types as T

from churn_spark.app.cli import main
from churn_spark.lake.ingest import (
    EMAIL_REASONS,
    OBSERVATION_REASONS,
    IngestError,
    ingest,
    parse_timestamp,
    sanitize_column_names,
    seeded_split,
)
from churn_spark.lake.tables import Lake

UTC = dt.timezone.utc


def _lake(spark, tmp_path, name="wh"):
    return Lake(spark, root=str(tmp_path / name), run_id="run-ingest-test")


def _write_csv(path, header, rows):
    # the csv module quotes fields with newlines, commas and quotes, doubling inner quotes
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return str(path)


def _write_jsonl(path, records):
    with open(path, "w", encoding="utf-8") as fh:
        for record in records:
            fh.write((record if isinstance(record, str) else json.dumps(record, ensure_ascii=False)) + "\n")
    return str(path)


def _micros(value: dt.datetime) -> int:
    """Microseconds since the epoch of an ISO timestamp, naive = UTC: the Python reference."""
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    return round(value.timestamp() * 1_000_000)


# ---------------------------------------------------------------------------------------
# a small good data set, written in each format

GOOD_SENT_AT = ["2005-03-01T10:00:00", "2005-03-01 10:00:00.250", "2005-03-02T09:30:00+08:00",
                "2005-03-02T09:30Z", "2005-03-03 23:59:59.123456+0800", "2005-03-04",
                "2005-03-05T01:02:03.5-05:00", "2005-03-06T12:00:00Z"]
GOOD_EMAILS = [
    (f"e{i}", f"c{i % 4 + 1}", sent,
     None if i == 3 else f"主旨 {i}",
     f'<p>您好，第 {i} 封信</p>\n> "reply", with a comma\n-- \nsignature 張三' if i % 2 else f"短信 {i}")
    for i, sent in enumerate(GOOD_SENT_AT)
]
# unit_id, customer_id, cutoff_date, window_start, churn, split, TenureMonths, monthlyFee, HasDM, Edition
GOOD_OBSERVATIONS = [
    ("u1", "c1", dt.date(2005, 4, 1), None, 1, "train", 12, 30.5, True, "甲"),
    ("u2", "c2", dt.date(2005, 4, 1), dt.date(2005, 1, 1), 0, None, None, 45.0, False, "乙"),
    ("u3", "c3", dt.date(2005, 4, 15), None, 0, "test", 3, 12.25, True, "甲"),
    ("u4", "c4", dt.date(2005, 4, 15), None, None, None, 40, 30.5, False, None),
    ("u5", "c5", dt.date(2005, 5, 1), None, 1, None, 7, 99.0, True, "丙"),
    ("u6", "c6", dt.date(2005, 5, 1), None, 0, "TRAIN", 1, 10.0, False, "乙"),
]
OBS_HEADER = ["unit_id", "customer_id", "cutoff_date", "window_start", "churn", "split",
              "TenureMonths", "monthlyFee", "HasDM", "Edition"]


def _good_files(spark, folder, fmt):
    """The good data set in ``fmt``; returns (emails path, observations path)."""
    folder.mkdir()
    if fmt == "csv":
        emails = _write_csv(folder / "emails.csv", ["email_id", "customer_id", "sent_at", "subject", "body"],
                            [[e, c, s, subj or "", body] for e, c, s, subj, body in GOOD_EMAILS])
        rows = [["" if v is None else v.isoformat() if isinstance(v, dt.date) else
                 str(v).lower() if isinstance(v, bool) else v for v in row] for row in GOOD_OBSERVATIONS]
        return emails, _write_csv(folder / "observations.csv", OBS_HEADER, rows)
    if fmt == "json":
        emails = _write_jsonl(folder / "emails.jsonl", [
            {"email_id": e, "customer_id": c, "sent_at": s, "subject": subj, "body": body}
            for e, c, s, subj, body in GOOD_EMAILS])
        records = [{k: v.isoformat() if isinstance(v, dt.date) else v
                    for k, v in zip(OBS_HEADER, row, strict=True)} for row in GOOD_OBSERVATIONS]
        return emails, _write_jsonl(folder / "observations.json", records)
    # typed formats: real timestamps (UTC instants) and dates
    email_table = pa.table({
        "email_id": [e[0] for e in GOOD_EMAILS], "customer_id": [e[1] for e in GOOD_EMAILS],
        "sent_at": pa.array([dt.datetime.fromtimestamp(_micros(dt.datetime.fromisoformat(e[2])) / 1e6, UTC)
                             for e in GOOD_EMAILS], pa.timestamp("us", tz="UTC")),
        "subject": [e[3] for e in GOOD_EMAILS], "body": [e[4] for e in GOOD_EMAILS]})
    types = [pa.string(), pa.string(), pa.date32(), pa.date32(), pa.int64(), pa.string(), pa.int64(),
             pa.float64(), pa.bool_(), pa.string()]
    obs_table = pa.table({name: pa.array([row[i] for row in GOOD_OBSERVATIONS], types[i])
                          for i, name in enumerate(OBS_HEADER)})
    if fmt == "parquet":
        pq.write_table(email_table, folder / "emails.parquet")
        pq.write_table(obs_table, folder / "observations.parquet")
        return str(folder / "emails.parquet"), str(folder / "observations.parquet")
    source = Lake(spark, root=str(folder), run_id="source")
    source.write(spark.createDataFrame(email_table.to_pandas()), "emails_in")
    source.write(spark.createDataFrame(obs_table.to_pandas()).withColumns(
        {"cutoff_date": F.col("cutoff_date").cast("date"), "window_start": F.col("window_start").cast("date"),
         "churn": F.col("churn").cast("bigint"), "TenureMonths": F.col("TenureMonths").cast("bigint")}),
        "observations_in")
    return source.path("emails_in"), source.path("observations_in")


def _table(lake, name, order):
    df = lake.read(name)
    if name == "emails":
        df = df.withColumn("sent_at", F.unix_micros("sent_at"))
    return df.schema.simpleString(), [tuple(r) for r in df.orderBy(order).collect()]


def _by_name(lake, name, order):
    """Columns with their types, and the rows, by column name: JSON objects have no column order."""
    df = lake.read(name)
    return sorted(df.dtypes), [r.asDict() for r in df.orderBy(order).collect()]


def test_every_format_ingests_the_good_data_to_identical_tables(spark, cfg, tmp_path):
    lake = _lake(spark, tmp_path)
    seen, named = {}, {}
    for fmt in ("csv", "parquet", "json", "delta"):
        emails_path, observations_path = _good_files(spark, tmp_path / fmt, fmt)
        result = ingest(spark, lake, cfg, emails_path, observations_path)
        assert result["emails"]["format"] == fmt and result["observations"]["format"] == fmt
        counts = (result["emails"]["rows"], result["emails"]["kept"], result["emails"]["quarantined"])
        assert counts == (8, 8, 0)
        assert (result["observations"]["rows"], result["observations"]["kept"]) == (6, 6)
        assert result["observations"]["marketing_columns"] == {
            "tenure_months": "bigint", "monthly_fee": "double", "has_dm": "boolean", "edition": "string"}
        assert lake.read("quarantine").count() == 0
        seen[fmt] = (_table(lake, "emails", "email_id"), _table(lake, "observations", "unit_id"))
        named[fmt] = (_by_name(lake, "emails", "email_id"), _by_name(lake, "observations", "unit_id"))
    for fmt in ("parquet", "json", "delta"):
        assert named[fmt] == named["csv"], fmt
    writes = [c for c in lake.history("emails") if c.operation == "WRITE"]  # (and the table comment's commit)
    assert len(writes) == 4 and all(c.num_rows == 8 for c in writes)  # four overwrites, never appended

    (email_schema, emails), (obs_schema, observations) = seen["csv"]
    assert email_schema == ("struct<email_id:string,customer_id:string,sent_at:bigint,subject:string,"
                            "body:string>")
    # every accepted ISO-8601 variant gives the instant Python's parser gives (naive = UTC)
    assert [(e, c, t, s, b) for e, c, t, s, b in emails] == [
        (e, c, _micros(dt.datetime.fromisoformat(t)), s, b) for e, c, t, s, b in GOOD_EMAILS]
    assert obs_schema == ("struct<unit_id:string,customer_id:string,cutoff_date:date,window_start:date,"
                          "churn:int,split:string,tenure_months:bigint,monthly_fee:double,has_dm:boolean,"
                          "edition:string>")
    by_unit = {row[0]: row for row in observations}
    assert by_unit["u2"][3] == dt.date(2005, 1, 1) and by_unit["u2"][6] is None
    assert by_unit["u4"][4] is None and by_unit["u4"][5] == "score"
    assert by_unit["u6"][5] == "train" and by_unit["u3"][5] == "test"
    unset = spark.createDataFrame([("u2",), ("u5",)], ["unit_id"]).select(
        "unit_id", seeded_split(F.col("unit_id"), cfg.run.seed, cfg.run.test_share).alias("split")).collect()
    assert {r.unit_id: r.split for r in unset} == {"u2": by_unit["u2"][5], "u5": by_unit["u5"][5]}


# ---------------------------------------------------------------------------------------
# malformed inputs: every rule, exact counts

BAD_EMAILS_CSV = (
    'email_id,customer_id,sent_at,subject,body\n'
    'e01,c1,2005-03-01T10:00:00,Hi,"good multi\nline, ""quoted"" body \xe4\xbd\xa0\xe5\xa5\xbd"\n'
    'e02,c1,2005-03-02 08:00,,good\n'
    ',c1,2005-03-01T10:00:00,s,no id\n'
    'e04,,2005-03-01T10:00:00,s,no customer\n'
    'e05,c1,,s,no time\n'
    'e06,c1,2005-13-01T00:00:00,s,month 13\n'
    'e07,c1,01/03/2005,s,not iso\n'
    'e08,c1,2005-03-01T10:00:00,s,\n'
    'e09,c1,2005-03-01T10:00:00,s,"bad \xff\xfe bytes"\n'
    'e10,c1,2005-03-01T10:00:00,s,"   "\n'
    'e11,c1,2005-03-01T10:00:00,s,"bell \x07 char"\n'
    'e12,c1,2005-03-05T00:00:00,later,body A\n'
    'e12,c1,2005-03-04T00:00:00,earlier,body B\n'
    'e12,c1,2005-03-01T00:00:00,earliest but no body,\n'
    'e14,c99,2005-03-01T10:00:00,s,customer in no observation\n'
    'e15,c1,2005-03-01T10:00:00,s,body,one field too many\n'
    'e16,c1,2005-03-01T10:00:00,"bad\xc3( subject",body\n'
    'e17,c13,2005-03-01T10:00:00,s,customer whose observation is quarantined\n'
    'e18,c3,2005-03-01T10:00:00,s,customer of an unlabelled unit\n'
)
EXPECTED_EMAIL_REASONS = {
    "malformed record": 1, "missing email_id": 1, "missing customer_id": 1, "missing sent_at": 1,
    "unparseable sent_at": 2, "missing body": 2, "body not valid text": 3, "subject not valid text": 1,
    "duplicate email_id": 1, "unknown customer": 2}


def _bad_observation_lines():
    def obs(**kw):
        base = {"unit_id": "u?", "customer_id": "c?", "cutoff_date": "2005-04-01", "churn": 0}
        return json.dumps({**base, **kw}, ensure_ascii=False).encode()
    return [
        obs(unit_id="u1", customer_id="c1", churn=1, split="train", **{"Tenure Months": 12}),
        obs(unit_id="u2", customer_id="c2", **{"Tenure Months": 3}),
        obs(unit_id="u3", customer_id="c3", churn=None),
        b'{"unit_id": "u4", "customer_id": ',
        json.dumps({"customer_id": "c5", "cutoff_date": "2005-04-01", "churn": 0}).encode(),
        obs(unit_id="u6", customer_id=None),
        obs(unit_id="u7", customer_id="c7", cutoff_date="2005/04/01"),
        obs(unit_id="u8", customer_id="c8", cutoff_date=None),
        obs(unit_id="u9", customer_id="c9", churn=2),
        obs(unit_id="u10", customer_id="c10", churn="yes"),
        obs(unit_id="u11", customer_id="c11", split="holdout"),
        obs(unit_id="u1", customer_id="c12", churn=0, split="test"),
        obs(unit_id="u13", customer_id="c13", window_start="2005-05-01"),
        obs(unit_id="u14", customer_id="c14", window_start="soon"),
        obs(unit_id="u15", customer_id="c15", cutoff_date="2005-02-30"),
        b'{"unit_id": "u16", "customer_id": "c16\xff", "cutoff_date": "2005-04-01", "churn": 0}',
    ]


EXPECTED_OBSERVATION_REASONS = {
    "malformed record": 2, "missing unit_id": 1, "missing customer_id": 1, "missing cutoff_date": 1,
    "unparseable cutoff_date": 2, "unparseable window_start": 1, "window_start not before cutoff_date": 1,
    "invalid churn": 2, "invalid split": 1, "duplicate unit_id": 1}


def _bad_files(folder):
    folder.mkdir(exist_ok=True)
    (folder / "emails.csv").write_bytes(BAD_EMAILS_CSV.encode("latin-1"))  # bytes exactly as written
    (folder / "observations.jsonl").write_bytes(b"\n".join(_bad_observation_lines()) + b"\n")
    return str(folder / "emails.csv"), str(folder / "observations.jsonl")


def test_malformed_rows_are_quarantined_with_exact_counts(spark, cfg, tmp_path):
    lake = _lake(spark, tmp_path)
    emails_path, observations_path = _bad_files(tmp_path / "in")
    result = ingest(spark, lake, cfg, emails_path, observations_path)

    assert result["emails"]["reasons"] == EXPECTED_EMAIL_REASONS
    assert result["observations"]["reasons"] == EXPECTED_OBSERVATION_REASONS
    assert list(result["emails"]["reasons"]) == [r for r in EMAIL_REASONS if r in EXPECTED_EMAIL_REASONS]
    assert list(result["observations"]["reasons"]) == [
        r for r in OBSERVATION_REASONS if r in EXPECTED_OBSERVATION_REASONS]
    emails_counts = (result["emails"]["rows"], result["emails"]["kept"], result["emails"]["quarantined"])
    assert emails_counts == (19, 4, 15)
    assert (result["observations"]["rows"], result["observations"]["kept"],
            result["observations"]["quarantined"]) == (16, 3, 13)
    assert result["observations"]["renamed_columns"] == {"Tenure Months": "tenure_months"}

    quarantine = lake.read("quarantine")
    assert quarantine.columns == ["source", "row_id", "reason", "record", "run_id", "ingested_at"]
    counts = {(r.source, r.reason): r["count"]
              for r in quarantine.groupBy("source", "reason").count().collect()}
    assert counts == {**{("emails", k): v for k, v in EXPECTED_EMAIL_REASONS.items()},
                      **{("observations", k): v for k, v in EXPECTED_OBSERVATION_REASONS.items()}}
    assert quarantine.where(F.col("run_id") != "run-ingest-test").count() == 0
    rows = {(r.source, r.row_id, r.reason): r.record for r in quarantine.collect()}
    assert "\ufffd" in rows[("emails", "e09", "body not valid text")]  # the broken bytes are visible
    assert json.loads(rows[("emails", "e07", "unparseable sent_at")])["sent_at"] == "01/03/2005"
    assert json.loads(rows[("emails", "e12", "missing body")])["subject"] == "earliest but no body"
    assert json.loads(rows[("emails", "e12", "duplicate email_id")])["subject"] == "later"
    malformed = [json.loads(r.record)["_corrupt_record"] for r in quarantine.collect()
                 if r.source == "observations" and r.reason == "malformed record"]
    assert sorted(malformed) == [_bad_observation_lines()[15].decode("utf-8", "replace"),
                                 _bad_observation_lines()[3].decode()]  # the raw line, bad bytes as U+FFFD

    emails = {r.email_id: r for r in lake.read("emails").collect()}
    assert sorted(emails) == ["e01", "e02", "e12", "e18"]
    assert emails["e12"].subject == "earlier"  # the earliest valid duplicate is kept
    assert emails["e01"].body == 'good multi\nline, "quoted" body 你好'  # quoted multi-line CSV field
    assert emails["e02"].subject is None
    observations = {r.unit_id: r for r in lake.read("observations").collect()}
    assert sorted(observations) == ["u1", "u2", "u3"]
    assert observations["u3"].split == "score" and observations["u3"].churn is None
    # of the two u1 rows the one whose normalised record sorts first (customer c1 < c12) is kept
    assert (observations["u1"].customer_id, observations["u1"].split, observations["u1"].tenure_months) == (
        "c1", "train", 12)


def test_json_emails_and_csv_observations_with_renames_and_inferred_types(spark, cfg, tmp_path):
    lake = _lake(spark, tmp_path)
    good = {"customer_id": "k1", "sent_at": "2005-03-01T10:00:00+08:00", "subject": "訂報"}
    emails_path = tmp_path / "emails.jsonl"
    emails_path.write_bytes(b"\n".join([
        json.dumps({**good, "email_id": "m1", "body": "<p>我要停訂</p>"}, ensure_ascii=False).encode(),
        json.dumps({**good, "email_id": "m2", "body": "第一行\n第二行", "extra": 1}).encode(),
        b'{"email_id": "m3", "customer_id": "k1", "sent_at": ',
        json.dumps({**good, "email_id": 4, "customer_id": "k2", "body": "numeric id"}).encode(),
        json.dumps({**good, "email_id": "m5", "sent_at": "yesterday", "body": "x"}).encode(),
        json.dumps({**good, "email_id": "m6", "body": None}).encode(),
        b'{"email_id": "m7", "customer_id": "k1", "sent_at": "2005-03-01", "body": "bad \xff"}',
        b"",
    ]))
    observations_path = _write_csv(
        tmp_path / "observations.csv",
        ["unit_id", "Customer ID", "cutoff_date", "churn", "版本", "Paid Amount", "auto_renew", "notes"],
        [["v1", "k1", "2005-04-01", "1", "甲", "100", "True", "line one\nline two, \"quoted\""],
         ["v2", "k2", "2005-04-01T00:00:00", "0", "乙", "250.5", "false", ""],
         ["v3", "k3", "2005-04-01", "", "甲", "", "TRUE", "x"],
         ["v4", "k4", "2005-04-01", "1.0", "", "7", "false", "y"],
         ["v5", "k5", "2005-04-01", "x", "甲", "1", "true", "z"]])
    result = ingest(spark, lake, cfg, str(emails_path), observations_path)

    assert result["emails"]["reasons"] == {"malformed record": 2, "unparseable sent_at": 1, "missing body": 1}
    assert result["observations"]["reasons"] == {"invalid churn": 1}
    assert result["observations"]["renamed_columns"] == {
        "Customer ID": "customer_id", "版本": "col_4", "Paid Amount": "paid_amount"}
    assert result["observations"]["marketing_columns"] == {
        "col_4": "string", "paid_amount": "double", "auto_renew": "boolean", "notes": "string"}
    assert result["observations"]["splits"]["score"] == 1
    assert sorted(r.email_id for r in lake.read("emails").collect()) == ["4", "m1", "m2"]
    rows = {r.unit_id: r for r in lake.read("observations").collect()}
    assert (rows["v1"].paid_amount, rows["v1"].auto_renew, rows["v1"].col_4) == (100.0, True, "甲")
    assert rows["v1"].notes == 'line one\nline two, "quoted"'
    assert (rows["v2"].cutoff_date, rows["v2"].notes) == (dt.date(2005, 4, 1), None)
    assert (rows["v3"].churn, rows["v3"].paid_amount) == (None, None)
    assert (rows["v4"].churn, rows["v4"].col_4) == (1, None)


# ---------------------------------------------------------------------------------------
# inputs that leave nothing usable, and the command line


def test_empty_or_missing_inputs_fail_naming_the_path(spark, cfg, tmp_path):
    lake = _lake(spark, tmp_path)
    _, observations_path = _good_files(spark, tmp_path / "good", "csv")
    empty = tmp_path / "emails.csv"
    empty.write_bytes(b"")
    with pytest.raises(IngestError, match=f"emails file is empty: {empty}"):
        ingest(spark, lake, cfg, str(empty), observations_path)
    with pytest.raises(IngestError, match="observations path does not exist: .*nowhere.csv"):
        ingest(spark, lake, cfg, observations_path, str(tmp_path / "nowhere.csv"))
    header_only = tmp_path / "header_only.csv"
    header_only.write_text("email_id,customer_id,sent_at,subject,body\n", encoding="utf-8")
    with pytest.raises(IngestError, match=f"no valid email in {header_only} \\(0 rows"):
        ingest(spark, lake, cfg, str(header_only), observations_path)
    assert lake.list() == []  # a failed ingest writes no table
    with pytest.raises(IngestError, match="lack the required column.*body"):
        ingest(spark, lake, cfg, _write_csv(tmp_path / "nobody.csv", ["email_id", "customer_id", "sent_at"],
                                            [["e1", "c1", "2005-01-01"]]), observations_path)


def test_cli_exit_codes(spark, tmp_path, capsys):
    emails_path, observations_path = _bad_files(tmp_path / "in")
    warehouse = str(tmp_path / "wh")
    assert main(["ingest", "--emails", emails_path, "--observations", observations_path,
                 "--warehouse", warehouse]) == 0
    assert Lake(spark, root=warehouse).read("quarantine").count() == 15 + 13
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    capsys.readouterr()
    assert main(["ingest", "--emails", str(empty), "--observations", observations_path,
                 "--warehouse", warehouse]) == 1
    assert f"emails file is empty: {empty}" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------
# building blocks


def test_seeded_split_is_deterministic_and_near_test_share(spark):
    units = spark.range(4000).select(F.concat(F.lit("unit-"), F.col("id").cast("string")).alias("unit_id"))

    def splits(seed, share):
        df = units.select("unit_id", seeded_split(F.col("unit_id"), seed, share).alias("split"))
        return {r.unit_id: r.split for r in df.collect()}

    first, again, other_seed = splits(42, 0.25), splits(42, 0.25), splits(43, 0.25)
    assert first == again
    share = sum(s == "test" for s in first.values()) / len(first)
    assert abs(share - 0.25) < 0.03  # binomial sd = 0.0068: 4.4 sd
    assert abs(sum(s == "test" for s in other_seed.values()) / 4000 - 0.25) < 0.03
    changed = sum(first[u] != other_seed[u] for u in first) / 4000
    assert 0.25 < changed < 0.50  # independent draws differ with probability 2 * 0.25 * 0.75 = 0.375
    bigger = splits(42, 0.5)
    assert all(bigger[u] == "test" for u, s in first.items() if s == "test")  # nested: u < 0.25 < 0.5


def test_timestamp_forms_accepted_and_rejected(spark):
    accepted = {  # text -> the same instant in a form Python's parser reads (naive = UTC)
        "2005-03-01T10:00": "2005-03-01T10:00:00", "2005-03-01 10:00:00": "2005-03-01T10:00:00",
        "2005-03-01T10:00:00.1": "2005-03-01T10:00:00.100", "2005-03-01T10:00:00.123456789Z":
        "2005-03-01T10:00:00.123456+00:00", "2005-03-01T10:00:00+08:00": "2005-03-01T10:00:00+08:00",
        "2005-03-01 10:00:00 -0530": "2005-03-01T10:00:00-05:30", "2005-03-01": "2005-03-01T00:00:00"}
    rejected = ["2005-03-01T10", "01/03/2005", "2005-3-1", "2005-03-01T25:00:00", "2005-02-29T10:00:00",
                "2005-03-01T10:00:00+8", "2005-03-01 10:00:00 CST", "20050301", "now", ""]
    df = spark.createDataFrame([(s,) for s in [*accepted, *rejected]], "s string")
    parsed = {r.s: r.us for r in df.select(
        "s", F.unix_micros(parse_timestamp(F.col("s"), T.StringType())).alias("us")).collect()}
    assert {t: parsed[t] for t in accepted} == {
        t: _micros(dt.datetime.fromisoformat(ref)) for t, ref in accepted.items()}
    assert [t for t in rejected if parsed[t] is not None] == []


def test_column_names_become_unique_lower_snake_case():
    names, renames = sanitize_column_names(["CustomerID", "Tenure Months", "unit_id", "版本", "2nd try",
                                            "HTTPStatus", "tenure-months"])
    assert names == ["customer_id", "tenure_months", "unit_id", "col_3", "col_2nd_try", "http_status",
                     "tenure_months_2"]
    assert "unit_id" not in renames and renames["版本"] == "col_3"
