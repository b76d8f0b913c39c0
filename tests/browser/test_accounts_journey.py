"""A newcomer signs up (confirming by the mailed link), logs out, logs in again and switches the language,
in a real browser."""

import pytest

from customers.models import User
from tests.browser.sign_up import confirm_sign_up

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_sign_up_log_in_and_switch_language(browser_page):
    page, base = browser_page, browser_page.live_server_url
    page.goto(base + "/")
    page.get_by_role("link", name="Sign up").first.click()
    page.fill("#id_full_name", "Sun Li")
    page.fill("#id_email", "sun.li@example.com")
    page.fill("#id_password1", "a-very-long-secret-9")
    page.fill("#id_password2", "a-very-long-secret-9")
    page.get_by_role("button", name="Sign up").click()
    assert not User.objects.filter(email="sun.li@example.com").exists()  # nothing before the mailed link
    confirm_sign_up(page, "sun.li@example.com")
    assert "Welcome! Your account is ready." in page.content()
    assert User.objects.get(email="sun.li@example.com").has_role("customer")

    page.get_by_role("button", name="Log out").click()
    page.goto(base + "/accounts/login/")
    page.fill("#id_username", "sun.li@example.com")
    page.fill("#id_password", "wrong-password")
    page.get_by_role("button", name="Log in").click()
    assert page.locator(".alert-danger").is_visible()
    page.fill("#id_password", "a-very-long-secret-9")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(base + "/")

    page.select_option("#language-select", "zh-hans")
    page.wait_for_load_state("networkidle")
    assert page.locator("html").get_attribute("lang") == "zh-hans"
    assert "退出" in page.content() or "注销" in page.content()
