"""The dashboard pages: who may open them, what they show, and CSV exports equal to the tables."""

import csv
import io
from html.parser import HTMLParser

import pytest
from django.urls import reverse

from customers.models import AuditEvent
from customers.roles import Role
from installments.analytics import services
from installments.models import Experiment, KpiSnapshot, SegmentSummary, SummaryRange
from tests.analytics.books import TODAY, build_book
from tests.factories import WorkbenchProductFactory

pytestmark = pytest.mark.django_db


class TableParser(HTMLParser):
    """The cell texts of <table data-table="key"> (header row first)."""

    def __init__(self, key: str):
        super().__init__()
        self.key, self.depth, self.rows, self.cell = key, 0, [], None

    def handle_starttag(self, tag, attrs):
        if tag == "table" and dict(attrs).get("data-table") == self.key:
            self.depth = 1
        elif self.depth and tag == "tr":
            self.rows.append([])
        elif self.depth and tag in ("td", "th"):
            self.cell = ""

    def handle_endtag(self, tag):
        if self.depth and tag in ("td", "th"):
            self.rows[-1].append(self.cell.strip())
            self.cell = None
        elif tag == "table":
            self.depth = 0

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data


def html_table(html: str, key: str) -> list[list[str]]:
    parser = TableParser(key)
    parser.feed(html)
    return parser.rows


def csv_table(response) -> list[list[str]]:
    text = b"".join(response.streaming_content if response.streaming else [response.content]).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


@pytest.fixture
def refreshed():
    book = build_book()
    services.summaries_refresh(today=TODAY, range_kinds=[SummaryRange.LAST_12_MONTHS, SummaryRange.LAST_30_DAYS])
    return book


URL = reverse("dashboard:overview")


def test_a_manager_sees_the_dashboard(client_for, manager, refreshed):
    response = client_for(manager).get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    for canvas in ("applications-chart", "disbursed-chart", "par-chart", "buckets-chart", "vintage-chart",
                   "apr-chart"):
        assert f'id="{canvas}"' in html
    assert 'id="dashboard-chart-data"' in html and "js/dashboard.js" in html
    assert "<script>" not in html.replace('<script src=', '')  # no inline script (CSP)
    assert reverse("scoring_monitoring") in html  # PSI lives on the scoring page


@pytest.mark.parametrize("role", [Role.LOAN_OFFICER, Role.CUSTOMER, Role.COLLECTOR, Role.APPROVER])
def test_other_roles_get_403_everywhere(client_for, make_user, role):
    client = client_for(make_user(role))
    for name in ("overview", "segments", "satisfaction", "experiments"):
        assert client.get(reverse(f"dashboard:{name}")).status_code == 403
    assert client.get(reverse("dashboard:export", args=["kpis"])).status_code == 403
    assert client.post(reverse("dashboard:refresh")).status_code == 403


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get(URL)
    assert response.status_code == 302 and reverse("login") in response["Location"]


def test_admins_see_it_too(client_for, make_user):
    assert client_for(make_user(Role.ADMIN)).get(URL).status_code == 200


def test_before_the_first_refresh_the_page_says_so(client_for, manager):
    response = client_for(manager).get(URL)
    assert response.status_code == 200 and 'id="no-summaries"' in response.content.decode()


def test_csv_export_matches_each_table_on_the_page(client_for, manager, refreshed):
    client = client_for(manager)
    query = {"range": "12m", "product": refreshed.product.pk}
    html = client.get(URL, query).content.decode()
    for key in ("kpis", "applications", "disbursements", "par", "buckets", "roll-rates", "vintages"):
        shown = html_table(html, key)
        exported = csv_table(client.get(reverse("dashboard:export", args=[key]), query))
        assert len(shown) > 1 and shown == exported, key


def test_kpi_tiles_show_the_figures_of_the_selected_range_and_product(client_for, manager, refreshed):
    html = client_for(manager).get(URL, {"range": "30d", "product": refreshed.product.pk}).content.decode()
    rows = {row[0]: row[1] for row in html_table(html, "kpis")[1:]}
    assert rows["PAR30"] == "25.0 %"
    assert rows["Approval rate"] == "66.7 %"
    assert rows["Time to decision (median)"] == "4.0 h"
    assert rows["Outstanding principal"].startswith("2,000.00")


