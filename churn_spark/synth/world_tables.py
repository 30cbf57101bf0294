"""The rows of a simulated block: logs that grow during the simulation, then Arrow tables.

``SCHEMAS`` are the schemas of the bronze tables (and ``truth``); ``assemble_block`` turns a
block's logs into tables of those schemas, without the rows dated after the extract date.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from churn_spark.synth.mechanism import MECHANISM_VARIABLES, TOPIC_IDS
from churn_spark.synth.world_codes import (
    CAMPAIGNS,
    CHANGE_KINDS,
    COMPLAINT_REASONS,
    CUSTOMER_CITIES,
    CUSTOMER_ROADS,
    CUSTOMER_TYPES,
    DATA_END,
    DAYS_PER_WEEK,
    DELIVERIES,
    DM_CHANNELS,
    EDITIONS,
    EMAIL_ARCHIVE_START,
    FREE_PAPER_REASONS,
    MOTIVATORS,
    PAYMENTS,
)


class RowLog:
    """Rows of one table, appended per simulation step into growing column buffers."""

    def __init__(self, *columns: str):
        self.columns = columns
        self.size = 0
        self.buffers: dict[str, np.ndarray] = {}

    def add(self, **cols: np.ndarray) -> dict[str, np.ndarray]:
        """Append rows; returns views of the new rows (valid until the next ``add``)."""
        new = {c: np.asarray(cols[c]) for c in self.columns}
        n = len(new[self.columns[0]])
        if not self.buffers:
            self.buffers = {c: np.empty(max(1024, 2 * n), dtype=v.dtype) for c, v in new.items()}
        if self.size + n > len(self.buffers[self.columns[0]]):   # grow x2: amortised O(1) per row
            capacity = 2 * (self.size + n)
            for c, buf in self.buffers.items():
                grown = np.empty(capacity, dtype=buf.dtype)
                grown[:self.size] = buf[:self.size]
                self.buffers[c] = grown
        for c, v in new.items():
            self.buffers[c][self.size:self.size + n] = v
        self.size += n
        return {c: buf[self.size - n:self.size] for c, buf in self.buffers.items()}

    def arrays(self) -> dict[str, np.ndarray]:
        """Views of all rows so far."""
        if not self.buffers:
            return {c: np.zeros(0, dtype=np.int64) for c in self.columns}
        return {c: buf[:self.size] for c, buf in self.buffers.items()}


@dataclass
class BlockWorld:
    """One block's rows of every table (emails with their topic mix, without text yet)."""

    tables: dict[str, pa.Table]     # name -> rows, with the schema SCHEMAS[name]


SCHEMAS: dict[str, pa.Schema] = {
    "customers": pa.schema([
        ("customer_id", pa.string()), ("gender", pa.string()), ("age", pa.int32()),
        ("customer_type", pa.string()), ("has_phone", pa.bool_()), ("has_mobile", pa.bool_()),
        ("has_email", pa.bool_()), ("customer_since", pa.date32()), ("phone", pa.string()),
        ("mobile", pa.string()), ("email", pa.string()), ("address", pa.string())]),
    "subscriptions": pa.schema([
        ("subscription_id", pa.string()), ("customer_id", pa.string()),
        ("previous_subscription_id", pa.string()),
        ("ordered_at", pa.date32()), ("start_date", pa.date32()), ("expiry_date", pa.date32()),
        ("edition", pa.string()), ("days_per_week", pa.int32()), ("price", pa.float64()),
        ("purchase_motivator", pa.string()), ("delivery", pa.string()), ("payment_method", pa.string())]),
    "complaints": pa.schema([
        ("complaint_id", pa.string()), ("customer_id", pa.string()), ("subscription_id", pa.string()),
        ("complaint_date", pa.date32()), ("reason", pa.string()), ("compensation_papers", pa.int32())]),
    "suspensions": pa.schema([
        ("suspension_id", pa.string()), ("customer_id", pa.string()), ("subscription_id", pa.string()),
        ("start_date", pa.date32()), ("end_date", pa.date32())]),
    "changes": pa.schema([
        ("change_id", pa.string()), ("customer_id", pa.string()), ("change_date", pa.date32()),
        ("kind", pa.string()), ("old_value", pa.string()), ("new_value", pa.string())]),
    "dm_actions": pa.schema([
        ("action_id", pa.string()), ("customer_id", pa.string()), ("action_date", pa.date32()),
        ("campaign", pa.string()), ("channel", pa.string()), ("responded", pa.bool_()),
        ("response_date", pa.date32())]),
    "free_papers": pa.schema([
        ("free_paper_id", pa.string()), ("customer_id", pa.string()), ("given_date", pa.date32()),
        ("papers", pa.int32()), ("reason", pa.string())]),
    # emails as simulated; the generator job renders subject and body from the topic mix
    "emails": pa.schema([
        ("email_id", pa.string()), ("customer_id", pa.string()), ("sent_at", pa.timestamp("us", tz="UTC")),
        ("topic_mix", pa.list_(pa.float32(), len(TOPIC_IDS)))]),
}

