"""The dashboard's figures on hand-built frames with answers worked out by hand (no database)."""

from datetime import date, datetime

import pandas as pd
import pytest

from installments.analytics import portfolio as analytics

BUCKETS = ["current", "1-30", "31-60", "61-90", "90+"]
JAN, FEB = analytics.month_index(date(2026, 1, 31)), analytics.month_index(date(2026, 2, 28))


def plans_frame(rows: list[dict]) -> pd.DataFrame:
    defaults = {"application_id": 0, "customer_id": 0, "product_id": 1, "method": "annuity", "principal_cents": 100000,
                "disbursement_date": pd.Timestamp("2026-01-05"), "state": "active", "days_past_due": 0,
                "bucket": "current", "closed_on": pd.NaT, "apr": 12.0, "term_months": 12, "outstanding_cents": 0}
    frame = pd.DataFrame([{**defaults, **row} for row in rows])
    frame["disbursement_date"] = pd.to_datetime(frame["disbursement_date"])
    frame["closed_on"] = pd.to_datetime(frame["closed_on"])
    return frame


def observations_frame(rows: list[tuple]) -> pd.DataFrame:
    """(plan_id, month, state, days_past_due, bucket, outstanding_cents)"""
    return pd.DataFrame(rows, columns=list(analytics.OBSERVATION_COLUMNS))


def applications_frame(rows: list[dict]) -> pd.DataFrame:
    defaults = {"customer_id": 1, "product_id": 1, "state": "approved", "created_at": pd.NaT, "submitted_at": pd.NaT,
                "decided_at": pd.NaT, "purpose": "other", "income_pattern": "regular", "grade": "C"}
    frame = pd.DataFrame([{**defaults, "application_id": i, **row} for i, row in enumerate(rows, start=1)])
    for column in ("created_at", "submitted_at", "decided_at"):
        frame[column] = pd.to_datetime(frame[column])
    return frame


# --- The book now -----------------------------------------------------------------------------------------

@pytest.fixture
def book_now():
    return plans_frame([
        {"plan_id": 1, "outstanding_cents": 100000},
        {"plan_id": 2, "state": "overdue", "days_past_due": 10, "bucket": "1-30", "outstanding_cents": 50000},
        {"plan_id": 3, "state": "overdue", "days_past_due": 45, "bucket": "31-60", "outstanding_cents": 30000},
        {"plan_id": 4, "state": "overdue", "days_past_due": 120, "bucket": "90+", "outstanding_cents": 20000},
        {"plan_id": 5, "state": "paid_off", "closed_on": "2026-02-10", "outstanding_cents": 0},
        {"plan_id": 6, "state": "written_off", "days_past_due": 200, "bucket": "90+", "outstanding_cents": 99900},
    ])


def test_par30_is_the_share_of_live_principal_more_than_30_days_past_due(book_now):
    # Live outstanding 2,000.00: 1,000 current, 500 at 10 days, 300 at 45, 200 at 120 (the written-off
    # plan is not live).
    assert analytics.portfolio_at_risk(book_now, 31) == pytest.approx(0.25)
    assert analytics.par_all(book_now) == pytest.approx({"par1": 0.5, "par30": 0.25, "par90": 0.1})
    assert analytics.outstanding_principal(book_now) == 200000


def test_bucket_distribution_counts_live_plans_and_principal_in_bucket_order(book_now):
    frame = analytics.bucket_distribution(book_now, BUCKETS)
    assert frame["bucket"].tolist() == BUCKETS
    assert frame["plans"].tolist() == [1, 1, 1, 0, 1]
    assert frame["outstanding_cents"].tolist() == [100000, 50000, 30000, 0, 20000]
    assert frame["share"].tolist()[0] == pytest.approx(0.5)


def test_par_with_nothing_outstanding_is_unknown_not_zero():
    assert analytics.portfolio_at_risk(plans_frame([{"plan_id": 1, "state": "paid_off"}]), 31) is None


# --- Roll rates -----------------------------------------------------------------------------------------

