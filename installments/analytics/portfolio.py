"""Portfolio analytics for the manager's dashboard: pure pandas functions on plain DataFrames.

No Django here. `installments.analytics.services` loads the book into the frames below once per
refresh and stores what these functions return in summary tables; tests build the frames by hand.

Conventions
-----------
* Money is integer minor units (`*_cents`, int64), so every sum is exact; it becomes a Decimal
  again only for display (`cents_to_decimal`). Rates and shares are floats from 0 to 1 (they are
  not money); APRs are percent.
* Dates are naive local datetime64 values (the loader converts aware timestamps to the
  product's time zone first). A date range is two `datetime.date`s, both inclusive.
* Months are integer month indexes (`year * 12 + month - 1`) so months-on-book is a subtraction;
  `month_label` turns one into "YYYY-MM".
* Days past due (DPD) follow the collections buckets: PAR1 counts plans 1+ days past due,
  PAR30 plans more than 30 (31+), PAR90 more than 90 (91+). "Bad" (for vintages and segments) is
  31+ days past due at any month-end or now, or a plan written off or in legal action.

Frames (column: meaning)
------------------------
applications: application_id, customer_id, product_id, state, created_at, submitted_at, decided_at
    (datetime64, NaT when not yet), purpose, income_pattern, grade (risk grade or None).
plans: plan_id, application_id, customer_id, product_id, method, principal_cents,
    disbursement_date, state, days_past_due, bucket, closed_on (NaT while open), apr (percent),
    term_months, outstanding_cents (principal not yet repaid); for segments also purpose,
    income_pattern, grade, date_of_birth, occupation, employment_type.
observations: plan_id, month (month index), state, days_past_due, bucket, outstanding_cents: one
    row per plan per month-end (the close of business snapshot of the month's last closed day;
    the current month's row is the plan as it is now, see `observations_with_current`).
cases: case_id, plan_id, opened_on, closed_on, close_reason, status, amount_overdue_cents,
    collected_cents (payments received on the plan while the case was open).
ratings: rating_id, product_id, rating (1-5), created_at, moment.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from decimal import Decimal
from statistics import NormalDist

import numpy as np
import pandas as pd

LIVE_STATES = ("active", "overdue", "restructured", "in_legal")
BAD_STATES = ("written_off", "in_legal")
CLOSED_STATES = ("paid_off", "written_off")
DECLINED = "declined"
CURED_REASONS = ("cured", "paid_off")
UNRESOLVED_REASONS = ("written_off", "in_legal")
PAR_THRESHOLDS = {"par1": 1, "par30": 31, "par90": 91}
BAD_MIN_DAYS = 31
SIGNIFICANCE_ALPHA = 0.05
SIGNIFICANCE_MIN_COUNT = 30
LOW_RATING = 2
# Age bands at application, the collections analysis's bands.
AGE_BANDS = ((18, 24, "18-24"), (25, 34, "25-34"), (35, 44, "35-44"), (45, 54, "45-54"), (55, 200, "55+"))
UNKNOWN = "unknown"
Z95 = NormalDist().inv_cdf(0.975)

APPLICATION_COLUMNS = ("application_id", "customer_id", "product_id", "state", "created_at", "submitted_at",
                       "decided_at", "purpose", "income_pattern", "grade")
PLAN_COLUMNS = ("plan_id", "application_id", "customer_id", "product_id", "method", "principal_cents",
                "disbursement_date", "state", "days_past_due", "bucket", "closed_on", "apr", "term_months",
                "outstanding_cents")
OBSERVATION_COLUMNS = ("plan_id", "month", "state", "days_past_due", "bucket", "outstanding_cents")
CASE_COLUMNS = ("case_id", "plan_id", "opened_on", "closed_on", "close_reason", "status", "amount_overdue_cents",
                "collected_cents")
RATING_COLUMNS = ("rating_id", "product_id", "rating", "created_at", "moment")
SEGMENT_DIMENSIONS = ("age_band", "occupation", "employment_type", "purpose", "method", "grade", "income_pattern")


# --- Small helpers -----------------------------------------------------------------------------------

def empty_frame(columns: Iterable[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})


def month_index(values) -> pd.Series | int:
    """Month index (year * 12 + month - 1) of a datetime Series, or of one date."""
    if isinstance(values, date):
        return values.year * 12 + values.month - 1
    values = pd.to_datetime(values)
    return values.dt.year * 12 + values.dt.month - 1


def month_label(index: int) -> str:
    year, month0 = divmod(int(index), 12)
    return f"{year:04d}-{month0 + 1:02d}"


def cents_to_decimal(cents: int | float | None) -> Decimal:
    """Integer minor units -> Decimal with two places (0 for None / NaN)."""
    if cents is None or (isinstance(cents, float) and math.isnan(cents)):
        return Decimal("0.00")
    return (Decimal(int(cents)) / 100).quantize(Decimal("0.01"))


def share(part: float, whole: float) -> float | None:
    """part / whole, None when whole is 0 (a rate of nothing is unknown, not 0)."""
    return float(part) / float(whole) if whole else None


def _in_range(values: pd.Series, start: date, end: date) -> pd.Series:
    """Timestamps (or dates) falling on a day from `start` to `end`, both inclusive."""
    values = pd.to_datetime(values)
    return (values >= pd.Timestamp(start)) & (values < pd.Timestamp(end + timedelta(days=1)))


def _grouped(frame: pd.DataFrame, key, **columns: tuple[str, str]) -> pd.DataFrame:
    """Like `groupby(key).agg(name=(column, how))` but without pandas' slow named-aggregation path
    (this runs hundreds of times per refresh). `how` is "size", "sum" or "mean"."""
    groups = frame.groupby(key, sort=True)
    out = {}
    for name, (column, how) in columns.items():
        out[name] = groups.size() if how == "size" else getattr(groups[column], how)()
    return pd.DataFrame(out)


def is_live(frame: pd.DataFrame) -> pd.Series:
    """Rows (plans or observations) in a live state; uses the precomputed `is_live` column when there
    is one (`with_live_flag`), since the refresh asks this hundreds of times."""
    if "is_live" in frame:
        return frame["is_live"]
    return frame["state"].isin(LIVE_STATES)


def with_live_flag(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(is_live=frame["state"].isin(LIVE_STATES))


def _status(frame: pd.DataFrame) -> pd.Series:
    """The bucket of a live row, the state of a closed one (paid_off / written_off)."""
    return frame["bucket"].where(is_live(frame), frame["state"])


# --- Statistics --------------------------------------------------------------------------------------

def wilson_interval(successes: int, n: int, *, z: float = Z95) -> tuple[float | None, float | None]:
    """Wilson score interval of a proportion (default 95 %); (None, None) when n is 0."""
    if not n:
        return None, None
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def two_proportion_test(x1: int, n1: int, x2: int, n2: int) -> tuple[float | None, float | None]:
    """Pooled two-proportion z-test of p1 = p2: (z, two-sided p); (None, None) without data."""
    if not n1 or not n2:
        return None, None
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 0.0, 1.0
    z = (x1 / n1 - x2 / n2) / se
    return z, math.erfc(abs(z) / math.sqrt(2))


def significantly_worse(x: int, n: int, x_rest: int, n_rest: int, *, alpha: float = SIGNIFICANCE_ALPHA,
                        min_count: int = SIGNIFICANCE_MIN_COUNT) -> tuple[bool, float | None]:
    """Is a segment's rate (x of n) significantly higher than the rest of the book's (x_rest of n_rest)?

    Two-proportion z-test, two-sided p below `alpha`, the segment's rate above the rest's, and at
    least `min_count` plans on each side (small segments are never flagged). Returns (flag, p).
    """
    _z, p = two_proportion_test(x, n, x_rest, n_rest)
    if p is None:
        return False, None
    worse = n >= min_count and n_rest >= min_count and p < alpha and x / n > x_rest / n_rest
    return bool(worse), p


# --- Origination -------------------------------------------------------------------------------------

def approval(applications: pd.DataFrame, start: date, end: date) -> dict:
    """Decisions taken from `start` to `end` (by `decided_at`): decided, approved, declined and the
    approval rate (approved / decided). Approved is every decided application not declined (an
    approved application later withdrawn or contracted still counts as approved)."""
    decided = applications[applications["decided_at"].notna() & _in_range(applications["decided_at"], start, end)]
    declined = int((decided["state"] == DECLINED).sum())
    approved = len(decided) - declined
    return {"decided": len(decided), "approved": approved, "declined": declined,
            "approval_rate": share(approved, len(decided))}


def time_to_decision(applications: pd.DataFrame, start: date, end: date) -> dict:
    """Hours from submission to decision of the applications decided from `start` to `end`:
    count, mean, median and 90th percentile (None when none)."""
    decided = applications[applications["decided_at"].notna() & applications["submitted_at"].notna()
                           & _in_range(applications["decided_at"], start, end)]
    hours = (pd.to_datetime(decided["decided_at"]) - pd.to_datetime(decided["submitted_at"])).dt.total_seconds() / 3600
    if hours.empty:
        return {"count": 0, "mean_hours": None, "median_hours": None, "p90_hours": None}
    return {"count": int(hours.size), "mean_hours": float(hours.mean()), "median_hours": float(hours.median()),
            "p90_hours": float(hours.quantile(0.9))}


def period_start(values: pd.Series, freq: str) -> pd.Series:
    """The first day of each value's week (Monday) or month, as "YYYY-MM-DD" / "YYYY-MM" labels."""
    days = pd.to_datetime(values).dt.normalize()
    unique = pd.Series(days.dropna().unique())  # format each distinct day once, not every row
    if freq == "week":
        labels = (unique - pd.to_timedelta(unique.dt.day_of_week, unit="D")).dt.strftime("%Y-%m-%d")
    else:
        labels = unique.dt.strftime("%Y-%m")
    return days.map(pd.Series(labels.to_numpy(), index=unique.to_numpy()))


