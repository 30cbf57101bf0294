"""The history variables of customers at their renewal points, as the simulation sees them.

Exactly the definitions of :mod:`churn_spark.features` (which computes them from the tables):
the churn mechanism (:mod:`churn_spark.synth.mechanism`) draws each renewal from them.
"""

from __future__ import annotations

import numpy as np

from churn_spark.synth.world_codes import (
    CAMPAIGN_CODE,
    CUSTOMER_TYPES,
    DAYS_PER_WEEK,
    DELIVERIES,
    EDITIONS,
    GRACE_DAYS,
    HISTORY_MONTHS,
    MOTIVATORS,
    PAYMENTS,
    RETENTION_CAMPAIGNS,
    add_months,
)


def _count(n: int, cust: np.ndarray, mask: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Per customer: number of rows in ``mask`` (or sum of ``weights`` over them), as floats."""
    w = None if weights is None else np.asarray(weights, dtype=float)[mask]
    return np.bincount(cust[mask].astype(np.int64), weights=w, minlength=n).astype(float)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, 0 where den is 0."""
    return np.divide(num, den, out=np.zeros(len(num)), where=den > 0)


def _latest(n: int, cust: np.ndarray, mask: np.ndarray, dates: np.ndarray) -> np.ndarray:
    out = np.full(n, np.iinfo(np.int64).min)
    np.maximum.at(out, cust[mask], dates[mask].astype(np.int64))
    return out


def _rows_of(rows: dict[str, np.ndarray], customers: np.ndarray) -> dict[str, np.ndarray]:
    """The rows of a log whose customer is flagged in ``customers``."""
    keep = customers[rows["cust"]]
    return rows if keep.all() else {c: v[keep] for c, v in rows.items()}


def history_features(n: int, idx: np.ndarray, cutoff: np.ndarray, cur: dict[str, np.ndarray],
                     customers: dict[str, np.ndarray], logs: dict[str, dict[str, np.ndarray]]
                     ) -> dict[str, np.ndarray]:
    """The Appendix C variables of customers ``idx`` at their renewal points ``cutoff``.

    ``cur`` holds the current subscription's fields per customer (full-size arrays), ``logs``
    the rows of every table so far. Only rows dated in ``[cutoff - 30 months, cutoff)`` count
    (``start_date`` for subscriptions and suspensions, ``response_date`` for responses); the
    definitions and edge values are those of :data:`churn_spark.features.FEATURE_DOCS`.
    """
    active = np.zeros(n, dtype=bool)
    active[idx] = True
    logs = {name: _rows_of(rows, active) for name, rows in logs.items()}   # late steps: few customers
    far = np.iinfo(np.int64).max // 4
    c_full = np.full(n, -far)
    h_full = np.full(n, far)
    c_full[idx] = cutoff
    h_full[idx] = add_months(cutoff, -HISTORY_MONTHS)
    hist = (c_full - h_full)[idx]                        # length of the history window, days

    def in_hist(cust: np.ndarray, dates: np.ndarray) -> np.ndarray:
        return (dates >= h_full[cust]) & (dates < c_full[cust])

    def since(latest: np.ndarray) -> np.ndarray:
        last = latest[idx]
        none = last == np.iinfo(np.int64).min
        return np.where(none, hist, cutoff - np.where(none, 0, last)).astype(np.int64)

    x: dict[str, np.ndarray] = {}
    start = cur["start"][idx]
    expiry = cur["expiry"][idx]

    # subscriptions: monetary value, renewals, renewal points, not renewed, tenure
    s = logs["subscriptions"]
    s_cust = s["cust"]
    started = in_hist(s_cust, s["start"])
    x["monetary_value"] = np.round(_count(n, s_cust, started, s["price"])[idx], 2)
    renewal = started & (s["prev_k"] >= 0)
    x["n_renewals"] = _count(n, s_cust, renewal)[idx].astype(np.int64)
    n_ren = x["n_renewals"].astype(float)
    sum_d = _count(n, s_cust, renewal, s["days_before"])[idx]
    mean_d = _ratio(sum_d, n_ren)
    mean_full = np.zeros(n)
    mean_full[idx] = mean_d
    dev2 = (s["days_before"] - mean_full[s_cust]) ** 2
    ss_d = _count(n, s_cust, renewal, dev2)[idx]
    x["avg_days_before_expiry"] = mean_d
    x["var_days_before_expiry"] = _ratio(ss_d, n_ren)
    x["days_since_last_renewal"] = since(_latest(n, s_cust, renewal, s["ordered"]))
    expired = in_hist(s_cust, s["expiry"])
    x["n_renewal_points"] = _count(n, s_cust, expired)[idx].astype(np.int64)
    known_churn = expired & (s["churned"] == 1) & (s["expiry"] + GRACE_DAYS < c_full[s_cust])
    x["n_not_renewed"] = _count(n, s_cust, known_churn)[idx].astype(np.int64)
    overlap = (np.minimum(s["expiry"], c_full[s_cust] - 1) - np.maximum(s["start"], h_full[s_cust]) + 1)
    running = (s["start"] < c_full[s_cust]) & (overlap > 0)
    x["tenure_days"] = _count(n, s_cust, running, overlap)[idx].astype(np.int64)
    tenure = np.maximum(x["tenure_days"], 30).astype(float)   # per-year rates divide by this

    # the unit's own subscription
    x["is_renewal"] = cur["prev_k"][idx] >= 0
    x["prev_days_before_expiry"] = np.where(x["is_renewal"], cur["days_before"][idx], 0).astype(np.int64)
    x["prev_renewed_before_expiry"] = x["is_renewal"] & (x["prev_days_before_expiry"] > 0)
    x["subscription_length_days"] = (expiry - start + 1).astype(np.int64)
    x["days_per_week"] = DAYS_PER_WEEK[cur["dpw"][idx]]
    x["edition"] = EDITIONS[cur["edition"][idx]]
    x["delivery"] = DELIVERIES[cur["delivery"][idx]]
    x["payment_method"] = PAYMENTS[cur["payment"][idx]]
    x["purchase_motivator"] = MOTIVATORS[cur["motivator"][idx]]
    x["price"] = cur["price"][idx]
    x["expiry_month"] = (expiry.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64) % 12) + 1

    # complaints
    k = logs["complaints"]
    k_in = in_hist(k["cust"], k["date"])
    n_k = _count(n, k["cust"], k_in)[idx]
    x["n_complaints"] = n_k.astype(np.int64)
    x["days_since_last_complaint"] = since(_latest(n, k["cust"], k_in, k["date"]))
    comp = _count(n, k["cust"], k_in, k["compensation"])[idx]
    x["avg_complaint_compensation"] = _ratio(comp, n_k)
    start_full = np.zeros(n, dtype=np.int64)
    start_full[idx] = start
    length_full = np.ones(n)
    length_full[idx] = expiry - start
    k_term = k_in & (k["date"] >= start_full[k["cust"]])
    n_kt = _count(n, k["cust"], k_term)[idx]
    position = (k["date"] - start_full[k["cust"]]) / length_full[k["cust"]]
    pos_sum = _count(n, k["cust"], k_term, position)[idx]
    x["n_complaints_current_term"] = n_kt.astype(np.int64)
    x["avg_complaint_position"] = _ratio(pos_sum, n_kt)

    # suspensions (counted by start date; length as planned, end - start + 1)
    p = logs["suspensions"]
    p_in = in_hist(p["cust"], p["start"])
    n_p = _count(n, p["cust"], p_in)[idx]
    p_days = _count(n, p["cust"], p_in, p["end"] - p["start"] + 1)[idx]
    x["n_suspensions"] = n_p.astype(np.int64)
    x["avg_suspension_days"] = _ratio(p_days, n_p)
    x["days_since_last_suspension"] = since(_latest(n, p["cust"], p_in, p["start"]))
    x["n_suspensions_per_year"] = n_p * 365.0 / tenure
    x["suspension_days_per_year"] = p_days * 365.0 / tenure

    # changes of payment method, channel, edition
    h = logs["changes"]
    for code, kind in enumerate(("payment", "channel", "edition")):
        h_in = in_hist(h["cust"], h["date"]) & (h["kind"] == code)
        n_h = _count(n, h["cust"], h_in)[idx]
        x[f"n_{kind}_changes"] = n_h.astype(np.int64)
        x[f"days_since_last_{kind}_change"] = since(_latest(n, h["cust"], h_in, h["date"]))
        x[f"n_{kind}_changes_per_year"] = n_h * 365.0 / tenure

    # direct marketing: actions received, responses, retention steps
    m = logs["dm_actions"]
    m_in = in_hist(m["cust"], m["date"])
    x["n_dm_actions"] = _count(n, m["cust"], m_in)[idx].astype(np.int64)
    r_in = m["responded"].astype(bool) & in_hist(m["cust"], m["response"])
    x["n_dm_responses"] = _count(n, m["cust"], r_in)[idx].astype(np.int64)
    x["days_since_last_dm_response"] = since(_latest(n, m["cust"], r_in, m["response"]))
    retention = m_in & np.isin(m["campaign"], [CAMPAIGN_CODE[c] for c in RETENTION_CAMPAIGNS])
    x["days_since_last_retention_step"] = since(_latest(n, m["cust"], retention, m["date"]))

    # free newspapers
    f = logs["free_papers"]
    f_in = in_hist(f["cust"], f["date"])
    x["n_free_papers"] = _count(n, f["cust"], f_in, f["count"])[idx].astype(np.int64)

    # socio-demographics
    x["age"] = customers["age"][idx]
    x["age_known"] = customers["age_known"][idx]
    gender = customers["gender"][idx]
    x["gender"] = np.where(gender == None, "unknown", gender).astype(object)  # noqa: E711
    x["customer_type"] = CUSTOMER_TYPES[customers["ctype"][idx]]
    for name in ("has_phone", "has_mobile", "has_email"):
        x[name] = customers[name][idx]
    return x
