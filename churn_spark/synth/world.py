"""Simulation of a newspaper publisher's marketing database, one block of customers at a time.

A block is a fixed number of customers simulated from January 2002 (or their acquisition)
to the end of September 2005 with a generator seeded by ``SeedSequence([seed, block_id])``,
so a block's content depends on the seed and the block id only (never on Spark's
partitioning). :func:`simulate_block` returns the block's rows of every bronze table as
Arrow tables.

The life of a customer
----------------------
* Customers are physical persons (92%), companies or public institutions, with gender, age
  (unknown for 28% of persons), contact data, and latent traits that shape their behaviour
  but never enter the churn logit directly: loyalty (renews early, answers mailings),
  grumpiness (complaint rate), travel habit (holiday suspensions) and whether they are the
  writing kind (call-center emails).
* 55% are subscribers on 1 January 2002, the others are acquired uniformly until September
  2005 (by a direct-marketing campaign, a gift promotion, phone sales, web, shop, referral).
* A subscription term lasts 91, 182 or 365 days (61 days for some introductory offers) with
  an edition (X1/X2/X3), days per week (6/3/1), a delivery (mail/carrier/shop pick-up) and
  a payment method. During the term: complaints (rate by delivery and grumpiness, some
  compensated with free papers), holiday suspensions, changes of payment method, channel
  or edition (effective from the next term), direct-marketing actions and responses,
  promotional free papers, and emails to the call center (see :mod:`mechanism`).
* At the term's expiry (the renewal point) the customer churns with the probability of
  :mod:`churn_spark.synth.mechanism`, computed from :func:`history_features` — exactly the
  variables :mod:`churn_spark.features` computes from the tables. A renewal is ordered
  ``d`` days before expiry (loyal customers earlier; ``d < 0`` = up to 28 days late, the new
  term then starts the day after ordering). Non-renewers get a retention call (expiry + 7)
  and letter (expiry + 21); churners may be won back months later by a win-back mailing or
  come back by themselves, as new subscriptions.

Renewal points with expiry between 2004-07-01 and 2005-07-31 are the units of analysis;
their truth rows (``p_true``, ``p_marketing``, the mechanism's inputs) go to ``truth``.
Rows dated after 2005-09-30 (the extract date) and emails before 2003-07-01 (start of the
email archive) are not written.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from churn_spark.synth.mechanism import (
    EVENT_TOPIC,
    MECHANISM_VARIABLES,
    TOPIC_IDS,
    TOPIC_INDEX,
    Mechanism,
    draw_email_topics,
    emails_rate,
    expected_p_given_marketing,
    marketing_logit,
    sigmoid,
    text_logit,
)


def day(iso: str) -> int:
    """Day number (days since 1970-01-01) of an ISO date."""
    return (dt.date.fromisoformat(iso) - dt.date(1970, 1, 1)).days


DATA_START = day("2002-01-01")
DATA_END = day("2005-09-30")              # extract date: nothing later is written
WINDOW_FROM = day("2004-07-01")           # renewal points (expiry dates) of the units ...
WINDOW_TO = day("2005-07-31")             # ... between these dates, inclusive
EMAIL_ARCHIVE_START = day("2003-07-01")   # the call center keeps emails from this date
HISTORY_MONTHS = 30
GRACE_DAYS = 28

CUSTOMER_TYPES = np.array(["physical_person", "company", "public_institution"], dtype=object)
EDITIONS = np.array(["X1", "X2", "X3"], dtype=object)
DAYS_PER_WEEK = np.array([6, 3, 1])
DELIVERIES = np.array(["mail", "carrier", "shop"], dtype=object)
PAYMENTS = np.array(["direct_debit", "bank_transfer", "credit_card", "cash"], dtype=object)
MOTIVATORS = np.array(["renewal", "retention_call", "dm_campaign", "promotion_gift", "phone_sales", "web",
                       "shop_sale", "referral"], dtype=object)
COMPLAINT_REASONS = np.array(["late_delivery", "missing_issue", "damaged_issue", "wrong_edition"],
                             dtype=object)
CAMPAIGNS = np.array(["crosssell_magazine", "upgrade_offer", "loyalty_gift", "survey", "retention_call",
                      "retention_letter", "winback"], dtype=object)
RETENTION_CAMPAIGNS = ("retention_call", "retention_letter")
DM_CHANNELS = np.array(["mail", "phone", "email"], dtype=object)
FREE_PAPER_REASONS = np.array(["complaint_compensation", "promotion", "trial"], dtype=object)
CHANGE_KINDS = np.array(["payment_method", "channel", "edition"], dtype=object)
GENDERS = np.array(["F", "M", None], dtype=object)

_PRICE_PER_ISSUE = np.array([1.10, 0.95, 0.85])      # by edition, EUR
_ACQUISITION_MIX = np.array([0, 0, 0.30, 0.20, 0.15, 0.15, 0.10, 0.10])  # over MOTIVATORS
_CAMPAIGN = {name: i for i, name in enumerate(CAMPAIGNS)}
_MOTIVATOR = {name: i for i, name in enumerate(MOTIVATORS)}
_CITIES = np.array(["台北市", "新北市", "台中市", "高雄市", "台南市", "桃园市", "上海市", "杭州市"],
                   dtype=object)
_ROADS = np.array(["中山路", "民生路", "和平路", "建国路", "复兴路", "光明街", "解放路", "文化路"],
                  dtype=object)


@dataclass(frozen=True)
class WorldParams:
    """Everything a block's simulation depends on (besides its block id)."""

    seed: int
    n_blocks: int
    block_customers: int = 2000
    writer_share: float = 0.12          # share of customers of the writing kind
    writer_intercept: float = -0.9      # logit of writing emails in a term, writing kind
    other_intercept: float = -6.0       # ... and everybody else
    emails_base_rate: float = 0.29      # mu of 1 + Poisson(mu) emails in a writing term
    oracle_draws: int = 128             # Monte Carlo draws for p_marketing
    mechanism: Mechanism = Mechanism()