def period_labels(start: date, end: date, freq: str) -> list[str]:
    """Every week (Mondays) or month from `start` to `end`: the x axis, gaps included."""
    if freq == "week":
        first = start - timedelta(days=start.weekday())
        return [d.strftime("%Y-%m-%d") for d in pd.date_range(first, end, freq="7D")]
    return [month_label(i) for i in range(month_index(start), month_index(end) + 1)]


def applications_series(applications: pd.DataFrame, start: date, end: date, freq: str = "month") -> pd.DataFrame:
    """Per week or month: applications submitted, decided, approved and the approval rate."""
    labels = period_labels(start, end, freq)
    submitted = applications[applications["submitted_at"].notna() & _in_range(applications["submitted_at"], start, end)]
    decided = applications[applications["decided_at"].notna() & _in_range(applications["decided_at"], start, end)]
    frame = pd.DataFrame({"period": labels})
    counts = period_start(submitted["submitted_at"], freq).value_counts()
    decided_counts = period_start(decided["decided_at"], freq).value_counts()
    approved_counts = period_start(decided.loc[decided["state"] != DECLINED, "decided_at"], freq).value_counts()
    frame["submitted"] = frame["period"].map(counts).fillna(0).astype(int)
    frame["decided"] = frame["period"].map(decided_counts).fillna(0).astype(int)
    frame["approved"] = frame["period"].map(approved_counts).fillna(0).astype(int)
    frame["approval_rate"] = [share(a, d) for a, d in zip(frame["approved"], frame["decided"], strict=True)]
    return frame