def test_roll_rate_from_current_to_1_30_month_over_month(book_now):
    observations = observations_frame([
        (1, JAN, "active", 0, "current", 110000), (2, JAN, "active", 0, "current", 55000),
        (3, JAN, "overdue", 20, "1-30", 33000), (4, JAN, "overdue", 70, "61-90", 22000),
        (5, JAN, "active", 0, "current", 10000),
        (1, FEB, "active", 0, "current", 100000), (2, FEB, "overdue", 10, "1-30", 50000),
        (3, FEB, "overdue", 45, "31-60", 30000), (4, FEB, "overdue", 100, "90+", 20000),
        # plan 5 paid off on 10 February: no February month-end row, its final state says where it went.
    ])
    counts, rates = analytics.roll_rates(observations, book_now, BUCKETS, FEB, FEB)
    assert counts.loc["current"].to_dict() == {"current": 1, "1-30": 1, "31-60": 0, "61-90": 0, "90+": 0,
                                               "paid_off": 1, "written_off": 0}
    assert rates.loc["current", "1-30"] == pytest.approx(1 / 3)
    assert rates.loc["1-30", "31-60"] == 1.0
    assert rates.loc["61-90", "90+"] == 1.0
    assert rates.loc["31-60"].isna().all()  # nobody was 31-60 at the end of January
    # Outside the range of the later month: nothing.
    empty_counts, _rates = analytics.roll_rates(observations, book_now, BUCKETS, FEB + 1, FEB + 2)
    assert int(empty_counts.to_numpy().sum()) == 0


# --- Vintages -------------------------------------------------------------------------------------------

def test_vintage_point_is_the_cumulative_share_ever_31_plus_days_past_due():
    plans = plans_frame([
        {"plan_id": 1, "disbursement_date": "2026-01-10"},
        {"plan_id": 2, "disbursement_date": "2026-01-12"},
        {"plan_id": 3, "disbursement_date": "2026-01-20", "state": "overdue", "days_past_due": 5, "bucket": "1-30"},
        {"plan_id": 4, "disbursement_date": "2026-01-25", "state": "written_off", "closed_on": "2026-04-20"},
        {"plan_id": 9, "disbursement_date": "2026-03-02"},  # another cohort
    ])
    observations = observations_frame([
        (1, JAN + 1, "overdue", 10, "1-30", 1), (1, JAN + 2, "overdue", 40, "31-60", 1),  # bad at MOB 2
        (1, JAN + 3, "active", 0, "current", 1),  # cured later: still counted (ever bad)
        (2, JAN + 1, "active", 0, "current", 1),
        (3, JAN + 1, "overdue", 35, "31-60", 1),  # bad at MOB 1
        (4, JAN + 1, "overdue", 20, "1-30", 1),  # written off in April = MOB 3, never seen 31+
    ])
    curves = analytics.vintage_curves(plans, observations, today=date(2026, 5, 15), start=date(2026, 1, 1),
                                      end=date(2026, 5, 15))
    january = curves[curves["cohort"] == "2026-01"]
    assert january["months_on_book"].tolist() == [0, 1, 2, 3, 4]
    assert january["rate"].tolist() == pytest.approx([0, 0.25, 0.5, 0.75, 0.75])
    assert set(january["cohort_size"]) == {4}
    march = curves[curves["cohort"] == "2026-03"]
    assert march["months_on_book"].tolist() == [0, 1, 2]


def test_par_trend_uses_each_month_end():
    observations = observations_frame([
        (1, JAN, "active", 0, "current", 80000), (2, JAN, "overdue", 40, "31-60", 20000),
        (1, FEB, "active", 0, "current", 70000), (2, FEB, "overdue", 95, "90+", 30000),
        (3, FEB, "paid_off", 0, "current", 0),
    ])
    trend = analytics.par_trend(observations, JAN, FEB)
    assert trend["label"].tolist() == ["2026-01", "2026-02"]
    assert trend["par30"].tolist() == pytest.approx([0.2, 0.3])
    assert trend["par90"].tolist() == pytest.approx([0.0, 0.3])


# --- Origination ------------------------------------------------------------------------------------------

@pytest.fixture
def decisions():
    return applications_frame([
        {"state": "approved", "submitted_at": datetime(2026, 3, 2, 9), "decided_at": datetime(2026, 3, 2, 11)},
        {"state": "active", "submitted_at": datetime(2026, 3, 3, 9), "decided_at": datetime(2026, 3, 3, 13)},
        {"state": "withdrawn", "submitted_at": datetime(2026, 3, 4, 9), "decided_at": datetime(2026, 3, 4, 15)},
        {"state": "declined", "submitted_at": datetime(2026, 3, 5, 9), "decided_at": datetime(2026, 3, 6, 9)},
        {"state": "declined", "submitted_at": datetime(2026, 2, 1, 9), "decided_at": datetime(2026, 2, 2, 9)},
        {"state": "in_review", "submitted_at": datetime(2026, 3, 9, 9)},
    ])


