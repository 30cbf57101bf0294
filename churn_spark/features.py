"""The marketing variables of the paper's Appendix C, computed with Spark from the bronze tables.

A **unit** is a subscription at its renewal point: every subscription whose ``expiry_date``
lies in ``[features.renewal_from, features.renewal_to]`` (labelled), plus those expiring after
``renewal_to`` up to ``features.score_to``, whose outcome is not known yet: ``churn`` null,
``split = 'score'`` — the customers a retention campaign scores. For a unit with cutoff ``c`` (its
expiry date) and history start ``h = add_months(c, -features.history_months)`` every variable
uses only rows dated in ``[h, c)`` — strictly before the renewal point:

* complaints, changes, free papers by their date; suspensions by their start date;
  direct-marketing actions by ``action_date`` and responses by ``response_date``;
* subscriptions by ``start_date`` (the unit itself included; its successor starts after
  ``c`` and is never seen, even when it was ordered before ``c``) or, for renewal points,
  by ``expiry_date``; a past subscription counts as "not renewed" only when its grace period
  ended before ``c``.

"Days since the last X" is the history length (``c - h`` days, ~913) when there was no X in
the history. Rates "per year" divide by the days the customer was subscribed in the history
(``tenure_days``, at least 30). The label: ``churn = 1`` when no subscription of the customer
starting after ``c`` was ordered by ``c + features.churn_grace_days``.

Output: the ``observations`` table of the data contract (``docs/data_contract.md``) — ``unit_id`` (= subscription_id),
``customer_id``, ``cutoff_date``, ``window_start`` (start of the last term = the email
window), ``churn``, ``split`` (seeded hash of ``unit_id``: 'test' with probability
``run.test_share``), then the variables of :data:`FEATURE_DOCS` (numbers, booleans, strings).
No personal data (names, phones, addresses) is carried over.

The generator (:func:`churn_spark.synth.world_history.history_features`) computes the same variables
with numpy for its churn mechanism; ``tests/integration/test_features.py`` checks that both agree.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from churn_spark.config import Config
from churn_spark.lake.tables import Lake

#: name -> description of every marketing variable of ``observations`` (Appendix C groups).
FEATURE_DOCS: dict[str, str] = {
    # client/company interaction
    "n_complaints": "number of complaints in the history",
    "days_since_last_complaint": "days from the last complaint to the cutoff (history length if none)",
    "avg_complaint_compensation": "average compensation of complaints, in free newspapers (0 if none)",
    "n_complaints_current_term": "number of complaints during the current (last) subscription term",
    "avg_complaint_position": "average position of the current term's complaints in the term, "
                              "(date - start) / (expiry - start): 0 = start, 1 = end (0 if none)",
    "purchase_motivator": "purchase motivator of the current subscription (renewal, retention_call, "
                          "dm_campaign, promotion_gift, phone_sales, web, shop_sale, referral)",
    "delivery": "how the paper is delivered in the current term: mail, carrier or shop (pick-up)",
    "payment_method": "payment method of the current subscription",
    "edition": "edition of the current subscription: X1, X2, X3",
    "n_channel_changes": "number of changes of the distribution channel in the history",
    "n_channel_changes_per_year": "channel changes per subscribed year (corrected for subscription length)",
    "days_since_last_channel_change": "days since the last channel change (history length if none)",
    "n_payment_changes": "number of payment-method changes in the history",
    "n_payment_changes_per_year": "payment-method changes per subscribed year (corrected)",
    "days_since_last_payment_change": "days since the last payment-method change (history length if none)",
    "n_edition_changes": "number of edition changes in the history",
    "n_edition_changes_per_year": "edition changes per subscribed year (corrected)",
    "days_since_last_edition_change": "days since the last edition change (history length if none)",
    "n_dm_actions": "number of direct-marketing actions received (retention steps included)",
    "n_dm_responses": "number of responses to direct-marketing actions (by response date)",
    "days_since_last_dm_response": "days since the last response to a direct-marketing action "
                                   "(history length if none)",
    "n_suspensions": "number of suspensions started in the history",
    "n_suspensions_per_year": "suspensions per subscribed year (corrected for subscription length)",
    "avg_suspension_days": "average suspension length in days, end - start + 1 (0 if none)",
    "suspension_days_per_year": "suspended days per subscribed year (average length corrected)",
    "days_since_last_suspension": "days since the start of the last suspension (history length if none)",
    "n_free_papers": "free newspapers received (compensations, promotions, trials)",
    # renewal-related
    "is_renewal": "the current subscription renews a previous one (within the grace period)",
    "prev_renewed_before_expiry": "the previous subscription was renewed before its expiry date",
    "prev_days_before_expiry": "days before the previous subscription's expiry that it was renewed "
                               "(negative = late; 0 if the current one is not a renewal)",
    "avg_days_before_expiry": "average days-before-expiry of the renewals in the history (0 if none)",
    "var_days_before_expiry": "population variance of days-before-expiry of the renewals (0 if none)",
    "days_since_last_retention_step": "days since the last step of the retention procedure "
                                      "(retention call or letter; history length if none)",
    "n_not_renewed": "number of times the customer did not renew in the history",
    "n_renewal_points": "number of renewal points (expiry dates) in the history before the cutoff",
    "n_renewals": "number of renewals (subscriptions started as a renewal) in the history",
    # socio-demographic
    "age": "age of the subscriber (null = unknown)",
    "age_known": "whether the age is known",
    "gender": "gender: F, M or unknown (companies, institutions)",
    "customer_type": "physical_person, company or public_institution",
    "has_phone": "a phone number is known",
    "has_mobile": "a mobile number is known",
    "has_email": "an email address is known",
    # subscription-describing
    "days_since_last_renewal": "days since the last renewal was ordered (history length if none)",
    "monetary_value": "sum of the prices of subscriptions started in the history (EUR)",
    "subscription_length_days": "length of the current subscription, expiry - start + 1 days",
    "tenure_days": "days the customer was subscribed during the history",
    "days_per_week": "number of days a week the paper is delivered (intensity)",
    "price": "price of the current subscription (EUR)",
    "expiry_month": "month of the contract expiry (1-12)",
}

#: Columns of ``observations`` before the variables.
KEY_COLUMNS = ("unit_id", "customer_id", "cutoff_date", "window_start", "churn", "split")


def _days(later: Column | str, earlier: Column | str) -> Column:
    return F.datediff(F.col(later) if isinstance(later, str) else later,
                      F.col(earlier) if isinstance(earlier, str) else earlier)


def _in_history(date: str) -> Column:
    return (F.col(date) >= F.col("history_start")) & (F.col(date) < F.col("cutoff_date"))


def _since(last: str) -> Column:
    """Days from ``last`` to the cutoff, the history length when there was none."""
    return F.coalesce(_days("cutoff_date", last), _days("cutoff_date", "history_start")).cast("int")


def _ratio(num: Column, den: Column) -> Column:
    return F.when(den > 0, num / den).otherwise(F.lit(0.0)).cast("double")


def _per_year(count: str) -> Column:
    return (F.col(count) * 365.0 / F.greatest(F.col("tenure_days"), F.lit(30))).cast("double")


def subscription_outcomes(subs: DataFrame, grace_days: int) -> DataFrame:
    """Each subscription with ``days_before`` (renewals: previous expiry - ordered_at) and
    ``renewed`` (a subscription of the customer starting after its expiry was ordered within
    ``grace_days`` after it)."""
    prev = subs.select(F.col("subscription_id").alias("previous_subscription_id"),
                       F.col("expiry_date").alias("previous_expiry"))
    nxt = subs.select(F.col("customer_id").alias("n_customer"), F.col("start_date").alias("n_start"),
                      F.col("ordered_at").alias("n_ordered"))
    renewed = (subs.select("subscription_id", "customer_id", "expiry_date")
               .join(nxt, (F.col("customer_id") == F.col("n_customer"))
                     & (F.col("n_start") > F.col("expiry_date"))
                     & (F.col("n_ordered") <= F.date_add("expiry_date", grace_days)), "left_semi")
               .select("subscription_id", F.lit(True).alias("renewed")))
    return (subs.join(prev, "previous_subscription_id", "left")
            .withColumn("days_before", _days("previous_expiry", "ordered_at"))
            .join(renewed, "subscription_id", "left")
            .withColumn("renewed", F.coalesce("renewed", F.lit(False))))


def history_events(tables: dict[str, DataFrame]) -> DataFrame:
    """Complaints, suspensions, changes, direct-marketing actions and responses, and free papers as one
    frame ``customer_id, event, day, end_day, amount, code``: ``day`` is the date that places the event
    in a history (a response is an event of its own, dated by its response date)."""
    def rows(table: str, event: str, day: str, *, end_day: str | None = None, amount: str | None = None,
             code: str | None = None, where: Column | None = None) -> DataFrame:
        frame = tables[table] if where is None else tables[table].where(where)
        return frame.select("customer_id", F.lit(event).alias("event"), F.col(day).cast("date").alias("day"),
                            (F.col(end_day) if end_day else F.lit(None)).cast("date").alias("end_day"),
                            (F.col(amount) if amount else F.lit(None)).cast("double").alias("amount"),
                            (F.col(code) if code else F.lit(None)).cast("string").alias("code"))

    parts = [rows("complaints", "complaint", "complaint_date", amount="compensation_papers"),
             rows("suspensions", "suspension", "start_date", end_day="end_date"),
             rows("changes", "change", "change_date", code="kind"),
             rows("dm_actions", "dm_action", "action_date", code="campaign"),
             rows("dm_actions", "dm_response", "response_date", where=F.col("responded")),
             rows("free_papers", "free_papers", "given_date", amount="papers")]
    events = parts[0]
    for part in parts[1:]:
        events = events.unionByName(part)
    return events


#: Bronze tables the variables are computed from.
INPUT_TABLES = ("customers", "subscriptions", "complaints", "suspensions", "changes", "dm_actions",
                "free_papers")


def split_column(seed: int, test_share: float) -> Column:
    """'test' for a seeded hash of ``unit_id`` below ``test_share``, else 'train' (deterministic)."""
    bucket = F.pmod(F.xxhash64(F.lit(seed), F.col("unit_id")), F.lit(1_000_000)) / 1_000_000.0
    return F.when(bucket < test_share, "test").otherwise("train")


def build_observations(lake: Lake, cfg: Config) -> DataFrame:
    """The ``observations`` frame (not written) from the bronze marketing tables of ``lake``."""
    return observations_from_tables({name: lake.read(name) for name in INPUT_TABLES}, cfg)


def observations_from_tables(tables: dict[str, DataFrame], cfg: Config) -> DataFrame:
    """The ``observations`` frame from the marketing tables given as frames (:data:`INPUT_TABLES`)."""
    fc = cfg.features
    grace = int(fc.churn_grace_days)
    raw = tables["subscriptions"]
    subs = subscription_outcomes(raw, grace)
    # labelled units up to renewal_to; later renewal points up to score_to are the units a
    # retention campaign scores: their label is not known yet (churn null, split 'score')
    last = fc.score_to if fc.score_to and fc.score_to > fc.renewal_to else fc.renewal_to
    in_window = F.col("expiry_date").between(F.to_date(F.lit(fc.renewal_from)), F.to_date(F.lit(last)))
    labelled = F.col("cutoff_date") <= F.to_date(F.lit(fc.renewal_to))

    units = (subs.where(in_window)
             .select(F.col("subscription_id").alias("unit_id"), "customer_id",
                     F.col("expiry_date").alias("cutoff_date"), F.col("start_date").alias("window_start"),
                     F.add_months("expiry_date", -int(fc.history_months)).alias("history_start"),
                     F.when(F.col("renewed"), 0).otherwise(1).alias("churn"),
                     (F.col("previous_subscription_id").isNotNull()).alias("is_renewal"),
                     F.coalesce("days_before", F.lit(0)).alias("prev_days_before_expiry"),
                     "purchase_motivator", "delivery", "payment_method", "edition", "days_per_week", "price",
                     F.month("expiry_date").alias("expiry_month"),
                     (_days("expiry_date", "start_date") + 1).alias("subscription_length_days")))
    units = units.withColumn("prev_renewed_before_expiry",
                             F.col("is_renewal") & (F.col("prev_days_before_expiry") > 0))
    keys = (raw.where(in_window)   # the units' keys, without the joins that derive the label
            .select(F.col("subscription_id").alias("unit_id"), "customer_id",
                    F.col("expiry_date").alias("cutoff_date"), F.col("start_date").alias("window_start"),
                    F.add_months("expiry_date", -int(fc.history_months)).alias("history_start")))

    def history(table: DataFrame) -> DataFrame:
        return keys.join(table, "customer_id")

    # subscriptions of the customer: money, renewals, renewal points, not renewed, tenure
    s = history(subs.drop("purchase_motivator", "delivery", "payment_method", "edition", "days_per_week"))
    started = _in_history("start_date")
    renewal = started & F.col("previous_subscription_id").isNotNull()
    overlap = (_days(F.least(F.col("expiry_date"), F.date_sub("cutoff_date", 1)),
                     F.greatest(F.col("start_date"), F.col("history_start"))) + 1)
    expired = _in_history("expiry_date")
    sub_agg = s.groupBy("unit_id").agg(
        F.round(F.sum(F.when(started, F.col("price")).otherwise(0.0)), 2).alias("monetary_value"),
        F.sum(F.when(renewal, 1).otherwise(0)).alias("n_renewals"),
        F.avg(F.when(renewal, F.col("days_before"))).alias("avg_days_before_expiry"),
        F.var_pop(F.when(renewal, F.col("days_before"))).alias("var_days_before_expiry"),
        F.max(F.when(renewal, F.col("ordered_at"))).alias("last_renewal"),
        F.sum(F.when(expired, 1).otherwise(0)).alias("n_renewal_points"),
        F.sum(F.when(expired & ~F.col("renewed") & (F.date_add("expiry_date", grace) < F.col("cutoff_date")),
                     1).otherwise(0)).alias("n_not_renewed"),
        F.sum(F.when((F.col("start_date") < F.col("cutoff_date")) & (overlap > 0), overlap).otherwise(0))
        .alias("tenure_days"))

    # the five event tables in one narrow frame -> one history join and one group-by for all of them
    # (a join + group-by per table, then six joins of the results, took twice as long at 1M units)
    e = history(history_events(tables))
    event, in_history = F.col("event"), _in_history("day")
    k_in = (event == "complaint") & in_history
    in_term = k_in & (F.col("day") >= F.col("window_start"))
    position = _days("day", "window_start") / _days("cutoff_date", "window_start")
    p_in = (event == "suspension") & in_history
    m_in = (event == "dm_action") & in_history
    r_in = (event == "dm_response") & in_history
    retention = m_in & F.col("code").isin("retention_call", "retention_letter")
    event_aggs = [
        F.sum(F.when(k_in, 1).otherwise(0)).alias("n_complaints"),
        F.max(F.when(k_in, F.col("day"))).alias("last_complaint"),
        F.sum(F.when(k_in, F.col("amount")).otherwise(0)).alias("compensation"),
        F.sum(F.when(in_term, 1).otherwise(0)).alias("n_complaints_current_term"),
        F.sum(F.when(in_term, position).otherwise(0.0)).alias("position_sum"),
        F.sum(F.when(p_in, 1).otherwise(0)).alias("n_suspensions"),
        F.sum(F.when(p_in, _days("end_day", "day") + 1).otherwise(0)).alias("suspension_days"),
        F.max(F.when(p_in, F.col("day"))).alias("last_suspension"),
        F.sum(F.when(m_in, 1).otherwise(0)).alias("n_dm_actions"),
        F.sum(F.when(r_in, 1).otherwise(0)).alias("n_dm_responses"),
        F.max(F.when(r_in, F.col("day"))).alias("last_dm_response"),
        F.max(F.when(retention, F.col("day"))).alias("last_retention_step"),
        F.sum(F.when((event == "free_papers") & in_history, F.col("amount")).otherwise(0)).alias("n_free_papers"),
    ]
    for kind, name in (("payment_method", "payment"), ("channel", "channel"), ("edition", "edition")):
        this = (event == "change") & in_history & (F.col("code") == kind)
        event_aggs += [F.sum(F.when(this, 1).otherwise(0)).alias(f"n_{name}_changes"),
                       F.max(F.when(this, F.col("day"))).alias(f"last_{name}_change")]
    event_agg = e.groupBy("unit_id").agg(*event_aggs)

    customers = tables["customers"].select(
        "customer_id", F.col("age").cast("double").alias("age"), F.col("age").isNotNull().alias("age_known"),
        F.coalesce("gender", F.lit("unknown")).alias("gender"), "customer_type",
        "has_phone", "has_mobile", "has_email")

    joined = units.join(customers, "customer_id", "left")
    for agg in (sub_agg, event_agg):
        joined = joined.join(agg, "unit_id", "left")
    zero_filled = ["n_complaints", "compensation", "n_complaints_current_term", "position_sum",
                   "n_suspensions", "suspension_days", "n_payment_changes", "n_channel_changes",
                   "n_edition_changes", "n_dm_actions", "n_dm_responses", "n_free_papers", "n_renewals",
                   "n_renewal_points", "n_not_renewed", "tenure_days", "monetary_value",
                   "avg_days_before_expiry", "var_days_before_expiry"]   # no rows in the history = 0
    joined = joined.fillna(0, subset=zero_filled)

    values: dict[str, Column] = {
        "n_complaints": F.col("n_complaints").cast("int"),
        "days_since_last_complaint": _since("last_complaint"),
        "avg_complaint_compensation": _ratio(F.col("compensation"), F.col("n_complaints")),
        "n_complaints_current_term": F.col("n_complaints_current_term").cast("int"),
        "avg_complaint_position": _ratio(F.col("position_sum"), F.col("n_complaints_current_term")),
        "purchase_motivator": F.col("purchase_motivator"),
        "delivery": F.col("delivery"),
        "payment_method": F.col("payment_method"),
        "edition": F.col("edition"),
        "n_dm_actions": F.col("n_dm_actions").cast("int"),
        "n_dm_responses": F.col("n_dm_responses").cast("int"),
        "days_since_last_dm_response": _since("last_dm_response"),
        "n_suspensions": F.col("n_suspensions").cast("int"),
        "n_suspensions_per_year": _per_year("n_suspensions"),
        "avg_suspension_days": _ratio(F.col("suspension_days"), F.col("n_suspensions")),
        "suspension_days_per_year": _per_year("suspension_days"),
        "days_since_last_suspension": _since("last_suspension"),
        "n_free_papers": F.col("n_free_papers").cast("int"),
        "is_renewal": F.col("is_renewal"),
        "prev_renewed_before_expiry": F.col("prev_renewed_before_expiry"),
        "prev_days_before_expiry": F.col("prev_days_before_expiry").cast("int"),
        "avg_days_before_expiry": F.col("avg_days_before_expiry").cast("double"),
        "var_days_before_expiry": F.col("var_days_before_expiry").cast("double"),
        "days_since_last_retention_step": _since("last_retention_step"),
        "n_not_renewed": F.col("n_not_renewed").cast("int"),
        "n_renewal_points": F.col("n_renewal_points").cast("int"),
        "n_renewals": F.col("n_renewals").cast("int"),
        "age": F.col("age"),
        "age_known": F.col("age_known"),
        "gender": F.col("gender"),
        "customer_type": F.col("customer_type"),
        "has_phone": F.col("has_phone"),
        "has_mobile": F.col("has_mobile"),
        "has_email": F.col("has_email"),
        "days_since_last_renewal": _since("last_renewal"),
        "monetary_value": F.col("monetary_value").cast("double"),
        "subscription_length_days": F.col("subscription_length_days").cast("int"),
        "tenure_days": F.col("tenure_days").cast("int"),
        "days_per_week": F.col("days_per_week").cast("int"),
        "price": F.col("price").cast("double"),
        "expiry_month": F.col("expiry_month").cast("int"),
    }
    for name in ("payment", "channel", "edition"):
        values[f"n_{name}_changes"] = F.col(f"n_{name}_changes").cast("int")
        values[f"n_{name}_changes_per_year"] = _per_year(f"n_{name}_changes")
        values[f"days_since_last_{name}_change"] = _since(f"last_{name}_change")
    missing = set(FEATURE_DOCS) ^ set(values)
    assert not missing, f"FEATURE_DOCS and the computed variables differ: {sorted(missing)}"
    return joined.select(
        "unit_id", "customer_id", "cutoff_date", "window_start",
        F.when(labelled, F.col("churn").cast("int")).alias("churn"),
        F.when(labelled, split_column(int(cfg.run.seed), float(cfg.run.test_share))).otherwise("score").alias("split"),
        *[values[name].alias(name) for name in FEATURE_DOCS])