def disbursed(plans: pd.DataFrame, start: date, end: date) -> dict:
    """Plans disbursed from `start` to `end`: count, principal (cents), average APR and term."""
    rows = plans[_in_range(plans["disbursement_date"], start, end)]
    return {
        "count": len(rows),
        "amount_cents": int(rows["principal_cents"].sum()) if len(rows) else 0,
        "average_apr": float(rows["apr"].astype(float).mean()) if len(rows) else None,
        "average_term_months": float(rows["term_months"].astype(float).mean()) if len(rows) else None,
    }


def disbursement_series(plans: pd.DataFrame, start: date, end: date, freq: str = "month") -> pd.DataFrame:
    """Per week or month: plans disbursed, principal (cents), average APR and term."""
    rows = plans[_in_range(plans["disbursement_date"], start, end)].copy()
    rows["period"] = period_start(rows["disbursement_date"], freq)
    rows["apr"] = rows["apr"].astype(float)
    rows["term_months"] = rows["term_months"].astype(float)
    grouped = _grouped(rows, "period", count=("plan_id", "size"), amount_cents=("principal_cents", "sum"),
                       average_apr=("apr", "mean"), average_term_months=("term_months", "mean"))
    frame = pd.DataFrame({"period": period_labels(start, end, freq)}).merge(
        grouped, how="left", left_on="period", right_index=True)
    frame["count"] = frame["count"].fillna(0).astype(int)
    frame["amount_cents"] = frame["amount_cents"].fillna(0).astype("int64")
    return frame


