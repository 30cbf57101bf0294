"""The latent churn mechanism of the generated newspaper world.

At every renewal point (the expiry date ``c`` of a subscription) the subscriber churns
with probability

    p = sigmoid(b_g + m_g(x) + t(S))

* ``g`` is the subscriber's group at that renewal point: **emailers** wrote at least one
  email to the call center during the subscription term that ends at ``c``; **others**
  did not. The two groups have their own intercept ``b_g`` and their own marketing
  coefficients (:data:`MARKETING_COEFFICIENTS`): emailers "churn in their own way"
  (the paper's Fig. 7), so a structured model trained on non-emailers fits emailers worse.
* ``x`` are Appendix C marketing variables computed from the 30 months of history strictly
  before ``c`` (:func:`churn_spark.synth.world_history.history_features`, the same definitions as
  :mod:`churn_spark.features`). ``m_g(x) = scale * sum_j beta_{g,j} * h_j(x)`` where the
  terms ``h_j`` (:func:`marketing_terms`) are mostly linear in the Table 3 variables, with a
  few mild nonlinearities (exponential decay of "days since last complaint / suspension /
  payment change", log of monetary value, a U-shape in age) and one interaction (carrier
  delivery x complaints in the current term), so no linear model on the raw variables is
  perfect.
* ``S`` is the sum over the term's emails of their topic mixes (a vector over
  :data:`TOPIC_IDS`; each mix sums to 1) and ``t(S) = text_scale * sum_k gamma_k * S_k``
  (:data:`TEXT_EFFECTS`): cancellation intent, renewal-price and billing anger, delivery
  problems raise churn; praise and digital-login questions lower it. ``t = 0`` without emails.
  The sum is the paper's aggregation of email vectors to the subscription.

How the emails of a term come about (:func:`draw_email_topics`): each term has a *voice*
(:data:`VOICES`, drawn independently of everything else: leaving, price anger, happy,
digital, neutral, promotion). An email is about one of the term's marketing events with
probability ``min(0.7, 0.3 * events)`` (complaint -> delivery, suspension -> suspension,
payment change -> payment_method, channel change -> address_change, edition change -> content),
else its main topic comes from the voice; a second topic from the voice takes the rest of
its mix (weight 1 - a, a ~ U(0.85, 1): mostly one-topic emails, whose words show their topic).
So the text is partly redundant with the marketing events and partly (the voice) information
the marketing data does not have.

``p_marketing`` — the "marketing alone" oracle — is defined as the expectation of ``p``
given everything the marketing data knows, ``E[p | x, term events, has emails]``: the
number of emails (``1 + Poisson(mu)``, ``mu`` from the term's events), the voice and the
mixes are redrawn ``K`` times from their generating distributions and ``p`` is averaged
(Monte Carlo, :func:`expected_p_given_marketing`). For units without emails ``t = 0`` and
``p_marketing = p``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Topic ids of the email mixes, in the order of the topic-mix columns used here.
TOPIC_IDS: tuple[str, ...] = (
    "delivery", "billing", "invoice", "suspension", "address_change", "renewal_price",
    "cancellation", "content", "digital_login", "praise", "promotion", "payment_method", "customer_service",
)
TOPIC_INDEX = {name: i for i, name in enumerate(TOPIC_IDS)}

#: Voice of a subscription term: prior probability and the topic distribution of its emails.
VOICES: dict[str, tuple[float, dict[str, float]]] = {
    "neutral": (0.46, {"content": 0.20, "invoice": 0.16, "delivery": 0.08, "digital_login": 0.08,
                       "address_change": 0.08, "suspension": 0.08, "promotion": 0.07, "billing": 0.05,
                       "customer_service": 0.10, "payment_method": 0.07, "praise": 0.02,
                       "renewal_price": 0.01}),
    "leaving": (0.13, {"cancellation": 0.62, "renewal_price": 0.16, "billing": 0.08, "content": 0.14}),
    "price_anger": (0.11, {"renewal_price": 0.48, "billing": 0.34, "invoice": 0.10, "cancellation": 0.08}),
    "happy": (0.13, {"praise": 0.64, "content": 0.26, "promotion": 0.10}),
    "digital": (0.11, {"digital_login": 0.76, "content": 0.14, "invoice": 0.10}),
    "promotion": (0.06, {"promotion": 0.70, "content": 0.20, "praise": 0.10}),
}

#: Effect gamma_k of one email's worth of topic k on the churn logit (before ``text_scale``).
TEXT_EFFECTS: dict[str, float] = {
    "cancellation": 2.4, "renewal_price": 1.2, "billing": 0.4, "delivery": 0.35,
    "praise": -1.6, "digital_login": -1.1, "promotion": -0.3,
}

#: Range of the weight of an email's main topic in its mix (the second topic takes the rest).
PRIMARY_WEIGHT: tuple[float, float] = (0.85, 1.0)

#: Topic of an email written about a marketing event of the term, by event kind.
EVENT_TOPIC: dict[str, str] = {
    "complaint": "delivery", "suspension": "suspension", "payment_change": "payment_method",
    "channel_change": "address_change", "edition_change": "content",
}

#: Marketing term -> (coefficient for emailers, coefficient for others). See marketing_terms.
MARKETING_COEFFICIENTS: dict[str, tuple[float, float]] = {
    "recent_complaint": (1.10, 0.55),           # exp(-days_since_last_complaint / 90)
    "log_monetary_value": (-0.45, -0.75),       # log(monetary_value / 300)
    "recent_suspension": (0.45, -0.35),         # exp(-days_since_last_suspension / 120)
    "subscription_years": (-0.55, -0.45),       # subscription_length_days / 365
    "avg_complaint_position": (0.85, 0.30),
    "prev_renewed_before_expiry": (-0.45, -0.60),
    "woman": (0.18, -0.10),
    "sd_days_before_expiry": (0.025, 0.010),    # sqrt(var_days_before_expiry)
    "n_renewal_points": (-0.12, -0.20),
    "edition_x1": (0.30, -0.15),
    "public_institution": (-1.10, -0.80),
    "prev_days_before_expiry": (-0.010, -0.015),
    "n_suspensions_per_year": (0.12, -0.05),
    "avg_suspension_weeks": (0.10, 0.05),       # avg_suspension_days / 7
    "motivator_dm_campaign": (0.50, 0.85),
    "delivery_shop": (0.55, 0.20),
    "carrier_x_term_complaints": (0.30, 0.10),  # delivery == carrier * min(complaints this term, 3)
    "recent_payment_change": (0.50, 0.20),      # exp(-days_since_last_payment_change / 180)
    "n_payment_changes_per_year": (0.20, 0.10),
    "n_not_renewed": (0.45, 0.55),
    "age_u": (0.25, 0.10),                      # ((age - 50) / 20)^2 when known, else 0
    "n_dm_responses": (-0.10, -0.05),
}


@dataclass(frozen=True)
class Mechanism:
    """Intercepts and scales of the churn logit (calibrated per world, see presets)."""

    intercept_emailers: float = -1.05
    intercept_others: float = -1.35
    marketing_scale: float = 1.0
    text_scale: float = 1.0


def marketing_terms(x: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The terms h_j(x) of the marketing logit from the history variables ``x``.

    ``x`` holds arrays named as in :data:`churn_spark.features.FEATURE_DOCS`.
    """
    age = np.asarray(x["age"], dtype=float)
    known = np.asarray(x["age_known"], dtype=bool)
    age_u = np.where(known, ((np.nan_to_num(age, nan=50.0) - 50.0) / 20.0) ** 2, 0.0)
    return {
        "recent_complaint": np.exp(-x["days_since_last_complaint"] / 90.0),
        "log_monetary_value": np.log(np.maximum(x["monetary_value"], 10.0) / 300.0),
        "recent_suspension": np.exp(-x["days_since_last_suspension"] / 120.0),
        "subscription_years": x["subscription_length_days"] / 365.0,
        "avg_complaint_position": x["avg_complaint_position"],
        "prev_renewed_before_expiry": x["prev_renewed_before_expiry"].astype(float),
        "woman": (x["gender"] == "F").astype(float),
        "sd_days_before_expiry": np.sqrt(x["var_days_before_expiry"]),
        "n_renewal_points": x["n_renewal_points"].astype(float),
        "edition_x1": (x["edition"] == "X1").astype(float),
        "public_institution": (x["customer_type"] == "public_institution").astype(float),
        "prev_days_before_expiry": x["prev_days_before_expiry"].astype(float),
        "n_suspensions_per_year": x["n_suspensions_per_year"],
        "avg_suspension_weeks": x["avg_suspension_days"] / 7.0,
        "motivator_dm_campaign": (x["purchase_motivator"] == "dm_campaign").astype(float),
        "delivery_shop": (x["delivery"] == "shop").astype(float),
        "carrier_x_term_complaints": ((x["delivery"] == "carrier")
                                      * np.minimum(x["n_complaints_current_term"], 3)),
        "recent_payment_change": np.exp(-x["days_since_last_payment_change"] / 180.0),
        "n_payment_changes_per_year": x["n_payment_changes_per_year"],
        "n_not_renewed": x["n_not_renewed"].astype(float),
        "age_u": age_u,
        "n_dm_responses": x["n_dm_responses"].astype(float),
    }