_STRING_VARIABLES = ("gender", "edition", "customer_type", "purchase_motivator", "delivery")
_BOOL_VARIABLES = ("prev_renewed_before_expiry", "age_known")
_DOUBLE_VARIABLES = ("monetary_value", "avg_complaint_position", "var_days_before_expiry",
                     "n_suspensions_per_year", "avg_suspension_days", "n_payment_changes_per_year", "age")


def _variable_type(name: str) -> pa.DataType:
    if name in _STRING_VARIABLES:
        return pa.string()
    if name in _BOOL_VARIABLES:
        return pa.bool_()
    return pa.float64() if name in _DOUBLE_VARIABLES else pa.int64()


SCHEMAS["truth"] = pa.schema(
    [("unit_id", pa.string()), ("customer_id", pa.string()), ("has_emails", pa.bool_()),
     ("n_emails", pa.int32()),
     ("p_true", pa.float64()), ("p_marketing", pa.float64()), ("logit_marketing", pa.float64()),
     ("logit_text", pa.float64()), ("churn", pa.int32())]
    + [(f"x_{v}", _variable_type(v)) for v in MECHANISM_VARIABLES])

TRUTH_COLUMNS: tuple[str, ...] = (
    "cust", "k", "has_emails", "n_emails", "p_true", "p_marketing", "logit_marketing", "logit_text", "churn",
) + tuple(f"x_{v}" for v in MECHANISM_VARIABLES)


def _ids(prefix: pa.Array, cust: np.ndarray, tag: str, seq: np.ndarray, width: int) -> pa.Array:
    """``prefix[cust] + tag + seq`` zero-padded to ``width`` digits, e.g. C0000120003S02."""
    number = pc.utf8_lpad(pc.cast(pa.array(np.asarray(seq, dtype=np.int64)), pa.string()), width, "0")
    owner = prefix.take(pa.array(np.asarray(cust, dtype=np.int64)))
    return pc.binary_join_element_wise(owner, tag, number, "")


