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
  :mod:`churn_spark.synth.mechanism`, computed from
  :func:`~churn_spark.synth.world_history.history_features` — exactly the variables
  :mod:`churn_spark.features` computes from the tables. A renewal is ordered
  ``d`` days before expiry (loyal customers earlier; ``d < 0`` = up to 28 days late, the new
  term then starts the day after ordering). Non-renewers get a retention call (expiry + 7)
  and letter (expiry + 21); churners may be won back months later by a win-back mailing or
  come back by themselves, as new subscriptions.

Renewal points with expiry between 2004-07-01 and 2005-07-31 are the units of analysis;
their truth rows (``p_true``, ``p_marketing``, the mechanism's inputs) go to ``truth``.
Rows dated after 2005-09-30 (the extract date) and emails before 2003-07-01 (start of the
email archive) are not written.

The calendar and the categorical codes are in ``world_codes``, the history variables in
``world_history``, and the logs and Arrow tables of a block in ``world_tables``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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
from churn_spark.synth.world_codes import (
    CAMPAIGN_CODE,
    CUSTOMER_CITIES,
    CUSTOMER_ROADS,
    DATA_END,
    DATA_START,
    DAYS_PER_WEEK,
    GENDERS,
    GRACE_DAYS,
    MOTIVATOR_CODE,
    MOTIVATORS,
    WINDOW_FROM,
    WINDOW_TO,
)
from churn_spark.synth.world_history import history_features
from churn_spark.synth.world_tables import TRUTH_COLUMNS, BlockWorld, RowLog, assemble_block

_PRICE_PER_ISSUE = np.array([1.10, 0.95, 0.85])      # by edition, EUR
_ACQUISITION_MIX = np.array([0, 0, 0.30, 0.20, 0.15, 0.15, 0.10, 0.10])  # over MOTIVATORS


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
        "city": rng.integers(0, len(CUSTOMER_CITIES), n),
        "road": rng.integers(0, len(CUSTOMER_ROADS), n),
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
        "subscriptions": RowLog("cust", "k", "prev_k", "ordered", "start", "expiry", "edition", "dpw", "price",
                              "motivator", "delivery", "payment", "days_before", "churned"),
        "complaints": RowLog("cust", "k", "date", "compensation", "reason"),
        "suspensions": RowLog("cust", "k", "start", "end"),
        "changes": RowLog("cust", "date", "kind", "old", "new"),
        "dm_actions": RowLog("cust", "date", "campaign", "channel", "responded", "response"),
        "free_papers": RowLog("cust", "date", "count", "reason"),
        "emails": RowLog("cust", "date", "second"),
        "truth": RowLog(*TRUTH_COLUMNS),
    }
    mixes: list[np.ndarray] = []

    # the first subscription of everybody
    cohort = rng.random(n) < 0.55
    term = _term_days(rng, n, loyalty)
    long_standing = np.where(rng.random(n) < 0.85, MOTIVATOR_CODE["renewal"], MOTIVATOR_CODE["dm_campaign"])
    motivator = np.where(cohort, long_standing, rng.choice(len(MOTIVATORS), n, p=_ACQUISITION_MIX))
    discount = ~cohort & np.isin(motivator, [MOTIVATOR_CODE["dm_campaign"], MOTIVATOR_CODE["promotion_gift"]])
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
    trial = ~cohort & (motivator == MOTIVATOR_CODE["dm_campaign"])
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
    return assemble_block(block_id, n, customers, logs, mix)


def _next_terms(rng: np.random.Generator, act: np.ndarray, expiry: np.ndarray, churn: np.ndarray,
                cur: dict[str, np.ndarray], nxt: dict[str, np.ndarray], customers: dict[str, np.ndarray],
                dm_log: RowLog) -> np.ndarray:
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
        dm_log.add(cust=act[idx], date=expiry[idx] + offset, campaign=np.full(len(idx), CAMPAIGN_CODE[campaign]),
                   channel=np.full(len(idx), 1 if campaign == "retention_call" else 0),
                   responded=responded[idx], response=np.where(responded[idx], ordered[idx], -1))
    renew_motivator = np.where(ordered > expiry + 7, MOTIVATOR_CODE["retention_call"], MOTIVATOR_CODE["renewal"])

    # churners: win-back mailing (response = return), else a spontaneous return, else gone
    winback = churn & (rng.random(a) < 0.6)
    wb_date = expiry + rng.integers(60, 241, a)
    wb_yes = winback & (rng.random(a) < sigmoid(-1.6 + 0.4 * loyalty))
    wb_resp = wb_date + rng.integers(2, 21, a)
    idx = np.flatnonzero(winback)
    dm_log.add(cust=act[idx], date=wb_date[idx], campaign=np.full(len(idx), CAMPAIGN_CODE["winback"]),
               channel=np.zeros(len(idx), dtype=np.int64), responded=wb_yes[idx],
               response=np.where(wb_yes[idx], wb_resp[idx], -1))
    spontaneous = churn & ~wb_yes & (rng.random(a) < 0.08)
    back_ordered = np.where(wb_yes, wb_resp, expiry + rng.integers(90, 601, a))
    back_motivator = np.where(wb_yes, MOTIVATOR_CODE["dm_campaign"],
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
    discounted = [MOTIVATOR_CODE["dm_campaign"], MOTIVATOR_CODE["promotion_gift"]]
    cur["discount"][act] = churn & np.isin(back_motivator, discounted)
    cur["prev_k"][act] = np.where(churn, -1, cur["k"][act])
    cur["days_before"][act] = np.where(churn, 0, d)
    cur["k"][act] += 1
    return ~churn | returns