def block_seeds(seed: int, block_id: int) -> tuple[np.random.SeedSequence, ...]:
    """Independent seed sequences of a block: (world, email text, oracle Monte Carlo)."""
    return tuple(np.random.SeedSequence([seed, block_id]).spawn(3))


def add_months(days: np.ndarray, months: int) -> np.ndarray:
    """Spark's ``add_months`` on day numbers: same day of month, clamped to the month's end."""
    d = np.asarray(days).astype("datetime64[D]")
    month = d.astype("datetime64[M]")
    day_of_month = (d - month.astype("datetime64[D]")).astype(np.int64)
    target = month + months
    month_len = ((target + 1).astype("datetime64[D]") - target.astype("datetime64[D]")).astype(np.int64)
    out = target.astype("datetime64[D]") + np.minimum(day_of_month, month_len - 1)
    return out.astype(np.int64)


class _Log:
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


# ---------------------------------------------------------------------------------------
# the history variables at a renewal point (same definitions as churn_spark.features)


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
    retention = m_in & np.isin(m["campaign"], [_CAMPAIGN[c] for c in RETENTION_CAMPAIGNS])
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


# ---------------------------------------------------------------------------------------
# the simulation


def _draw_customers(rng: np.random.Generator, n: int, params: WorldParams) -> dict[str, np.ndarray]:
    ctype = rng.choice(3, n, p=[0.92, 0.055, 0.025])
    person = ctype == 0
    gender_code = np.where(rng.random(n) < 0.42, 0, 1)
    gender_code = np.where(person & (rng.random(n) >= 0.03), gender_code, 2)
    age_known = person & (rng.random(n) < 0.72)
    age = np.where(age_known, np.clip(np.round(rng.normal(51, 15, n)), 18, 95), np.nan)
    young = age_known & (age < 50)
    cust = {
        "ctype": ctype,
        "gender": GENDERS[gender_code],
        "age_known": age_known,
        "age": age,
        "has_phone": rng.random(n) < np.where(person, 0.75, 0.95),
        "has_mobile": rng.random(n) < np.where(person, np.where(young, 0.6, 0.35), 0.5),
        "has_email": rng.random(n) < np.where(person, np.where(young, 0.5, 0.3), 0.7),
        "writer": rng.random(n) < params.writer_share,
        "writer_noise": rng.normal(0, 0.5, n),
        "loyalty": rng.normal(0, 1, n),
        "grumpy": rng.lognormal(0, 0.5, n),
        "travel": (np.where(person, np.where(age_known & (age >= 60), 0.9, 0.45), 0.15)
                   * rng.lognormal(0, 0.4, n)),
        "phone_digits": rng.integers(10**7, 10**8, n),
        "mobile_digits": rng.integers(10**8, 10**9, n),
        "city": rng.integers(0, len(_CITIES), n),
        "road": rng.integers(0, len(_ROADS), n),
        "house": rng.integers(1, 400, n),
    }
    return cust


