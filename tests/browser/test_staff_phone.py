"""Browser: the officer's queue, approvals and an application page fit a phone screen in English and
Chinese (a visually-hidden label inside a scrolling table once widened the whole queue page to 843 px)."""

import pytest

from customers.roles import Role
from tests.conftest import complete_two_factor
from tests.factories import TEST_PASSWORD, workbench_case

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 375, "height": 812}


def test_the_officer_pages_fit_a_phone(browser_page, make_user, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    officer = make_user(Role.LOAN_OFFICER, email="officer.phone@example.com")
    make_user(Role.LOAN_OFFICER, email="colleague.phone@example.com")  # the assign select lists colleagues
    application = workbench_case()
    page, base = browser_page, browser_page.live_server_url
    page.goto(base + "/accounts/login/?next=/staff/applications/")
    page.fill("#id_username", officer.email)
    page.fill("#id_password", TEST_PASSWORD)
    page.locator("form [type=submit]").last.click()
    complete_two_factor(page, officer)
    page.wait_for_url("**/staff/applications/")
    page.set_viewport_size(PHONE)
    for language in ("en", "zh-hans"):
        page.context.add_cookies([{"name": "django_language", "value": language, "url": base}])
        for path in ("/staff/applications/", "/staff/approvals/", f"/staff/applications/{application.pk}/"):
            page.goto(base + path)
            assert page.locator("main").count() == 1
            width = page.evaluate("() => document.documentElement.scrollWidth")
            assert width <= PHONE["width"], f"{path} ({language}) is {width}px wide on a {PHONE['width']}px screen"
