"""Verbs of the manager's dashboard: refresh the summary tables; read an experiment's results (its
verbs and the assignment are origination's: `installments.origination.experiments`).

`summaries_refresh` reads the book once into pandas frames (`book_load`: a handful of set-based
queries, money as integer cents computed in SQL), computes every figure with the pure functions
of `installments.analytics.portfolio` for each date range (`SummaryRange`) and product (and all products),
and replaces the `KpiSnapshot` / `SegmentSummary` rows in one transaction. The dashboard only
reads those rows, so it opens in the same time whatever the size of the book. It runs hourly
from Celery beat (`installments.tasks.refresh_management_summaries`), from the "refresh now"
button and from `manage.py refresh_summaries`.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import EmptyResultSet, PermissionDenied
from django.db import connection, transaction
from django.db.models import BigIntegerField, Count, F, FloatField, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Cast, Coalesce, Round
from django.utils import timezone

from customers import outbox
from customers.audit import audit_record
from customers.roles import Role
from installments.analytics import experiments
from installments.analytics import portfolio as analytics
from installments.models import (
    Application,
    Experiment,
    ExperimentAssignment,
    Installment,
    KpiSnapshot,
    LoanProduct,
    Plan,
    SegmentDimension,
    SegmentSummary,
    SummaryRange,
)

logger = logging.getLogger(__name__)

DASHBOARD_ROLES = (Role.MANAGER, Role.ADMIN)
WEEKLY_RANGES = (SummaryRange.LAST_30_DAYS, SummaryRange.LAST_90_DAYS)
REFRESH_LOCK = "installments:summaries_refresh"
REFRESH_LOCK_SECONDS = 30 * 60
OPEN_INSTALLMENT = ("pending", "due", "overdue")


def churn_days() -> int:
    """Days after a payoff within which a returning customer is not churned (DASHBOARD_CHURN_DAYS, 90)."""
    return int(getattr(settings, "DASHBOARD_CHURN_DAYS", 90))


# --- Loading the book ----------------------------------------------------------------------------------

def _cents(expression) -> Cast:
    """A money expression as integer minor units, rounded in SQL (exact sums in pandas)."""
    return Cast(Round(expression * Value(100)), output_field=BigIntegerField())


def _frame(queryset, columns: list[str]) -> pd.DataFrame:
    """Run a values_list queryset with a raw cursor (no per-row model conversion) into a frame."""
    try:
        sql, params = queryset.query.sql_with_params()
    except EmptyResultSet:  # e.g. `__in=[]`: nothing to read
        return pd.DataFrame(columns=columns)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return pd.DataFrame.from_records(rows, columns=columns)


def _local_datetimes(values: pd.Series) -> pd.Series:
    """Aware timestamps (PostgreSQL) or UTC text (SQLite) -> naive local time (TIME_ZONE)."""
    parsed = pd.to_datetime(values, utc=True, format="ISO8601")
    return parsed.dt.tz_convert(settings.TIME_ZONE).dt.tz_localize(None)


def _dates(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, format="ISO8601")


@dataclass
class Book:
    """The frames `installments.analytics.portfolio` works on (see its module docstring for the columns)."""

    today: date
    applications: pd.DataFrame
    plans: pd.DataFrame
    observations: pd.DataFrame
    cases: pd.DataFrame
    ratings: pd.DataFrame
    buckets: list[tuple[str, str]]
    products: list[LoanProduct]


def _month_end_dates(today: date) -> list[date]:
    """The last closed business day of every month before the current one (snapshots exist per
    closed day; the current month is read from the plans themselves)."""
    from collections_app.models import CobRun, PlanSnapshot

    days = set(CobRun.objects.filter(status=CobRun.Status.DONE).values_list("business_date", flat=True))
    if not days:  # snapshots written without run records (imports, tests): ask the snapshots
        days = set(PlanSnapshot.objects.values_list("business_date", flat=True).distinct())
    last: dict[int, date] = {}
    for day in days:
        index = analytics.month_index(day)
        if index < analytics.month_index(today) and (index not in last or day > last[index]):
            last[index] = day
    return sorted(last.values())


def book_load(*, today: date | None = None) -> Book:
    """Everything the summaries need, in a few set-based queries."""
    from collections_app.collections.buckets import buckets
    from collections_app.models import CollectionCase, Payment, PlanSnapshot
    from customers.models import SatisfactionRating

    today = today or timezone.localdate()
    applications = _frame(
        Application.objects.exclude(state=Application.State.DRAFT).order_by().values_list(
            "pk", "customer_id", "product_id", "state", "created_at", "submitted_at", "decided_at", "purpose",
            "income_pattern", "score_result__grade"),
        list(analytics.APPLICATION_COLUMNS))
    for column in ("created_at", "submitted_at", "decided_at"):
        applications[column] = _local_datetimes(applications[column])

    plans = _frame(
        Plan.objects.order_by().values_list(
            "pk", "application_id", "customer_id", "product_id", "method", _cents(F("principal")),
            "disbursement_date", "state", "days_past_due", "bucket", "closed_at",
            Cast("contract__offer__apr", output_field=FloatField()), "contract__offer__term_months", "currency",
            "application__purpose", "application__income_pattern", "application__score_result__grade",
            "customer__profile__date_of_birth", "customer__profile__occupation",
            "customer__profile__employment_type"),
        ["plan_id", "application_id", "customer_id", "product_id", "method", "principal_cents", "disbursement_date",
         "state", "days_past_due", "bucket", "closed_at", "apr", "term_months", "currency", "purpose",
         "income_pattern", "grade", "date_of_birth", "occupation", "employment_type"])
    plans["disbursement_date"] = _dates(plans["disbursement_date"])
    plans["closed_on"] = _local_datetimes(plans.pop("closed_at")).dt.normalize()
    plans["date_of_birth"] = _dates(plans["date_of_birth"])
    plans["apr"] = plans["apr"].astype(float)
    plans["term_months"] = plans["term_months"].fillna(0).astype(int)
    outstanding = _frame(
        Installment.objects.filter(status__in=OPEN_INSTALLMENT, plan__state__in=Plan.LIVE_STATES).order_by()
        .values("plan_id").annotate(cents=Sum(_cents(F("principal_due") - F("principal_paid"))))
        .values_list("plan_id", "cents"),
        ["plan_id", "outstanding_cents"])
    plans["outstanding_cents"] = plans["plan_id"].map(outstanding.set_index("plan_id")["outstanding_cents"]) \
        .fillna(0).astype("int64")
    plans["principal_cents"] = plans["principal_cents"].astype("int64")

    month_ends = _month_end_dates(today)
    snapshots = _frame(
        PlanSnapshot.objects.filter(business_date__in=month_ends).order_by().values_list(
            "plan_id", "business_date", "state", "days_past_due", "bucket", _cents(F("principal_outstanding"))),
        ["plan_id", "business_date", "state", "days_past_due", "bucket", "outstanding_cents"])
    snapshots["month"] = analytics.month_index(_dates(snapshots["business_date"])) if len(snapshots) else []
    configured = buckets()
    observations = analytics.with_live_flag(analytics.observations_with_current(snapshots, plans, today))
    observations = analytics.with_status(observations, [b.code for b in configured])
    observations["product_id"] = observations["plan_id"].map(plans.set_index("plan_id")["product_id"])

    collected = (Payment.objects.filter(plan=OuterRef("plan"), state=Payment.State.POSTED,
                                        received_on__gte=OuterRef("opened_on"),
                                        received_on__lte=Coalesce(OuterRef("closed_on"), Value(today)))
                 .exclude(channel=Payment.Channel.CREDIT).order_by().values("plan")
                 .annotate(total=Sum(_cents(F("amount")))).values("total"))
    cases = _frame(
        CollectionCase.objects.order_by().values_list(
            "pk", "plan_id", "opened_on", "closed_on", "close_reason", "status", _cents(F("amount_overdue")),
            Coalesce(Subquery(collected, output_field=BigIntegerField()), Value(0))),
        list(analytics.CASE_COLUMNS))
    cases["opened_on"] = _dates(cases["opened_on"])
    cases["closed_on"] = _dates(cases["closed_on"])
    cases["product_id"] = cases["plan_id"].map(plans.set_index("plan_id")["product_id"])

    ratings = _frame(
        SatisfactionRating.objects.order_by().values_list("pk", "application__product_id", "rating", "created_at",
                                                          "moment"),
        list(analytics.RATING_COLUMNS))
    ratings["created_at"] = _local_datetimes(ratings["created_at"])
    return Book(today=today, applications=applications, plans=plans, observations=observations, cases=cases,
                ratings=ratings, buckets=[(b.code, b.label) for b in configured],
                products=list(LoanProduct.objects.order_by("code")))


# --- Computing the summaries ---------------------------------------------------------------------------

def range_dates(kind: str, *, today: date, first_day: date | None = None) -> tuple[date, date]:
    """(start, end) of a summary range ending today: 30 or 90 days, the 12 calendar months to
    date, the year to date, or since `first_day` (the book's first date; at least 12 months)."""
    if kind == SummaryRange.LAST_30_DAYS:
        return today - timedelta(days=29), today
    if kind == SummaryRange.LAST_90_DAYS:
        return today - timedelta(days=89), today
    twelve = analytics.month_index(today) - 11
    twelve_start = date(twelve // 12, twelve % 12 + 1, 1)
    if kind == SummaryRange.LAST_12_MONTHS:
        return twelve_start, today
    if kind == SummaryRange.YEAR_TO_DATE:
        return date(today.year, 1, 1), today
    return min(first_day or twelve_start, twelve_start).replace(day=1), today


def _clean(value):
    """JSON-safe: NaN / inf -> None, numpy scalars -> Python, Decimal -> str."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Decimal):
        return str(value)
    return value


def _money(cents) -> str:
    return str(analytics.cents_to_decimal(cents))


def _records(frame: pd.DataFrame, money: tuple[str, ...] = ()) -> list[dict]:
    rows = frame.replace({np.nan: None}).to_dict("records")
    for row in rows:
        for column in money:
            row[column.removesuffix("_cents")] = _money(row.pop(column))
    return rows


def book_for_product(book: Book, product_id: int | None) -> Book:
    """The part of the book of one product (None: the whole book)."""
    if product_id is None:
        return book

    def of(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[frame["product_id"] == product_id]

    return Book(today=book.today, applications=of(book.applications), plans=of(book.plans),
                observations=of(book.observations), cases=of(book.cases), ratings=of(book.ratings),
                buckets=book.buckets, products=book.products)


def kpi_payload(book: Book, *, start: date, end: date, freq: str) -> dict:
    """The KPI snapshot of one range from a (product's) book (`book_for_product`)."""
    apps, plans, cases, ratings = book.applications, book.plans, book.cases, book.ratings
    observations = book.observations
    today = book.today
    bucket_codes = [code for code, _label in book.buckets]
    submitted = int(analytics._in_range(apps["submitted_at"], start, end).sum())
    approval = analytics.approval(apps, start, end)
    decision_time = analytics.time_to_decision(apps, start, end)
    disbursed = analytics.disbursed(plans, start, end)
    payoff = analytics.early_payoff(plans, start, end)
    churn = analytics.churn(plans, apps, start, end, today=today, within_days=churn_days())
    recovery = analytics.recovery(cases, start, end)
    live = analytics.live(plans)
    currencies = sorted(set(plans["currency"].dropna()))
    kpis = {
        "applications": submitted, **approval,
        "decision_count": decision_time["count"], "mean_hours": decision_time["mean_hours"],
        "median_hours": decision_time["median_hours"], "p90_hours": decision_time["p90_hours"],
        "disbursed_count": disbursed["count"], "disbursed_amount": _money(disbursed["amount_cents"]),
        "average_apr": disbursed["average_apr"], "average_term_months": disbursed["average_term_months"],
        "live_plans": len(live), "outstanding_principal": _money(analytics.outstanding_principal(plans)),
        **analytics.par_all(plans),
        **payoff,
        "churn_customers": churn["customers"], "churned": churn["churned"], "churn_rate": churn["churn_rate"],
        "churn_days": churn["within_days"],
        "cases": recovery["cases"], "cured": recovery["cured"], "cure_rate": recovery["cure_rate"],
        "collected": _money(recovery["collected_cents"]), "unresolved": _money(recovery["unresolved_cents"]),
        "recovery_rate": recovery["recovery_rate"],
    }
    first_month, last_month = analytics.month_index(start), analytics.month_index(today)
    par = analytics.par_trend(observations, first_month, last_month)
    counts, rates = analytics.roll_rates(observations, plans, bucket_codes, first_month, last_month)
    vintages = analytics.vintage_curves(plans, observations, today=today, start=start, end=end)
    vintage_rows = []
    if not vintages.empty:
        for cohort, group in vintages.groupby("cohort", sort=True):
            vintage_rows.append({"cohort": cohort, "cohort_size": int(group["cohort_size"].iloc[0]),
                                 "points": group.sort_values("months_on_book")["rate"].tolist()})
    labels = dict(book.buckets)
    buckets = analytics.bucket_distribution(plans, bucket_codes)
    buckets["label"] = buckets["bucket"].map(lambda code: labels.get(code, code))
    satisfaction = {
        "by_product": analytics.satisfaction_summary(ratings, start, end, by="product_id"),
        "by_period": analytics.satisfaction_summary(ratings, start, end, by="period"),
        "by_moment": analytics.satisfaction_summary(ratings, start, end, by="moment"),
    }
    in_range = ratings[analytics._in_range(ratings["created_at"], start, end)]
    satisfaction["count"] = len(in_range)
    satisfaction["average"] = float(in_range["rating"].astype(float).mean()) if len(in_range) else None
    satisfaction["low"] = int((in_range["rating"].astype(int) <= analytics.LOW_RATING).sum()) if len(in_range) else 0
    return _clean({
        "start": start.isoformat(), "end": end.isoformat(), "today": today.isoformat(), "freq": freq,
        "currency": currencies[0] if len(currencies) == 1 else ("mixed" if currencies else settings.DEFAULT_CURRENCY),
        "kpis": kpis,
        "applications_series": _records(analytics.applications_series(apps, start, end, freq)),
        "disbursement_series": _records(analytics.disbursement_series(plans, start, end, freq), ("amount_cents",)),
        "par_trend": [{"month": r["label"], "outstanding": _money(r["outstanding_cents"]), "par1": r["par1"],
                       "par30": r["par30"], "par90": r["par90"]} for r in par.to_dict("records")],
        "buckets": _records(buckets, ("outstanding_cents",)),
        "roll_rates": {"from": list(counts.index), "to": list(counts.columns),
                       "counts": counts.to_numpy().tolist(), "rates": rates.replace({np.nan: None}).to_numpy().tolist()},
        "vintages": vintage_rows,
        "satisfaction": satisfaction,
    })


def segment_payloads(book: Book, *, start: date, end: date) -> dict[str, dict]:
    """Per segment dimension: {"book": book_rates, "rows": segment_table} for the plans of a
    (product's) book disbursed in the range; the plans carry `analytics.plan_outcomes`' flags."""
    outcomes = book.plans
    rows = outcomes[analytics._in_range(outcomes["disbursement_date"], start, end)]
    book_rates = analytics.book_rates(rows)
    return {dimension: _clean({"book": book_rates, "rows": analytics.segment_table(rows, dimension)})
            for dimension in SegmentDimension.values}


@dataclass
class RefreshReport:
    snapshots: int
    segments: int
    plans: int
    duration_ms: int
    skipped: bool = False


def summaries_refresh(*, by=None, today: date | None = None, triggered_by: str = "",
                       range_kinds: Iterable[str] | None = None) -> RefreshReport:
    """Recompute every KPI snapshot and segment summary (each range x each product and all products;
    only the ranges in `range_kinds` when given, the others' rows are left as they are).

    One refresh at a time (a cache lock; a second caller returns `skipped`). The rows of a refresh
    replace the previous ones in one transaction, so the dashboard never shows half a refresh.
    Audited when a person asked for it.
    """
    token = uuid.uuid4().hex
    if not cache.add(REFRESH_LOCK, token, REFRESH_LOCK_SECONDS):
        logger.info("Summaries refresh skipped: another refresh is running.")
        return RefreshReport(snapshots=0, segments=0, plans=0, duration_ms=0, skipped=True)
    try:
        started = time.perf_counter()
        book = book_load(today=today)
        # Outcome flags (live, bad and when, overdue now, age band) once for the whole book.
        outcomes = analytics.plan_outcomes(book.plans, book.observations, today=book.today)
        book.plans = outcomes
        first_days = [d for d in (book.applications["created_at"].min(), book.plans["disbursement_date"].min())
                      if d is not None and not pd.isna(d)]
        first_day = min(first_days).date() if first_days else None
        keys = [None, *[p.pk for p in book.products]]
        snapshots, segments = [], []
        now = timezone.now()
        kinds = [k for k in SummaryRange.values if range_kinds is None or k in set(range_kinds)]
        for product_id in keys:
            part = book_for_product(book, product_id)
            for kind in kinds:
                start, end = range_dates(kind, today=book.today, first_day=first_day)
                freq = "week" if kind in WEEKLY_RANGES else "month"
                snapshots.append(KpiSnapshot(
                    range_kind=kind, product_id=product_id, period_start=start, period_end=end, computed_at=now,
                    payload=kpi_payload(part, start=start, end=end, freq=freq)))
                for dimension, payload in segment_payloads(part, start=start, end=end).items():
                    segments.append(SegmentSummary(range_kind=kind, product_id=product_id, dimension=dimension,
                                                   computed_at=now, payload=payload))
        duration_ms = int((time.perf_counter() - started) * 1000)
        for snapshot in snapshots:
            snapshot.duration_ms = duration_ms
        with transaction.atomic():
            KpiSnapshot.objects.filter(range_kind__in=kinds).delete()
            SegmentSummary.objects.filter(range_kind__in=kinds).delete()
            KpiSnapshot.objects.bulk_create(snapshots)
            SegmentSummary.objects.bulk_create(segments)
            if by is not None:
                audit_record(actor=by, action="dashboard.summaries_refresh", reason=triggered_by,
                             data={"snapshots": len(snapshots), "duration_ms": duration_ms})
        logger.info("Summaries refreshed (%s): %s snapshots, %s plans in %s ms", triggered_by or "direct",
                    len(snapshots), len(book.plans), duration_ms)
        return RefreshReport(snapshots=len(snapshots), segments=len(segments), plans=len(book.plans),
                             duration_ms=duration_ms)
    finally:
        if cache.get(REFRESH_LOCK) == token:
            cache.delete(REFRESH_LOCK)


def summaries_refresh_enqueue(*, by) -> bool:
    """The "refresh now" button: queue the refresh now through the outbox (in-process without a broker).
    Returns False when the broker cannot take it now (the outbox dispatcher sends it later)."""
    if by is None or not by.has_role(*DASHBOARD_ROLES):
        raise PermissionDenied
    audit_record(actor=by, action="dashboard.summaries_refresh_request")
    row = outbox.enqueue("installments.tasks.refresh_management_summaries",
                         kwargs={"triggered_by": f"user:{by.pk}"}, at_once=True)
    return row.dispatched_at is not None


# --- Experiment results -----------------------------------------------------------------------------

def experiment_units(experiment: Experiment, *, today: date | None = None) -> pd.DataFrame:
    """One row per assigned customer's first application in the experiment: arm, took_up (a
    contract accepted), apr of the accepted offer, early_delinquent (more than 30 days past due
    within the first EARLY_DELINQUENCY_MONTHS months on book; NaN while too young or without a plan)."""
    from dateutil.relativedelta import relativedelta

    from collections_app.models import PlanSnapshot
    from installments.models import Contract

    today = today or timezone.localdate()
    accepted = Contract.objects.filter(application=OuterRef("application"), accepted_at__isnull=False)
    accepted_apr = accepted.order_by("-version").values("offer__apr")[:1]
    rows = list(ExperimentAssignment.objects.filter(experiment=experiment, application__isnull=False)
                .annotate(apr=Subquery(accepted_apr)).values_list(
                    "arm", "application_id", "apr", "application__plan__pk", "application__plan__disbursement_date",
                    "application__plan__days_past_due"))
    months = experiments.EARLY_DELINQUENCY_MONTHS
    plan_ids = [r[3] for r in rows if r[3]]
    first_late: dict[int, date] = {}
    for plan_id, day in (PlanSnapshot.objects.filter(plan_id__in=plan_ids,
                                                     days_past_due__gte=experiments.EARLY_DELINQUENCY_DAYS)
                         .order_by("plan_id", "business_date").values_list("plan_id", "business_date")):
        first_late.setdefault(plan_id, day)
    units = []
    for arm, _application_id, apr, plan_id, disbursed, dpd in rows:
        early = np.nan
        if plan_id:
            window_end = disbursed + relativedelta(months=months)
            late = first_late.get(plan_id)
            if (late is not None and late <= window_end) or (
                    today <= window_end and (dpd or 0) >= experiments.EARLY_DELINQUENCY_DAYS):
                early = True
            elif today > window_end:
                early = False
        units.append({"arm": arm, "took_up": apr is not None, "apr": float(apr) if apr is not None else np.nan,
                      "early_delinquent": early})
    return pd.DataFrame(units, columns=["arm", "took_up", "apr", "early_delinquent"])


def experiment_results(experiment: Experiment) -> dict:
    """Arms compared (`experiments.compare_arms`) plus how many customers each arm has."""
    units = experiment_units(experiment)
    rows = ExperimentAssignment.objects.filter(experiment=experiment).values("arm").annotate(n=Count("id"))
    assigned = {arm: 0 for arm in experiments.ARMS} | {r["arm"]: r["n"] for r in rows}
    return _clean({"assigned": assigned, "comparison": experiments.compare_arms(units)})


__all__ = [
    "Book", "DASHBOARD_ROLES", "RefreshReport", "book_load", "experiment_results", "kpi_payload", "range_dates",
    "segment_payloads", "summaries_refresh", "summaries_refresh_enqueue",
]