#: Variables of ``x`` the mechanism reads (the consistency test compares exactly these).
MECHANISM_VARIABLES: tuple[str, ...] = (
    "days_since_last_complaint", "monetary_value", "days_since_last_suspension", "subscription_length_days",
    "avg_complaint_position", "prev_renewed_before_expiry", "gender", "var_days_before_expiry",
    "n_renewal_points", "edition", "customer_type", "prev_days_before_expiry", "n_suspensions_per_year",
    "avg_suspension_days", "purchase_motivator", "delivery", "n_complaints_current_term",
    "days_since_last_payment_change", "n_payment_changes_per_year", "n_not_renewed", "age", "age_known",
    "n_dm_responses",
)


def marketing_logit(x: dict[str, np.ndarray], emailer: np.ndarray, mech: Mechanism) -> np.ndarray:
    """``b_g + m_g(x)``: intercept plus marketing part, per group (emailer or not)."""
    terms = marketing_terms(x)
    emailer = np.asarray(emailer, dtype=bool)
    total = np.zeros(len(emailer))
    for name, (beta_e, beta_o) in MARKETING_COEFFICIENTS.items():
        total += np.where(emailer, beta_e, beta_o) * terms[name]
    return np.where(emailer, mech.intercept_emailers, mech.intercept_others) + mech.marketing_scale * total