def _sequence(cust: np.ndarray, *keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort order by (cust, keys...) and each row's rank within its customer."""
    order = np.lexsort(tuple(reversed((cust,) + keys)))
    c = cust[order]
    first = np.searchsorted(c, c, side="left")
    return order, np.arange(len(c)) - first


def _date(days: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(days, dtype=np.int32), pa.date32())


def _str(levels: np.ndarray, codes: np.ndarray) -> pa.Array:
    return pa.array(levels[np.asarray(codes, dtype=np.int64)], pa.string())


def assemble_block(block_id: int, n: int, customers: dict[str, np.ndarray], logs: dict[str, RowLog],
                   mix: np.ndarray) -> BlockWorld:
    """The tables of block ``block_id`` (``n`` customers) from its logs and its emails' topic mixes."""
    cid = pa.array([f"C{block_id:06d}{i:04d}" for i in range(n)], pa.string())
    t: dict[str, pa.Table] = {}

    s = logs["subscriptions"].arrays()
    keep = s["start"] <= DATA_END
    s = {k: v[keep] for k, v in s.items()}
    order = np.lexsort((s["k"], s["cust"]))
    s = {k: v[order] for k, v in s.items()}
    sub_id = _ids(cid, s["cust"], "S", s["k"], 2)
    has_prev = s["prev_k"] >= 0
    prev = pc.if_else(pa.array(has_prev), _ids(cid, s["cust"], "S", np.maximum(s["prev_k"], 0), 2),
                      pa.scalar(None, pa.string()))
    t["subscriptions"] = pa.table({
        "subscription_id": sub_id, "customer_id": cid.take(s["cust"]),
        "previous_subscription_id": prev,
        "ordered_at": _date(s["ordered"]), "start_date": _date(s["start"]), "expiry_date": _date(s["expiry"]),
        "edition": _str(EDITIONS, s["edition"]),
        "days_per_week": pa.array(DAYS_PER_WEEK[s["dpw"]], pa.int32()),
        "price": pa.array(s["price"], pa.float64()), "purchase_motivator": _str(MOTIVATORS, s["motivator"]),
        "delivery": _str(DELIVERIES, s["delivery"]), "payment_method": _str(PAYMENTS, s["payment"]),
    })

    first_order = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(first_order, s["cust"], s["ordered"])
    person = customers["ctype"] == 0
    t["customers"] = pa.table({
        "customer_id": cid,
        "gender": pa.array(customers["gender"], pa.string()),
        "age": pa.array(np.where(customers["age_known"], customers["age"], 0).astype(np.int32),
                        pa.int32(), mask=~customers["age_known"]),
        "customer_type": _str(CUSTOMER_TYPES, customers["ctype"]),
        "has_phone": pa.array(customers["has_phone"]), "has_mobile": pa.array(customers["has_mobile"]),
        "has_email": pa.array(customers["has_email"]),
        "customer_since": _date(first_order),
        "phone": pa.array([f"0{2 + d % 7}-{d}" for d in customers["phone_digits"].tolist()], pa.string(),
                          mask=~customers["has_phone"]),
        "mobile": pa.array([f"09{d:08d}"[:10] for d in customers["mobile_digits"].tolist()], pa.string(),
                           mask=~customers["has_mobile"]),
        "email": pa.array([f"{'reader' if p else 'office'}{block_id}x{i}@example.com.tw"
                           for i, p in enumerate(person.tolist())], pa.string(),
                          mask=~customers["has_email"]),
        "address": pa.array([f"{CUSTOMER_CITIES[c]}{CUSTOMER_ROADS[r]}{h}号" for c, r, h in zip(
            customers["city"].tolist(), customers["road"].tolist(), customers["house"].tolist(),
            strict=True)], pa.string()),
    })

    k = _filtered(logs["complaints"], "date")
    order, seq = _sequence(k["cust"], k["date"])
    k = {c: v[order] for c, v in k.items()}
    t["complaints"] = pa.table({
        "complaint_id": _ids(cid, k["cust"], "K", seq, 3), "customer_id": cid.take(k["cust"]),
        "subscription_id": _ids(cid, k["cust"], "S", k["k"], 2), "complaint_date": _date(k["date"]),
        "reason": _str(COMPLAINT_REASONS, k["reason"]),
        "compensation_papers": pa.array(k["compensation"], pa.int32()),
    })

    p = _filtered(logs["suspensions"], "start")
    order, seq = _sequence(p["cust"], p["start"])
    p = {c: v[order] for c, v in p.items()}
    t["suspensions"] = pa.table({
        "suspension_id": _ids(cid, p["cust"], "P", seq, 3), "customer_id": cid.take(p["cust"]),
        "subscription_id": _ids(cid, p["cust"], "S", p["k"], 2),
        "start_date": _date(p["start"]), "end_date": _date(p["end"]),
    })

    h = _filtered(logs["changes"], "date")
    order, seq = _sequence(h["cust"], h["date"], h["kind"])
    h = {c: v[order] for c, v in h.items()}
    levels = {0: PAYMENTS, 1: DELIVERIES, 2: EDITIONS}
    old = [levels[kd][o] for kd, o in zip(h["kind"].tolist(), h["old"].tolist(), strict=True)]
    new = [levels[kd][o] for kd, o in zip(h["kind"].tolist(), h["new"].tolist(), strict=True)]
    t["changes"] = pa.table({
        "change_id": _ids(cid, h["cust"], "H", seq, 3), "customer_id": cid.take(h["cust"]),
        "change_date": _date(h["date"]), "kind": _str(CHANGE_KINDS, h["kind"]),
        "old_value": pa.array(old, pa.string()), "new_value": pa.array(new, pa.string()),
    })

    m = _filtered(logs["dm_actions"], "date")
    order, seq = _sequence(m["cust"], m["date"], m["campaign"])
    m = {c: v[order] for c, v in m.items()}
    late = m["response"] > DATA_END   # a response after the extract date is not known yet
    responded = m["responded"].astype(bool) & ~late
    t["dm_actions"] = pa.table({
        "action_id": _ids(cid, m["cust"], "D", seq, 3), "customer_id": cid.take(m["cust"]),
        "action_date": _date(m["date"]), "campaign": _str(CAMPAIGNS, m["campaign"]),
        "channel": _str(DM_CHANNELS, m["channel"]), "responded": pa.array(responded),
        "response_date": pa.array(np.where(responded, m["response"], 0).astype(np.int32), pa.date32(),
                                  mask=~responded),
    })

    f = _filtered(logs["free_papers"], "date")
    order, seq = _sequence(f["cust"], f["date"], f["reason"])
    f = {c: v[order] for c, v in f.items()}
    t["free_papers"] = pa.table({
        "free_paper_id": _ids(cid, f["cust"], "F", seq, 3), "customer_id": cid.take(f["cust"]),
        "given_date": _date(f["date"]), "papers": pa.array(f["count"], pa.int32()),
        "reason": _str(FREE_PAPER_REASONS, f["reason"]),
    })

    e = logs["emails"].arrays()
    keep = (e["date"] >= EMAIL_ARCHIVE_START) & (e["date"] <= DATA_END)
    e = {c: v[keep] for c, v in e.items()}
    mix = mix[keep]
    order, seq = _sequence(e["cust"], e["date"], e["second"])
    e = {c: v[order] for c, v in e.items()}
    mix = mix[order]
    micros = (e["date"].astype(np.int64) * 86400 + e["second"]) * 1_000_000
    t["emails"] = pa.table({
        "email_id": _ids(cid, e["cust"], "E", seq, 3), "customer_id": cid.take(e["cust"]),
        "sent_at": pa.array(micros, pa.timestamp("us", tz="UTC")),
        "topic_mix": pa.FixedSizeListArray.from_arrays(pa.array(mix.astype(np.float32).ravel()),
                                                       len(TOPIC_IDS)),
    })

    r = logs["truth"].arrays()
    order = np.lexsort((r["k"], r["cust"]))
    r = {c: v[order] for c, v in r.items()}
    truth = {
        "unit_id": _ids(cid, r["cust"], "S", r["k"], 2), "customer_id": cid.take(r["cust"]),
        "has_emails": pa.array(r["has_emails"].astype(bool)), "n_emails": pa.array(r["n_emails"], pa.int32()),
        "p_true": pa.array(r["p_true"], pa.float64()),
        "p_marketing": pa.array(r["p_marketing"], pa.float64()),
        "logit_marketing": pa.array(r["logit_marketing"], pa.float64()),
        "logit_text": pa.array(r["logit_text"], pa.float64()), "churn": pa.array(r["churn"], pa.int32()),
    }
    for v in MECHANISM_VARIABLES:
        truth[f"x_{v}"] = pa.array(r[f"x_{v}"], _variable_type(v), from_pandas=True)  # NaN age -> null
    t["truth"] = pa.table(truth)
    return BlockWorld({name: table.cast(SCHEMAS[name]) for name, table in t.items()})


def _filtered(log: RowLog, date_col: str) -> dict[str, np.ndarray]:
    """A log's rows dated no later than the extract date."""
    rows = log.arrays()
    keep = rows[date_col] <= DATA_END
    return {c: v[keep] for c, v in rows.items()}
