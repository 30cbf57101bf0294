"""The calendar and the categorical codes of the simulated world.

Shared by the simulation (``world``), its history features (``world_history``) and its Arrow
tables (``world_tables``): the simulation stores a level as its index in these arrays.
"""

from __future__ import annotations

import datetime as dt

import numpy as np


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


def add_months(days: np.ndarray, months: int) -> np.ndarray:
    """Spark's ``add_months`` on day numbers: same day of month, clamped to the month's end."""
    d = np.asarray(days).astype("datetime64[D]")
    month = d.astype("datetime64[M]")
    day_of_month = (d - month.astype("datetime64[D]")).astype(np.int64)
    target = month + months
    month_len = ((target + 1).astype("datetime64[D]") - target.astype("datetime64[D]")).astype(np.int64)
    out = target.astype("datetime64[D]") + np.minimum(day_of_month, month_len - 1)
    return out.astype(np.int64)


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
CAMPAIGN_CODE = {name: i for i, name in enumerate(CAMPAIGNS)}
MOTIVATOR_CODE = {name: i for i, name in enumerate(MOTIVATORS)}

# the customers' own postal addresses (customers.address): city, road and a house number
CUSTOMER_CITIES = np.array(["台北市", "新北市", "台中市", "高雄市", "台南市", "桃园市", "上海市", "杭州市"],
                           dtype=object)
CUSTOMER_ROADS = np.array(["中山路", "民生路", "和平路", "建国路", "复兴路", "光明街", "解放路", "文化路"],
                          dtype=object)