def _term_days(rng: np.random.Generator, n: int, loyalty: np.ndarray) -> np.ndarray:
    long_share = np.clip(0.45 + 0.1 * loyalty, 0.1, 0.8)
    u = rng.random(n)
    return np.where(u < long_share, 365, np.where(u < long_share + (1 - long_share) * 0.55, 182, 91))


def _price(term_days: np.ndarray, dpw_code: np.ndarray, edition: np.ndarray,
           discount: np.ndarray) -> np.ndarray:
    issues = DAYS_PER_WEEK[dpw_code] * term_days / 7.0
    return np.round(issues * _PRICE_PER_ISSUE[edition] * np.where(discount, 0.7, 1.0), 2)


def _uniform_days(rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """A uniform integer day in [lo, hi] per row (hi >= lo)."""
    return lo + np.floor(rng.random(len(lo)) * (hi - lo + 1)).astype(np.int64)


@dataclass
class BlockWorld:
    """One block's rows of every table (emails with their topic mix, without text yet)."""

    tables: dict[str, pa.Table]     # name -> rows, with the schema SCHEMAS[name]


def simulate_block(params: WorldParams, block_id: int) -> BlockWorld:
    """Simulate the customers of block ``block_id``; deterministic in (params, block_id)."""
    world_ss, _, oracle_ss = block_seeds(params.seed, block_id)
    rng = np.random.default_rng(world_ss)
    oracle_rng = np.random.default_rng(oracle_ss)
    mech = params.mechanism
    n = params.block_customers
    customers = _draw_customers(rng, n, params)
    loyalty = customers["loyalty"]

    logs = {
        "subscriptions": _Log("cust", "k", "prev_k", "ordered", "start", "expiry", "edition", "dpw", "price",
                              "motivator", "delivery", "payment", "days_before", "churned"),
        "complaints": _Log("cust", "k", "date", "compensation", "reason"),
        "suspensions": _Log("cust", "k", "start", "end"),
        "changes": _Log("cust", "date", "kind", "old", "new"),
        "dm_actions": _Log("cust", "date", "campaign", "channel", "responded", "response"),
        "free_papers": _Log("cust", "date", "count", "reason"),
        "emails": _Log("cust", "date", "second"),
        "truth": _Log(*TRUTH_COLUMNS),
    }
    mixes: list[np.ndarray] = []

    # the first subscription of everybody
    cohort = rng.random(n) < 0.55
    term = _term_days(rng, n, loyalty)
    long_standing = np.where(rng.random(n) < 0.85, _MOTIVATOR["renewal"], _MOTIVATOR["dm_campaign"])
    motivator = np.where(cohort, long_standing, rng.choice(len(MOTIVATORS), n, p=_ACQUISITION_MIX))
    discount = ~cohort & np.isin(motivator, [_MOTIVATOR["dm_campaign"], _MOTIVATOR["promotion_gift"]])
    term = np.where(discount & (rng.random(n) < 0.4), 61, term)
    start = np.where(cohort, DATA_START - np.floor(rng.random(n) * term).astype(np.int64),
                     _uniform_days(rng, np.full(n, DATA_START), np.full(n, DATA_END)))
    cur = {
        "start": start.astype(np.int64),
        "ordered": start - rng.integers(1, 15, n),
        "term": term,
        "edition": rng.choice(3, n, p=[0.5, 0.3, 0.2]),
        "dpw": rng.choice(3, n, p=[0.65, 0.2, 0.15]),
        "delivery": rng.choice(3, n, p=[0.5, 0.42, 0.08]),
        "motivator": motivator,
        "discount": discount,
        "prev_k": np.full(n, -1),
        "days_before": np.zeros(n, dtype=np.int64),
        "k": np.zeros(n, dtype=np.int64),
    }
    pay_p = np.array([0.35, 0.40, 0.15, 0.10])
    shop_payment = np.where(rng.random(n) < 0.5, 3, 1)      # shop pick-up: cash or bank transfer
    cur["payment"] = np.where(cur["delivery"] == 2, shop_payment, rng.choice(4, n, p=pay_p))
    trial = ~cohort & (motivator == _MOTIVATOR["dm_campaign"])
    n_trial = trial.sum()                                   # trial papers before a campaign order
    trial_date = cur["ordered"][trial] - rng.integers(7, 30, n_trial)
    logs["free_papers"].add(cust=np.flatnonzero(trial), date=trial_date, count=np.full(n_trial, 6),
                            reason=np.full(n_trial, 2))
    alive = np.ones(n, dtype=bool)

    while True:
        act = np.flatnonzero(alive & (cur["start"] <= DATA_END))
        if len(act) == 0:
            break
        a = len(act)
        cur["expiry"] = cur["start"] + cur["term"] - 1
        cur["price"] = _price(cur["term"], cur["dpw"], cur["edition"], cur["discount"])
        s, e = cur["start"][act], cur["expiry"][act]
        years = cur["term"][act] / 365.0
        sub_chunk = logs["subscriptions"].add(
            cust=act, k=cur["k"][act], prev_k=cur["prev_k"][act], ordered=cur["ordered"][act], start=s,
            expiry=e,
            edition=cur["edition"][act], dpw=cur["dpw"][act], price=cur["price"][act],
            motivator=cur["motivator"][act], delivery=cur["delivery"][act], payment=cur["payment"][act],
            days_before=cur["days_before"][act], churned=np.full(a, -1))

        # complaints (+ compensation in free papers)
        deliv = cur["delivery"][act]
        rate = 0.7 * customers["grumpy"][act] * np.array([1.0, 1.6, 0.2])[deliv] * np.sqrt(
            DAYS_PER_WEEK[cur["dpw"][act]] / 6.0)
        n_c = rng.poisson(rate * years)
        ci = np.repeat(np.arange(a), n_c)
        c_date = _uniform_days(rng, s[ci], e[ci] - 1)
        comp = rng.choice(4, len(ci), p=[0.3, 0.35, 0.25, 0.1])
        logs["complaints"].add(cust=act[ci], k=cur["k"][act][ci], date=c_date, compensation=comp,
                               reason=rng.choice(4, len(ci), p=[0.45, 0.3, 0.15, 0.1]))
        given = comp > 0
        logs["free_papers"].add(cust=act[ci][given], date=c_date[given] + rng.integers(1, 6, given.sum()),
                                count=comp[given], reason=np.zeros(given.sum(), dtype=np.int64))

        # holiday suspensions
        n_s = rng.poisson(customers["travel"][act] * years)
        si = np.repeat(np.arange(a), n_s)
        s_start = _uniform_days(rng, s[si], np.maximum(s[si], e[si] - 7))
        s_len = np.clip(6 + rng.geometric(1 / 8, len(si)), 7, 42)
        logs["suspensions"].add(cust=act[si], k=cur["k"][act][si], start=s_start, end=s_start + s_len - 1)

        # changes of payment method, channel, edition (at most one of each kind per term)
        change_events = []
        nxt = {field: cur[field].copy() for field in ("payment", "delivery", "edition")}
        for kind, field, rate_yr, levels in ((0, "payment", 0.10 + 0.15 * (cur["payment"][act] == 3), 4),
                                             (1, "delivery", 0.07 + 0.10 * (deliv == 2), 3),
                                             (2, "edition", np.full(a, 0.04), 3)):
            hit = np.flatnonzero(rng.random(a) < 1 - np.exp(-rate_yr * years))
            h_date = _uniform_days(rng, s[hit], e[hit] - 1)
            old = cur[field][act][hit]
            new = (old + rng.integers(1, levels, len(hit))) % levels
            logs["changes"].add(cust=act[hit], date=h_date, kind=np.full(len(hit), kind), old=old, new=new)
            nxt[field][act[hit]] = new
            change_events.append((hit, h_date, kind))

        # direct-marketing actions during the term, and promotional free papers
        n_m = rng.poisson(0.9 * years)
        mi = np.repeat(np.arange(a), n_m)
        m_date = _uniform_days(rng, s[mi], e[mi] - 1)
        responded = rng.random(len(mi)) < sigmoid(-2.2 + 0.5 * loyalty[act][mi])
        channel = np.where(customers["has_email"][act][mi] & (rng.random(len(mi)) < 0.3), 2,
                           np.where(rng.random(len(mi)) < 0.25, 1, 0))
        campaign = rng.integers(0, 4, len(mi))
        response = np.where(responded, m_date + rng.integers(2, 31, len(mi)), -1)
        logs["dm_actions"].add(cust=act[mi], date=m_date, campaign=campaign, channel=channel,
                               responded=responded, response=response)
        n_f = rng.poisson(0.2 * years)
        fi = np.repeat(np.arange(a), n_f)
        logs["free_papers"].add(cust=act[fi], date=_uniform_days(rng, s[fi], e[fi] - 1),
                                count=rng.integers(3, 11, len(fi)), reason=np.ones(len(fi), dtype=np.int64))

        # emails of the term: who writes, how many, about what, when
        ev_unit = np.concatenate([ci, si] + [h for h, _, _ in change_events])
        ev_date = np.concatenate([c_date, s_start] + [d for _, d, _ in change_events])
        change_topic = [TOPIC_INDEX[EVENT_TOPIC[t]]
                        for t in ("payment_change", "channel_change", "edition_change")]
        ev_topic = np.concatenate([np.full(len(ci), TOPIC_INDEX[EVENT_TOPIC["complaint"]]),
                                   np.full(len(si), TOPIC_INDEX[EVENT_TOPIC["suspension"]])]
                                  + [np.full(len(h), change_topic[kd]) for h, _, kd in change_events])
        order = np.argsort(ev_unit, kind="stable")
        ev_unit, ev_date, ev_topic = ev_unit[order], ev_date[order], ev_topic[order]
        ev_count = np.bincount(ev_unit, minlength=a)
        ev_offset = np.concatenate([[0], np.cumsum(ev_count)[:-1]])
        n_changes = ev_count - n_c - n_s
        writes = rng.random(a) < sigmoid(
            np.where(customers["writer"][act], params.writer_intercept, params.other_intercept)
            + customers["writer_noise"][act] + 0.9 * (n_c > 0) + 0.5 * (n_s > 0) + 0.5 * (n_changes > 0)
            + 0.8 * customers["has_email"][act])
        mu = emails_rate(n_c, n_changes, params.emails_base_rate)
        n_mail = np.where(writes, 1 + rng.poisson(mu), 0)
        ui = np.repeat(np.arange(a), n_mail)
        mix, ev_of_mail = draw_email_topics(ui, ev_offset, ev_count, ev_topic, a, rng)
        m_day = _uniform_days(rng, s[ui], e[ui] - 1)
        about = ev_of_mail >= 0           # an email about an event is written within 3 days of it
        m_day[about] = ev_date[ev_of_mail[about]] + rng.integers(0, 4, about.sum())
        m_day = np.clip(m_day, s[ui], e[ui] - 1)
        logs["emails"].add(cust=act[ui], date=m_day, second=rng.integers(7 * 3600, 23 * 3600, len(ui)))
        mixes.append(mix)
        topic_sums = np.zeros((a, len(TOPIC_IDS)))
        np.add.at(topic_sums, ui, mix)

        # the renewal point: churn or renew
        log_arrays = {name: log.arrays() for name, log in logs.items() if name not in ("emails", "truth")}
        x = history_features(n, act, e, cur, customers, log_arrays)
        emailer = n_mail > 0
        logit_m = marketing_logit(x, emailer, mech)
        logit_t = text_logit(topic_sums, mech)
        p_true = sigmoid(logit_m + logit_t)
        churn = rng.random(a) < p_true
        sub_chunk["churned"][:] = churn

        unit = (e >= WINDOW_FROM) & (e <= WINDOW_TO)
        if unit.any():
            u = np.flatnonzero(unit)
            ue = u[emailer[u]]
            p_mkt = sigmoid(logit_m[u])
            p_mkt[emailer[u]] = expected_p_given_marketing(
                logit_m[ue], mu[ue], ev_offset[ue], ev_count[ue], ev_topic, mech, oracle_rng,
                params.oracle_draws)
            logs["truth"].add(cust=act[u], k=cur["k"][act][u], has_emails=emailer[u], n_emails=n_mail[u],
                              p_true=p_true[u], p_marketing=p_mkt, logit_marketing=logit_m[u],
                              logit_text=logit_t[u], churn=churn[u].astype(np.int64),
                              **{f"x_{v}": x[v][u] for v in MECHANISM_VARIABLES})

        alive[act] = _next_terms(rng, act, e, churn, cur, nxt, customers, logs["dm_actions"])

    mix = np.concatenate(mixes) if mixes else np.zeros((0, len(TOPIC_IDS)))
    return _assemble(params, block_id, customers, logs, mix)


def _next_terms(rng: np.random.Generator, act: np.ndarray, expiry: np.ndarray, churn: np.ndarray,
                cur: dict[str, np.ndarray], nxt: dict[str, np.ndarray], customers: dict[str, np.ndarray],
                dm_log: _Log) -> np.ndarray:
    """Move every active customer to its next term: renewal, win-back or spontaneous return.

    Returns whether each customer of ``act`` has a next term.
    """
    a = len(act)
    loyalty = customers["loyalty"][act]
    # renewal: ordered d days before expiry (d < 0: late, within the grace period)
    latest = np.minimum(90, cur["term"][act] // 2)
    d = np.clip(np.round(rng.normal(18 + 14 * loyalty, 12)), -GRACE_DAYS, latest)
    d = d.astype(np.int64)
    ordered = np.where(churn, 0, expiry - d)
    # retention steps for whoever has not renewed 7 / 21 days after expiry
    for offset, campaign, next_step in ((7, "retention_call", 21), (21, "retention_letter", GRACE_DAYS + 1)):
        step = churn | (ordered > expiry + offset)
        responded = ~churn & (ordered <= expiry + next_step)
        idx = np.flatnonzero(step)
        dm_log.add(cust=act[idx], date=expiry[idx] + offset, campaign=np.full(len(idx), _CAMPAIGN[campaign]),
                   channel=np.full(len(idx), 1 if campaign == "retention_call" else 0),
                   responded=responded[idx], response=np.where(responded[idx], ordered[idx], -1))
    renew_motivator = np.where(ordered > expiry + 7, _MOTIVATOR["retention_call"], _MOTIVATOR["renewal"])

    # churners: win-back mailing (response = return), else a spontaneous return, else gone
    winback = churn & (rng.random(a) < 0.6)
    wb_date = expiry + rng.integers(60, 241, a)
    wb_yes = winback & (rng.random(a) < sigmoid(-1.6 + 0.4 * loyalty))
    wb_resp = wb_date + rng.integers(2, 21, a)
    idx = np.flatnonzero(winback)
    dm_log.add(cust=act[idx], date=wb_date[idx], campaign=np.full(len(idx), _CAMPAIGN["winback"]),
               channel=np.zeros(len(idx), dtype=np.int64), responded=wb_yes[idx],
               response=np.where(wb_yes[idx], wb_resp[idx], -1))
    spontaneous = churn & ~wb_yes & (rng.random(a) < 0.08)
    back_ordered = np.where(wb_yes, wb_resp, expiry + rng.integers(90, 601, a))
    back_motivator = np.where(wb_yes, _MOTIVATOR["dm_campaign"],
                              rng.choice(len(MOTIVATORS), a, p=_ACQUISITION_MIX))
    returns = wb_yes | spontaneous

    new_ordered = np.where(churn, back_ordered, ordered)
    renewed_start = np.where(d >= 0, expiry + 1, ordered + 1)   # a late renewal starts when ordered
    new_start = np.where(churn, back_ordered + rng.integers(1, 8, a), renewed_start)
    keep_term = rng.random(a) < 0.85
    redraw = _term_days(rng, a, loyalty)
    term = np.where(keep_term & (cur["term"][act] != 61), cur["term"][act], redraw)
    dpw = np.where(rng.random(a) < 0.05, rng.integers(0, 3, a), cur["dpw"][act])

    cur["ordered"][act] = new_ordered
    cur["start"][act] = new_start
    cur["term"][act] = term
    cur["dpw"][act] = dpw
    cur["edition"][act] = nxt["edition"][act]
    cur["delivery"][act] = nxt["delivery"][act]
    cur["payment"][act] = nxt["payment"][act]
    cur["motivator"][act] = np.where(churn, back_motivator, renew_motivator)
    discounted = [_MOTIVATOR["dm_campaign"], _MOTIVATOR["promotion_gift"]]
    cur["discount"][act] = churn & np.isin(back_motivator, discounted)
    cur["prev_k"][act] = np.where(churn, -1, cur["k"][act])
    cur["days_before"][act] = np.where(churn, 0, d)
    cur["k"][act] += 1
    return ~churn | returns


# ---------------------------------------------------------------------------------------
# Arrow tables of a block

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


def _assemble(params: WorldParams, block_id: int, customers: dict[str, np.ndarray], logs: dict[str, _Log],
              mix: np.ndarray) -> BlockWorld:
    n = params.block_customers
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
        "address": pa.array([f"{_CITIES[c]}{_ROADS[r]}{h}号" for c, r, h in zip(
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


def _filtered(log: _Log, date_col: str) -> dict[str, np.ndarray]:
    """A log's rows dated no later than the extract date."""
    rows = log.arrays()
    keep = rows[date_col] <= DATA_END
    return {c: v[keep] for c, v in rows.items()}