def test_approval_rate_is_approved_over_decided_in_the_range(decisions):
    result = analytics.approval(decisions, date(2026, 3, 1), date(2026, 3, 31))
    # Approved, then active and withdrawn after approval count as approved; February's decision is out.
    assert result == {"decided": 4, "approved": 3, "declined": 1, "approval_rate": 0.75}


def test_time_to_decision_in_hours(decisions):
    result = analytics.time_to_decision(decisions, date(2026, 3, 1), date(2026, 3, 31))
    assert result["count"] == 4
    assert result["mean_hours"] == pytest.approx((2 + 4 + 6 + 24) / 4)
    assert result["median_hours"] == pytest.approx(5)


def test_applications_series_has_every_month_of_the_range(decisions):
    frame = analytics.applications_series(decisions, date(2026, 1, 1), date(2026, 3, 31), "month")
    assert frame["period"].tolist() == ["2026-01", "2026-02", "2026-03"]
    assert frame["submitted"].tolist() == [0, 1, 5]
    rates = frame["approval_rate"].tolist()
    assert pd.isna(rates[0]) and rates[1:] == [0.0, 0.75]  # no decision in January: unknown, not 0


def test_disbursed_count_amount_average_apr_and_term():
    plans = plans_frame([
        {"plan_id": 1, "disbursement_date": "2026-03-01", "principal_cents": 1000000, "apr": 10.0, "term_months": 12},
        {"plan_id": 2, "disbursement_date": "2026-03-31", "principal_cents": 500050, "apr": 20.0, "term_months": 24},
        {"plan_id": 3, "disbursement_date": "2026-04-01", "principal_cents": 999, "apr": 99.0},
    ])
    result = analytics.disbursed(plans, date(2026, 3, 1), date(2026, 3, 31))
    assert result == {"count": 2, "amount_cents": 1500050, "average_apr": 15.0, "average_term_months": 18.0}
    assert str(analytics.cents_to_decimal(result["amount_cents"])) == "15000.50"


# --- After the plan ------------------------------------------------------------------------------------------

def test_early_payoff_is_paid_off_before_the_last_installments_month():
    plans = plans_frame([
        {"plan_id": 1, "state": "paid_off", "disbursement_date": "2025-06-10", "term_months": 6,
         "closed_on": "2025-10-01"},  # maturity December: early
        {"plan_id": 2, "state": "paid_off", "disbursement_date": "2025-06-10", "term_months": 6,
         "closed_on": "2025-12-10"},  # on schedule
        {"plan_id": 3, "state": "written_off", "closed_on": "2025-10-01"},
    ])
    assert analytics.early_payoff(plans, date(2025, 1, 1), date(2025, 12, 31)) == {
        "paid_off": 2, "early": 1, "early_payoff_rate": 0.5}


def test_churn_counts_customers_who_did_not_apply_again_within_the_window():
    plans = plans_frame([
        {"plan_id": 1, "customer_id": 1, "state": "paid_off", "closed_on": "2026-01-10"},
        {"plan_id": 2, "customer_id": 2, "state": "paid_off", "closed_on": "2026-01-15"},
        {"plan_id": 3, "customer_id": 3, "state": "paid_off", "closed_on": "2026-05-01"},  # window not over
    ])
    applications = applications_frame([
        {"customer_id": 1, "created_at": datetime(2026, 2, 20)},  # returned after 41 days
        {"customer_id": 2, "created_at": datetime(2025, 12, 1)},  # before the payoff: not a return
    ])
    result = analytics.churn(plans, applications, date(2026, 1, 1), date(2026, 5, 31), today=date(2026, 6, 1),
                             within_days=90)
    assert result == {"customers": 2, "returned": 1, "churned": 1, "churn_rate": 0.5, "within_days": 90}


