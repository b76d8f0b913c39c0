"""Browser: a manager opens the dashboard on a demo-like book and every chart is drawn (screenshots
in test-artifacts/dashboard/)."""

from pathlib import Path

import pytest

from customers.roles import Role
from installments.analytics import services as dashboard_services
from tests.analytics.books import demo_like_book
from tests.conftest import complete_two_factor
from tests.factories import TEST_PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboard"
CHARTS = ("applications-chart", "disbursed-chart", "par-chart", "buckets-chart", "vintage-chart", "apr-chart")


def drawn(page, canvas_id: str) -> int:
    """How many data points Chart.js holds for the chart on `canvas_id` (0: not drawn)."""
    return page.evaluate("""(id) => {
        const chart = window.Chart && window.Chart.getChart(document.getElementById(id));
        return chart ? chart.data.datasets.reduce((n, d) => n + d.data.filter((v) => v !== null).length, 0) : 0;
    }""", canvas_id)


def test_manager_sees_the_dashboard_charts(browser_page, make_user, settings):
    from django.core.cache import cache

    # Ninety customers are made below; PBKDF2's deliberate slowness is not under test (login still checks).
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    products = demo_like_book()
    cache.delete(dashboard_services.REFRESH_LOCK)
    assert not dashboard_services.summaries_refresh(triggered_by="browser-test").skipped
    manager = make_user(Role.MANAGER, email="manager.dash@example.com")
    page, base = browser_page, browser_page.live_server_url
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("response", lambda response: errors.append(f"{response.status} {response.url}")
            if response.status >= 400 and not response.url.endswith("/favicon.ico") else None)
    page.set_viewport_size({"width": 1400, "height": 1000})

    page.goto(base + "/accounts/login/?next=/manager/")
    page.fill("#id_username", manager.email)
    page.fill("#id_password", TEST_PASSWORD)
    page.locator("form [type=submit]").last.click()
    complete_two_factor(page, manager)  # every staff role passes the TOTP step
    page.wait_for_url("**/manager/")
    page.wait_for_function("() => window.Chart && window.Chart.getChart(document.getElementById('par-chart'))")
    for canvas in CHARTS:
        assert drawn(page, canvas) > 0, canvas
    assert page.locator("#kpi-tiles [data-kpi]").count() >= 12
    assert page.locator("table[data-table=roll-rates] tbody tr").count() == 5
    page.screenshot(path=str(ARTIFACTS / "01-overview.png"), full_page=True)

    # Filter: one product, the last 90 days (weekly points).
    page.select_option("#id_product", str(products[1].pk))
    page.select_option("#id_range", "90d")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(f"**/manager/?range=90d&product={products[1].pk}")
    page.wait_for_function("() => window.Chart && window.Chart.getChart(document.getElementById('applications-chart'))")
    assert drawn(page, "applications-chart") > 0
    assert "Education plans" in page.inner_text("#main")
    page.screenshot(path=str(ARTIFACTS / "02-overview-product-90-days.png"), full_page=True)

    page.get_by_role("link", name="Segments").click()
    page.wait_for_selector("table[data-table=segments-purpose]")
    page.screenshot(path=str(ARTIFACTS / "03-segments.png"), full_page=True)

    page.goto(base + "/manager/satisfaction/?range=all")
    page.wait_for_function("() => window.Chart && window.Chart.getChart(document.getElementById('satisfaction-chart'))")
    assert drawn(page, "satisfaction-chart") > 0
    assert "Hard to reach anyone by phone." in page.inner_text("table[data-table=low-ratings]")
    page.screenshot(path=str(ARTIFACTS / "04-satisfaction.png"), full_page=True)

    page.goto(base + "/manager/experiments/")
    page.fill("#id_key", "cheaper-everyday")
    page.fill("#id_name", "Everyday half a point cheaper")
    page.select_option("#id_product", str(products[0].pk))
    page.fill("#id_rate_adjustment", "-0.5")
    page.get_by_role("button", name="Save the experiment").click()
    page.wait_for_url("**/manager/experiments/*/")
    assert page.inner_text("#experiment-state") == "Running"
    page.screenshot(path=str(ARTIFACTS / "05-experiment.png"), full_page=True)
    assert not errors, errors