def test_segments_highlight_significantly_worse_segments_and_export_the_same(client_for, manager, refreshed):
    SegmentSummary.objects.filter(range_kind="12m", product=None, dimension="occupation").update(payload={
        "book": {"plans": 400, "bad": 60, "bad_rate": 0.15, "live": 300, "overdue_now": 30, "overdue_rate": 0.1},
        "rows": [
            {"segment": "student", "plans": 100, "bad": 40, "bad_rate": 0.4, "bad_rate_low": 0.31, "bad_rate_high": 0.5,
             "bad_p": 0.0001, "bad_worse": True, "live": 80, "overdue_now": 8, "overdue_rate": 0.1,
             "overdue_p": 0.9, "overdue_worse": False},
            {"segment": "farmer", "plans": 10, "bad": 8, "bad_rate": 0.8, "bad_rate_low": 0.49, "bad_rate_high": 0.94,
             "bad_p": 0.001, "bad_worse": False, "live": 5, "overdue_now": 1, "overdue_rate": 0.2,
             "overdue_p": 0.5, "overdue_worse": False},
        ]})
    client = client_for(manager)
    html = client.get(reverse("dashboard:segments"), {"range": "12m"}).content.decode()
    table = html_table(html, "segments-occupation")
    student = next(row for row in table if row[0].startswith("Student"))
    assert student[3] == "40.0 %" and "significantly worse" in student[-1]
    farmer = next(row for row in table if row[0].startswith("Farmer"))
    assert farmer[-1] == "too few plans to judge"
    assert 'class="text-end table-danger fw-semibold">40.0 %' in html
    exported = csv_table(client.get(reverse("dashboard:export", args=["segments-occupation"]), {"range": "12m"}))
    assert exported == table


def test_satisfaction_lists_low_ratings_for_follow_up(client_for, manager, refreshed):
    client = client_for(manager)
    html = client.get(reverse("dashboard:satisfaction"), {"range": "30d"}).content.decode()
    low = html_table(html, "low-ratings")
    assert low[1][-2:] == ["2", "The call took too long."]
    assert html_table(html, "satisfaction-products")[1][1:] == ["1", "2.00", "1"]
    assert csv_table(client.get(reverse("dashboard:export", args=["low-ratings"]), {"range": "30d"})) == low


def test_refresh_now_recomputes_and_is_audited(client_for, manager):
    from config.celery import app

    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True  # this unit runs the task in-process; test_tasks has the real worker
    try:
        response = client_for(manager).post(reverse("dashboard:refresh"), {"next": "/manager/segments/"})
    finally:
        app.conf.task_always_eager = eager
    assert response.status_code == 302 and response["Location"] == "/manager/segments/"
    assert KpiSnapshot.objects.count() == len(SummaryRange.values)  # an empty book: all products only
    assert AuditEvent.objects.filter(action="dashboard.summaries_refresh_request", actor=manager).exists()


def test_define_start_and_stop_an_experiment_on_the_page(client_for, manager):
    product = WorkbenchProductFactory()
    client = client_for(manager)
    response = client.post(reverse("dashboard:experiments"), {
        "key": "term-18", "name": "Default 18 months", "product": product.pk, "rate_adjustment": "",
        "default_term_months": "18", "ratio": "0.3", "start": "on"})
    experiment = Experiment.objects.get(key="term-18")
    assert response.status_code == 302 and experiment.state == "running"
    page = client.get(reverse("dashboard:experiment", args=[experiment.pk])).content.decode()
    assert "default term 18 months" in page and "experiment.state" in page
    results = html_table(page, f"experiment-{experiment.pk}")
    assert results[0][0] == "Measure" and len(results) == 1 + 3 * 3
    assert csv_table(client.get(reverse("dashboard:export", args=[f"experiment-{experiment.pk}"]))) == results
    client.post(reverse("dashboard:experiment_stop", args=[experiment.pk]), {"reason": "Seen enough."})
    experiment.refresh_from_db()
    assert experiment.state == "stopped" and experiment.stopped_by == manager
    listing = client.get(reverse("dashboard:experiments")).content.decode()
    assert html_table(listing, "experiments")[1][:2] == ["term-18", "Default 18 months"]


def test_an_invalid_experiment_is_refused_with_the_field_named(client_for, manager):
    product = WorkbenchProductFactory()
    response = client_for(manager).post(reverse("dashboard:experiments"), {
        "key": "too-much", "name": "Too much", "product": product.pk, "rate_adjustment": "9", "ratio": "0.5"})
    assert response.status_code == 400
    assert "within ±5 percentage points" in response.content.decode()
    assert not Experiment.objects.exists()


def test_unknown_exports_are_404(client_for, manager, refreshed):
    client = client_for(manager)
    assert client.get(reverse("dashboard:export", args=["segments-shoe-size"])).status_code == 404
    assert client.get(reverse("dashboard:export", args=["nothing"]), {"range": "12m"}).status_code == 404


def test_staff_home_shows_the_dashboard_card_and_link_to_managers(client_for, manager, officer):
    html = client_for(manager).get(reverse("staff_home")).content.decode()
    assert html.count(URL) >= 2  # nav link and card
    assert URL not in client_for(officer).get(reverse("staff_home")).content.decode()