_GAMMA = np.array([TEXT_EFFECTS.get(t, 0.0) for t in TOPIC_IDS])


def text_logit(topic_sums: np.ndarray, mech: Mechanism) -> np.ndarray:
    """``t(S) = text_scale * S @ gamma`` for topic sums ``S`` of shape (units, topics)."""
    return mech.text_scale * (np.asarray(topic_sums, dtype=float) @ _GAMMA)


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


_VOICE_PRIOR = np.array([v[0] for v in VOICES.values()])
_VOICE_TOPICS = np.array([[v[1].get(t, 0.0) for t in TOPIC_IDS] for v in VOICES.values()])
_VOICE_TOPICS /= _VOICE_TOPICS.sum(axis=1, keepdims=True)


def emails_rate(n_term_complaints: np.ndarray, n_term_changes: np.ndarray, base: float) -> np.ndarray:
    """``mu`` of the number of emails of an emailing term, ``n = 1 + Poisson(mu)``."""
    return base + 0.25 * np.minimum(n_term_complaints, 3) + 0.15 * np.minimum(n_term_changes, 2)


def _categorical(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One draw per row of a row-stochastic matrix."""
    cum = np.cumsum(probs, axis=1)
    u = rng.random(len(probs))[:, None] * cum[:, -1:]
    return np.minimum((u >= cum).sum(axis=1), probs.shape[1] - 1)


def draw_email_topics(unit_of_email: np.ndarray, event_offset: np.ndarray, event_count: np.ndarray,
                      event_topic: np.ndarray, n_units: int, rng: np.random.Generator
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Topic mixes of emails and, for event-triggered ones, the event they are about.

    ``unit_of_email[j]`` is the unit (term) of email j. The events of unit u are
    ``event_topic[event_offset[u] : event_offset[u] + event_count[u]]`` (topic indices).
    Returns ``mix`` (emails x topics, rows sum to 1) and ``event_of_email`` (index into
    the event arrays, -1 when the email is not about an event).
    """
    n = len(unit_of_email)
    voice = _categorical(np.broadcast_to(_VOICE_PRIOR, (n_units, len(_VOICE_PRIOR))), rng)
    ev_count = event_count[unit_of_email]
    about_event = rng.random(n) < np.minimum(0.7, 0.3 * ev_count)
    pick = event_offset[unit_of_email] + np.floor(rng.random(n) * np.maximum(ev_count, 1)).astype(np.int64)
    event_of_email = np.where(about_event, pick, -1)
    voice_probs = _VOICE_TOPICS[voice[unit_of_email]]
    primary = _categorical(voice_probs, rng)
    if len(event_topic):
        primary = np.where(about_event, event_topic[np.clip(pick, 0, len(event_topic) - 1)], primary)
    secondary = _categorical(voice_probs, rng)
    a = rng.uniform(*PRIMARY_WEIGHT, n)
    mix = np.zeros((n, len(TOPIC_IDS)))
    rows = np.arange(n)
    mix[rows, primary] += a
    mix[rows, secondary] += 1.0 - a
    return mix, event_of_email


def expected_p_given_marketing(logit_m: np.ndarray, mu: np.ndarray, event_offset: np.ndarray,
                               event_count: np.ndarray, event_topic: np.ndarray, mech: Mechanism,
                               rng: np.random.Generator, draws: int = 128) -> np.ndarray:
    """``E[sigmoid(logit_m + t(S)) | marketing]`` for emailing units by Monte Carlo.

    Redraws, ``draws`` times per unit, the number of emails ``1 + Poisson(mu)`` and their
    topic mixes (voice and events as in :func:`draw_email_topics`) and averages ``p``.
    """
    n_units = len(logit_m)
    if n_units == 0:
        return np.zeros(0)
    rep_unit = np.repeat(np.arange(n_units), draws)          # replicate r of unit u -> u
    n_mail = 1 + rng.poisson(np.repeat(mu, draws))
    rep_of_email = np.repeat(np.arange(len(rep_unit)), n_mail)
    # each replicate is a unit of its own (own voice) sharing the events of its source unit
    mix, _ = draw_email_topics(rep_of_email, event_offset[rep_unit], event_count[rep_unit], event_topic,
                               len(rep_unit), rng)
    sums = np.zeros((len(rep_unit), len(TOPIC_IDS)))
    np.add.at(sums, rep_of_email, mix)
    p = sigmoid(np.repeat(logit_m, draws) + text_logit(sums, mech))
    return p.reshape(n_units, draws).mean(axis=1)