def test_collections_recovery_and_cure_rate():
    cases = pd.DataFrame([
        (1, 1, pd.Timestamp("2026-03-01"), pd.Timestamp("2026-03-20"), "cured", "closed", 0, 30000),
        (2, 2, pd.Timestamp("2026-03-05"), pd.NaT, "", "open", 50000, 20000),
        (3, 3, pd.Timestamp("2026-03-07"), pd.Timestamp("2026-05-01"), "written_off", "closed", 30000, 0),
        (4, 4, pd.Timestamp("2025-12-07"), pd.NaT, "", "open", 99999, 0),  # opened before the range
    ], columns=list(analytics.CASE_COLUMNS))
    result = analytics.recovery(cases, date(2026, 3, 1), date(2026, 3, 31))
    assert result["cases"] == 3 and result["cured"] == 1
    assert result["collected_cents"] == 50000 and result["unresolved_cents"] == 80000
    assert result["recovery_rate"] == pytest.approx(50000 / 130000)


# --- Segments and significance --------------------------------------------------------------------------

def test_wilson_interval_and_two_proportion_test_known_values():
    low, high = analytics.wilson_interval(10, 100)
    assert (low, high) == pytest.approx((0.0552, 0.1744), abs=1e-4)
    z, p = analytics.two_proportion_test(40, 100, 90, 900)
    # pooled 0.13, se = sqrt(0.13 x 0.87 x (1/100 + 1/900)) = 0.03545, z = 0.3 / se
    assert z == pytest.approx(8.463, abs=1e-3) and p < 1e-6
    assert analytics.two_proportion_test(0, 0, 1, 10) == (None, None)


def _outcomes(segments: dict[str, tuple[int, int]]) -> pd.DataFrame:
    rows, plan_id = [], 0
    for segment, (plans, bad) in segments.items():
        for i in range(plans):
            plan_id += 1
            rows.append({"plan_id": plan_id, "occupation": segment, "bad": i < bad, "is_live": True,
                         "overdue_now": i < bad})
    return pd.DataFrame(rows)


def test_segment_flagged_only_when_significantly_worse_with_enough_plans():
    outcomes = _outcomes({"office_worker": (800, 70), "student": (100, 40), "teacher": (100, 12), "farmer": (10, 8)})
    rows = {r["segment"]: r for r in analytics.segment_table(outcomes, "occupation")}
    assert rows["student"]["bad_worse"] and rows["student"]["overdue_worse"]
    assert rows["student"]["plans"] == 100 and rows["student"]["bad"] == 40 and rows["student"]["bad_rate"] == 0.4
    assert rows["student"]["bad_rate_low"] < 0.4 < rows["student"]["bad_rate_high"]
    assert not rows["teacher"]["bad_worse"]  # 12 % against 9.7 %: not significant
    assert not rows["farmer"]["bad_worse"]  # 80 % but only 10 plans: never flagged
    assert rows["farmer"]["bad_p"] < 0.05
    assert not rows["office_worker"]["bad_worse"]  # better than the rest
    assert [r["segment"] for r in analytics.segment_table(outcomes, "occupation")][0] == "office_worker"


def test_age_band_at_the_given_date():
    born = pd.Series(pd.to_datetime(["2000-06-15", "2000-06-15", "1960-01-01", None]))
    on = pd.Series(pd.to_datetime(["2025-06-14", "2025-06-15", "2026-01-01", "2026-01-01"]))
    assert analytics.age_band(born, on).tolist() == ["18-24", "25-34", "55+", "unknown"]


def test_satisfaction_average_and_low_ratings_by_product():
    ratings = pd.DataFrame([
        (1, 1, 5, pd.Timestamp("2026-03-01"), "after_contract"), (2, 1, 2, pd.Timestamp("2026-03-02"), "after_payoff"),
        (3, 2, 1, pd.Timestamp("2026-04-02"), "after_contract"), (4, 2, 4, pd.Timestamp("2025-04-02"), "after_payoff"),
    ], columns=list(analytics.RATING_COLUMNS))
    by_product = analytics.satisfaction_summary(ratings, date(2026, 1, 1), date(2026, 12, 31), by="product_id")
    assert by_product == [{"key": 1, "count": 2, "average": 3.5, "low": 1}, {"key": 2, "count": 1, "average": 1.0,
                                                                             "low": 1}]
    by_month = analytics.satisfaction_summary(ratings, date(2026, 1, 1), date(2026, 12, 31), by="period")
    assert [r["key"] for r in by_month] == ["2026-03", "2026-04"]