# --- The book now ------------------------------------------------------------------------------------

def live(plans: pd.DataFrame) -> pd.DataFrame:
    return plans[is_live(plans)]


def outstanding_principal(plans: pd.DataFrame) -> int:
    """Principal not yet repaid on live plans, in cents."""
    return int(live(plans)["outstanding_cents"].sum())


def portfolio_at_risk(frame: pd.DataFrame, min_days: int) -> float | None:
    """Share of live outstanding principal on plans at least `min_days` past due (PAR30: 31)."""
    rows = live(frame)
    total = rows["outstanding_cents"].sum()
    return share(rows.loc[rows["days_past_due"] >= min_days, "outstanding_cents"].sum(), total)


def par_all(frame: pd.DataFrame) -> dict:
    return {name: portfolio_at_risk(frame, days) for name, days in PAR_THRESHOLDS.items()}


def bucket_distribution(plans: pd.DataFrame, bucket_order: Sequence[str]) -> pd.DataFrame:
    """Live plans by bucket (in `bucket_order`): plans, outstanding principal (cents) and its share."""
    rows = live(plans)
    grouped = _grouped(rows, "bucket", plans=("plan_id", "size"), outstanding_cents=("outstanding_cents", "sum"))
    order = list(bucket_order) + sorted(set(grouped.index) - set(bucket_order))
    frame = pd.DataFrame({"bucket": order}).merge(grouped, how="left", left_on="bucket", right_index=True)
    frame["plans"] = frame["plans"].fillna(0).astype(int)
    frame["outstanding_cents"] = frame["outstanding_cents"].fillna(0).astype("int64")
    total = frame["outstanding_cents"].sum()
    frame["share"] = [share(v, total) for v in frame["outstanding_cents"]]
    return frame


def early_payoff(plans: pd.DataFrame, start: date, end: date) -> dict:
    """Plans paid off from `start` to `end` and how many were early: paid off before the month of
    their last scheduled installment (disbursement month + term)."""
    paid = plans[(plans["state"] == "paid_off") & plans["closed_on"].notna() & _in_range(plans["closed_on"], start, end)]
    if paid.empty:
        return {"paid_off": 0, "early": 0, "early_payoff_rate": None}
    maturity = month_index(paid["disbursement_date"]) + paid["term_months"].astype(int)
    early = int((month_index(paid["closed_on"]) < maturity).sum())
    return {"paid_off": len(paid), "early": early, "early_payoff_rate": share(early, len(paid))}


