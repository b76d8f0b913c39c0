"""In a real browser: a customer builds a profile (htmx finance lines), an officer reviews it."""

from datetime import date

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from customers import services
from customers.models import AuditEvent, CustomerProfile
from customers.roles import Role
from tests.conftest import complete_two_factor
from tests.factories import TEST_PASSWORD, UserFactory, resident_id

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _log_in(page, base, email, staff=None):
    page.goto(base + "/accounts/login/")
    page.fill("#id_username", email)
    page.fill("#id_password", TEST_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    if staff is not None:  # every staff role passes the TOTP step
        complete_two_factor(page, staff)
    page.wait_for_url(base + "/")


def test_customer_builds_a_profile_and_an_officer_reviews_it(browser_page, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    page, base = browser_page, browser_page.live_server_url
    customer = UserFactory(roles=[Role.CUSTOMER], email="guo.mei@example.com")
    officer = UserFactory(roles=[Role.LOAN_OFFICER], email="officer.wang@example.com")
    number = resident_id(11, birth_date=date(1988, 1, 2), sex="female", region_code="420102")

    _log_in(page, base, customer.email)
    page.get_by_role("link", name="My profile").click()
    page.fill("#id_full_name", "Guo Mei")
    page.fill("#id_id_number", number[:-1] + ("1" if number[-1] != "1" else "2"))
    for field, value in {"phone": "13512345678", "email": "guo@example.com", "province": "湖北省", "city": "武汉市",
                         "district": "江岸区", "street": "沿江大道 1 号"}.items():
        page.fill(f"#id_{field}", value)
    page.get_by_role("button", name="Create my profile").click()
    assert "check digit" in page.locator("#id_id_number_errors").inner_text()

    page.fill("#id_id_number", number)
    page.get_by_role("button", name="Create my profile").click()
    page.wait_for_selector("#finances")
    assert number not in page.content()

    # Occupation "other" asks for a description (static/js/customers.js).
    assert page.locator("#id_occupation_other_wrapper").is_hidden()
    page.select_option("#id_occupation", "other")
    assert page.locator("#id_occupation_other_wrapper").is_visible()

    page.select_option("#id_income-source", "salary")
    page.fill("#id_income-monthly_amount", "10000")
    page.locator("#finances form").filter(has=page.locator("#id_income-source")).get_by_role("button").click()
    page.wait_for_selector("#finances td:has-text('10,000.00')")
    page.fill("#id_debt-lender", "CMB")
    page.select_option("#id_debt-kind", "credit_card")
    page.fill("#id_debt-outstanding_balance", "9000")
    page.fill("#id_debt-monthly_payment", "1500")
    page.locator("#finances form").filter(has=page.locator("#id_debt-lender")).get_by_role("button").click()
    page.wait_for_selector("#ratios dd:has-text('15.0 %')")  # debt-to-income 1,500 / 10,000

    profile = CustomerProfile.objects.get(user=customer)
    services.document_upload(profile=profile, kind="income_proof", by=customer,
                             file=SimpleUploadedFile("payslip.pdf", b"%PDF-1.4 payslip"))
    page.get_by_role("button", name="Log out").click()

    _log_in(page, base, officer.email, officer)
    page.get_by_role("link", name="Customers").first.click()
    page.get_by_role("link", name="Guo Mei").click()
    assert number not in page.content()
    page.get_by_role("button", name="Show full ID").click()
    page.wait_for_selector(f"#full-id:has-text('{number}')")
    assert AuditEvent.objects.filter(action="pii.view_full_id", actor=officer).count() == 1

    page.get_by_role("button", name="Reject").click()  # no reason: stopped in the browser
    assert profile.documents.get().review_state == "pending"
    page.fill("#documents input[name='reason']", "Blurred")
    page.get_by_role("button", name="Reject").click()
    page.wait_for_selector("#documents .badge:has-text('Rejected')")
    assert profile.documents.get().review_reason == "Blurred"
