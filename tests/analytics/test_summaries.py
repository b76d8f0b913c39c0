"""The refresh job on a hand-built book (tests/analytics/books.py): the stored figures are the known answers."""

from datetime import date

import pytest

from installments.analytics import services
from installments.models import KpiSnapshot, SegmentSummary, SummaryRange
from tests.analytics.books import TODAY, build_book

pytestmark = pytest.mark.django_db


@pytest.fixture
def book():
    return build_book()


def refresh(*kinds):
    report = services.summaries_refresh(today=TODAY, range_kinds=kinds or None)
    assert not report.skipped
    return report


def payload(range_kind, product=None):
    return KpiSnapshot.objects.get(range_kind=range_kind, product=product).payload


def test_kpis_of_the_hand_built_book(book):
    refresh(SummaryRange.LAST_30_DAYS, SummaryRange.LAST_12_MONTHS)
    p = payload(SummaryRange.LAST_30_DAYS, book.product)
    k = p["kpis"]
    assert k["par30"] == pytest.approx(0.25)
    assert k["par1"] == pytest.approx(0.5) and k["par90"] == pytest.approx(0.1)
    assert k["outstanding_principal"] == "2000.00" and k["live_plans"] == 4
    assert (k["applications"], k["decided"], k["approved"], k["declined"]) == (3, 3, 2, 1)
    assert k["approval_rate"] == pytest.approx(2 / 3)
    assert k["median_hours"] == pytest.approx(4) and k["mean_hours"] == pytest.approx(12)
    year = payload(SummaryRange.LAST_12_MONTHS, book.product)["kpis"]
    assert year["disbursed_count"] == 4 and year["disbursed_amount"] == "2000.00"
    assert year["average_apr"] == pytest.approx(12.0)
    assert year["cases"] == 1 and year["collected"] == "50.00" and year["unresolved"] == "250.00"
    assert year["recovery_rate"] == pytest.approx(50 / 300)


def test_roll_rate_and_vintage_point_from_month_end_snapshots(book):
    refresh(SummaryRange.LAST_12_MONTHS)
    p = payload(SummaryRange.LAST_12_MONTHS, book.product)
    roll = p["roll_rates"]
    current = roll["from"].index("current")
    assert roll["counts"][current][:2] == [2, 1] and sum(roll["counts"][current]) == 3
    assert roll["rates"][current][roll["to"].index("1-30")] == pytest.approx(1 / 3)
    # C at 20 days on 31 March (not the mid-March 90) rolled to 31-60 by 30 April.
    one_to_thirty = roll["from"].index("1-30")
    assert roll["counts"][one_to_thirty][roll["to"].index("31-60")] == 1
    january = next(v for v in p["vintages"] if v["cohort"] == "2026-01")
    assert january["cohort_size"] == 4
    assert january["points"] == pytest.approx([0, 0, 0.25, 0.5, 0.5])
    par = {row["month"]: row["par30"] for row in p["par_trend"]}
    assert par["2026-03"] == pytest.approx(0.1)  # D (200) at 70 days of 2,000
    assert par["2026-04"] == pytest.approx(0.25)  # C (300) and D (200) 31+ of 2,000
    assert par["2026-05"] == pytest.approx(0.25)


def test_every_range_and_product_gets_a_snapshot_and_segments(book):
    report = refresh()
    kinds = len(SummaryRange.values)
    assert report.snapshots == kinds * 2  # all products + the one product
    assert KpiSnapshot.objects.filter(product=None).count() == kinds
    grade = SegmentSummary.objects.get(range_kind=SummaryRange.LAST_12_MONTHS, product=book.product,
                                       dimension="purpose")
    assert grade.payload["book"]["plans"] == 4 and grade.payload["book"]["bad"] == 2
    assert sum(row["plans"] for row in grade.payload["rows"]) == 4
    # A second refresh replaces the rows, it does not add to them; a partial one only its ranges'.
    refresh(SummaryRange.YEAR_TO_DATE)
    assert KpiSnapshot.objects.count() == kinds * 2
    assert KpiSnapshot.objects.filter(range_kind=SummaryRange.YEAR_TO_DATE).values("computed_at").distinct().count() == 1


def test_summaries_of_an_empty_book_are_empty_not_errors(db):
    report = services.summaries_refresh(today=date(2026, 5, 15), range_kinds=[SummaryRange.ALL_TIME])
    k = payload(SummaryRange.ALL_TIME)["kpis"]
    assert report.plans == 0 and k["par30"] is None and k["approval_rate"] is None


def test_a_refresh_already_running_is_skipped(book):
    from django.core.cache import cache

    cache.add(services.REFRESH_LOCK, "other", 60)
    try:
        assert services.summaries_refresh(today=TODAY).skipped
    finally:
        cache.delete(services.REFRESH_LOCK)
    assert not KpiSnapshot.objects.exists()


def test_range_dates():
    assert services.range_dates("30d", today=TODAY) == (date(2026, 4, 16), TODAY)
    assert services.range_dates("12m", today=TODAY) == (date(2025, 6, 1), TODAY)
    assert services.range_dates("ytd", today=TODAY) == (date(2026, 1, 1), TODAY)
    assert services.range_dates("all", today=TODAY, first_day=date(2023, 3, 9)) == (date(2023, 3, 1), TODAY)