def churn(plans: pd.DataFrame, applications: pd.DataFrame, start: date, end: date, *, today: date,
          within_days: int = 90) -> dict:
    """Customers who paid off a plan from `start` to `end` and did not apply again within
    `within_days` days after it (their latest payoff in the range counts). Only payoffs at least
    `within_days` old are judged (the window must be over). Churn rate = not returned / judged."""
    paid = plans[(plans["state"] == "paid_off") & plans["closed_on"].notna() & _in_range(plans["closed_on"], start, end)]
    paid = paid.assign(closed_on=pd.to_datetime(paid["closed_on"]).dt.normalize())
    latest = paid.groupby("customer_id")["closed_on"].max().reset_index()
    latest = latest[latest["closed_on"] + pd.Timedelta(days=within_days) <= pd.Timestamp(today)]
    if latest.empty:
        return {"customers": 0, "returned": 0, "churned": 0, "churn_rate": None, "within_days": within_days}
    later = applications[["customer_id", "created_at"]].merge(latest, on="customer_id")
    created = pd.to_datetime(later["created_at"]).dt.normalize()
    window = (created > later["closed_on"]) & (created <= later["closed_on"] + pd.Timedelta(days=within_days))
    returned = later.loc[window, "customer_id"].nunique()
    churned = len(latest) - returned
    return {"customers": len(latest), "returned": int(returned), "churned": int(churned),
            "churn_rate": share(churned, len(latest)), "within_days": within_days}


def recovery(cases: pd.DataFrame, start: date, end: date) -> dict:
    """Collection cases opened from `start` to `end`: how much came back.

    recovery rate = collected / (collected + arrears still unresolved), where collected is what
    was paid on the plans while their cases were open and unresolved arrears are the amounts
    overdue on cases still open or closed by write-off / legal action. cure rate = cases closed
    because the plan was cured or paid off / cases opened.
    """
    opened = cases[_in_range(cases["opened_on"], start, end)]
    if opened.empty:
        return {"cases": 0, "cured": 0, "cure_rate": None, "collected_cents": 0, "unresolved_cents": 0,
                "recovery_rate": None}
    unresolved_rows = (opened["status"] == "open") | opened["close_reason"].isin(UNRESOLVED_REASONS)
    collected = int(opened["collected_cents"].sum())
    unresolved = int(opened.loc[unresolved_rows, "amount_overdue_cents"].sum())
    cured = int(((opened["status"] == "closed") & opened["close_reason"].isin(CURED_REASONS)).sum())
    return {"cases": len(opened), "cured": cured, "cure_rate": share(cured, len(opened)),
            "collected_cents": collected, "unresolved_cents": unresolved,
            "recovery_rate": share(collected, collected + unresolved)}


# --- Month-end history: PAR trend, roll rates, vintages -------------------------------------------------

def observations_with_current(month_ends: pd.DataFrame, plans: pd.DataFrame, today: date) -> pd.DataFrame:
    """Month-end snapshots of earlier months plus, for the current month, every live plan as it is
    now (the close of business keeps plans current), so the latest point is always today's."""
    current = month_index(today)
    earlier = month_ends[month_ends["month"] < current]
    now = live(plans)[["plan_id", "state", "days_past_due", "bucket", "outstanding_cents"]].assign(month=current)
    frame = pd.concat([earlier[list(OBSERVATION_COLUMNS)], now[list(OBSERVATION_COLUMNS)]], ignore_index=True)
    frame = frame.astype({"plan_id": "int64", "month": "int64", "days_past_due": "int64", "outstanding_cents": "int64"})
    return frame.sort_values(["plan_id", "month"], ignore_index=True)


def par_trend(observations: pd.DataFrame, first_month: int, last_month: int,
              thresholds: dict[str, int] | None = None) -> pd.DataFrame:
    """PAR at each month-end from `first_month` to `last_month` (month indexes): month label,
    live outstanding principal (cents) and one column per threshold (default PAR1/30/90)."""
    thresholds = thresholds or PAR_THRESHOLDS
    rows = observations[(observations["month"] >= first_month) & (observations["month"] <= last_month)
                        & is_live(observations)]
    total = rows.groupby("month")["outstanding_cents"].sum()
    frame = pd.DataFrame({"month": range(first_month, last_month + 1)})
    frame["outstanding_cents"] = frame["month"].map(total).fillna(0).astype("int64")
    for name, days in thresholds.items():
        at_risk = rows[rows["days_past_due"] >= days].groupby("month")["outstanding_cents"].sum()
        frame[name] = [share(at_risk.get(m, 0), t) for m, t in zip(frame["month"], frame["outstanding_cents"],
                                                                    strict=True)]
    frame["label"] = frame["month"].map(month_label)
    return frame


def with_status(observations: pd.DataFrame, bucket_order: Sequence[str]) -> pd.DataFrame:
    """Observations with a categorical `status` column (bucket when live, else the closed state), so
    roll rates over many ranges and products do not recompute it from strings each time."""
    columns = list(bucket_order) + list(CLOSED_STATES)
    known = _status(observations)
    return observations.assign(status=pd.Categorical(known.where(known.isin(columns)), categories=columns))


def status_codes(observations: pd.DataFrame, bucket_order: Sequence[str]) -> pd.Series:
    """Each observation's status as a code into buckets + closed states (-1: not one of them)."""
    columns = list(bucket_order) + list(CLOSED_STATES)
    if "status" in observations and list(observations["status"].cat.categories) == columns:
        return observations["status"].cat.codes.astype("int64")
    return with_status(observations, bucket_order)["status"].cat.codes.astype("int64")


def _by_plan_and_month(observations: pd.DataFrame) -> pd.DataFrame:
    """Observations ordered by plan then month (`observations_with_current` already returns them so)."""
    plan_id, month = observations["plan_id"].to_numpy(), observations["month"].to_numpy()
    ordered = (plan_id[1:] > plan_id[:-1]) | ((plan_id[1:] == plan_id[:-1]) & (month[1:] > month[:-1]))
    return observations if ordered.all() else observations.sort_values(["plan_id", "month"], kind="stable")


def roll_rates(observations: pd.DataFrame, plans: pd.DataFrame, bucket_order: Sequence[str], first_month: int,
               last_month: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Bucket-to-bucket movement from one month-end to the next, summed over the month pairs whose
    later month is from `first_month` to `last_month`.

    Rows: the bucket of a live plan at a month-end; columns: its bucket at the next month-end, or
    `paid_off` / `written_off` when it closed in between. A plan with no next observation that is
    still live (no snapshot that month) is left out. Returns (counts, rates), rates row-normalised
    (each row sums to 1 where it has plans).
    """
    columns = list(bucket_order) + list(CLOSED_STATES)
    rows = _by_plan_and_month(observations)
    plan_id, month = rows["plan_id"].to_numpy(), rows["month"].to_numpy()
    # Statuses as integer codes into `columns` (-1: a bucket not configured), counted with bincount.
    status = status_codes(rows, bucket_order).to_numpy()
    # The next observation of the same plan, if it is the next month-end.
    same_plan = np.append(plan_id[1:] == plan_id[:-1], False)
    following = same_plan & (np.append(month[1:], -1) == month + 1)
    status_to = np.where(following, np.append(status[1:], -1), -1)
    window = is_live(rows).to_numpy() & (month + 1 >= first_month) & (month + 1 <= last_month)
    # A plan with no later observation at all: where it ended, if it closed by the next month-end.
    ended = window & ~same_plan
    if ended.any():
        final = plans.set_index("plan_id")
        gone = pd.Series(plan_id[ended])
        state = gone.map(final["state"])
        closed_month = month_index(gone.map(final["closed_on"]))
        closed_by_next = (state.isin(CLOSED_STATES) & (closed_month <= month[ended] + 1)).to_numpy()
        codes = pd.Categorical(state.where(closed_by_next), categories=columns).codes.astype("int64")
        status_to[ended] = codes
    keep = window & (status < len(bucket_order)) & (status >= 0) & (status_to >= 0)
    size = len(columns)
    flat = np.bincount(status[keep] * size + status_to[keep], minlength=len(bucket_order) * size)
    counts = pd.DataFrame(flat[:len(bucket_order) * size].reshape(len(bucket_order), size), index=list(bucket_order),
                          columns=columns).astype(int)
    totals = counts.sum(axis=1)
    rates = counts.div(totals.replace(0, np.nan), axis=0)
    return counts, rates


def first_bad_month(observations: pd.DataFrame, plans: pd.DataFrame, *, current_month: int,
                    min_days: int = BAD_MIN_DAYS) -> pd.Series:
    """Per plan (aligned with `plans`' index): the month index it was first `min_days`+ past due at
    a month-end (or now), or, if earlier or without such an observation, the month it was written
    off (its closing month) or is in legal action (`current_month` when no date); NaN if never."""
    bad = observations[observations["days_past_due"] >= min_days].groupby("plan_id")["month"].min()
    ended = plans[plans["state"].isin(BAD_STATES)]
    ended_month = month_index(ended["closed_on"]).fillna(current_month)
    ended = pd.Series(ended_month.to_numpy(dtype="float64"), index=ended["plan_id"].to_numpy())
    combined = pd.concat([bad.astype("float64"), ended]).groupby(level=0).min()
    return pd.Series(combined.reindex(plans["plan_id"].to_numpy()).to_numpy(), index=plans.index)


def vintage_curves(plans: pd.DataFrame, observations: pd.DataFrame, *, today: date, start: date, end: date,
                   max_months_on_book: int = 36, min_days: int = BAD_MIN_DAYS) -> pd.DataFrame:
    """Cumulative bad rate by months on book for each disbursement month from `start` to `end`.

    For cohort c (plans disbursed in month c) and months on book k, the rate is the share of the
    cohort's plans that have been `min_days`+ days past due at some month-end from c to c + k (or
    written off / in legal action by then). Points exist only for k the cohort has reached by
    today. Long frame: cohort (label), cohort_size, months_on_book, bad, rate.
    """
    rows = plans[_in_range(plans["disbursement_date"], start, end)].copy()
    if rows.empty:
        return pd.DataFrame(columns=["cohort", "cohort_size", "months_on_book", "bad", "rate"])
    rows["cohort"] = month_index(rows["disbursement_date"])
    current = month_index(today)
    if "bad_month" not in rows:  # precomputed by `plan_outcomes` for the whole book
        rows["bad_month"] = first_bad_month(observations[observations["plan_id"].isin(rows["plan_id"])], rows,
                                            current_month=current, min_days=min_days)
    rows["bad_mob"] = (rows["bad_month"] - rows["cohort"]).clip(lower=0)
    out = []
    for cohort, group in rows.groupby("cohort"):
        age = min(current - int(cohort), max_months_on_book)
        bad_counts = group["bad_mob"].dropna().astype(int).value_counts()
        cumulative = 0
        for k in range(age + 1):
            cumulative += int(bad_counts.get(k, 0))
            out.append({"cohort": month_label(int(cohort)), "cohort_size": len(group), "months_on_book": k,
                        "bad": cumulative, "rate": cumulative / len(group)})
    return pd.DataFrame(out)


# --- Segments ------------------------------------------------------------------------------------------

def age_band(born: pd.Series, on: pd.Series) -> pd.Series:
    """Age band (AGE_BANDS) of each date of birth on the matching date; "unknown" without one."""
    born = pd.to_datetime(born)
    on = pd.to_datetime(on)
    before_birthday = (on.dt.month < born.dt.month) | ((on.dt.month == born.dt.month) & (on.dt.day < born.dt.day))
    age = on.dt.year - born.dt.year - before_birthday.astype(int)
    labels = pd.Series(UNKNOWN, index=born.index, dtype="object")
    for low, high, label in AGE_BANDS:
        labels[(age >= low) & (age <= high)] = label
    return labels


def plan_outcomes(plans: pd.DataFrame, observations: pd.DataFrame, *, today: date,
                  min_days: int = BAD_MIN_DAYS) -> pd.DataFrame:
    """Plans with their outcome flags: `bad` (ever `min_days`+ past due at a month-end or now,
    written off or in legal action) and `bad_month` (when first), `is_live` and `overdue_now` (live
    and past due today), plus `age_band` at disbursement when `date_of_birth` is given."""
    frame = plans.copy()
    frame["bad_month"] = first_bad_month(observations, frame, current_month=month_index(today), min_days=min_days)
    frame["is_live"] = frame["state"].isin(LIVE_STATES)
    frame["bad"] = frame["bad_month"].notna() | ((frame["days_past_due"] >= min_days) & frame["is_live"])
    frame["overdue_now"] = frame["is_live"] & (frame["days_past_due"] > 0)
    if "date_of_birth" in frame:
        frame["age_band"] = age_band(frame["date_of_birth"], frame["disbursement_date"])
    return frame


def segment_table(outcomes: pd.DataFrame, dimension: str, *, min_count: int = SIGNIFICANCE_MIN_COUNT,
                  alpha: float = SIGNIFICANCE_ALPHA) -> list[dict]:
    """Bad rate and overdue-now rate per value of `dimension`, each against the rest of the book.

    Per segment: plans, bad, bad_rate with its 95 % Wilson interval, live plans, overdue_now,
    overdue_rate, and for each rate the two-proportion test against the plans outside the
    segment: p value and `*_worse` (significantly higher, p < alpha, n >= min_count on both
    sides). Sorted by plans, largest first. Blank values are "unknown".
    """
    if outcomes.empty:
        return []
    keys = outcomes[dimension].fillna(UNKNOWN).replace("", UNKNOWN).astype(str)
    grouped = _grouped(outcomes, keys, plans=("plan_id", "size"), bad=("bad", "sum"), live=("is_live", "sum"),
                       overdue_now=("overdue_now", "sum"))
    total = grouped.sum()
    rows = []
    for segment, row in grouped.sort_values("plans", ascending=False).iterrows():
        plans_n, bad_n, live_n, overdue_n = (int(row[k]) for k in ("plans", "bad", "live", "overdue_now"))
        bad_worse, bad_p = significantly_worse(bad_n, plans_n, int(total["bad"]) - bad_n,
                                               int(total["plans"]) - plans_n, alpha=alpha, min_count=min_count)
        overdue_worse, overdue_p = significantly_worse(overdue_n, live_n, int(total["overdue_now"]) - overdue_n,
                                                       int(total["live"]) - live_n, alpha=alpha, min_count=min_count)
        low, high = wilson_interval(bad_n, plans_n)
        rows.append({
            "segment": segment, "plans": plans_n, "bad": bad_n, "bad_rate": share(bad_n, plans_n),
            "bad_rate_low": low, "bad_rate_high": high, "bad_p": bad_p, "bad_worse": bad_worse,
            "live": live_n, "overdue_now": overdue_n, "overdue_rate": share(overdue_n, live_n),
            "overdue_p": overdue_p, "overdue_worse": overdue_worse,
        })
    return rows


def book_rates(outcomes: pd.DataFrame) -> dict:
    """The whole book's figures the segments are compared with."""
    plans_n, bad_n = len(outcomes), int(outcomes["bad"].sum()) if len(outcomes) else 0
    live_n = int(outcomes["is_live"].sum()) if len(outcomes) else 0
    overdue_n = int(outcomes["overdue_now"].sum()) if len(outcomes) else 0
    return {"plans": plans_n, "bad": bad_n, "bad_rate": share(bad_n, plans_n), "live": live_n,
            "overdue_now": overdue_n, "overdue_rate": share(overdue_n, live_n)}


# --- Satisfaction ---------------------------------------------------------------------------------------

def satisfaction_summary(ratings: pd.DataFrame, start: date, end: date, *, by: str, freq: str = "month") -> list[dict]:
    """Ratings given from `start` to `end` grouped by `by` ("product_id", "moment" or "period"):
    count, average rating and how many were low (LOW_RATING or less)."""
    rows = ratings[_in_range(ratings["created_at"], start, end)].copy()
    if rows.empty:
        return []
    if by == "period":
        rows["period"] = period_start(rows["created_at"], freq)
    rows["rating"] = rows["rating"].astype(int)
    rows["low"] = rows["rating"] <= LOW_RATING
    grouped = _grouped(rows, by, count=("rating", "size"), average=("rating", "mean"), low=("low", "sum"))
    return [{"key": key, "count": int(r["count"]), "average": float(r["average"]), "low": int(r["low"])}
            for key, r in grouped.sort_index().iterrows()]
