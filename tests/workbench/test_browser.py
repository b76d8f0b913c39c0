"""The officer's and approver's day in a real browser: filter the queue, open an application, view
and verify a document, approve above the four-eyes amount, the approver confirms, the contract PDF
downloads and shows the right APR. Screenshots go to test-artifacts/ (gitignored)."""

import re
from pathlib import Path

import pytest

from customers.models import CustomerDocument
from customers.roles import Role
from installments.models import Application, Contract
from tests.factories import TEST_PASSWORD, UserFactory, workbench_case

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "workbench"


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def log_in(page, base: str, user) -> None:
    """Sign in; approvers also pass the two-factor step their role requires."""
    from customers.two_factor import requires_two_factor
    from tests.conftest import complete_two_factor

    page.goto(base + "/accounts/login/")
    page.fill("#id_username", user.email)
    page.fill("#id_password", TEST_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    if requires_two_factor(user):
        complete_two_factor(page, user)
    page.wait_for_url(lambda url: "/accounts/" not in url)


def log_out(page) -> None:
    page.get_by_role("button", name="Log out").click()


def test_officer_reviews_approves_and_approver_confirms_then_the_contract_pdf_shows_the_apr(browser_page):
    page, base = browser_page, browser_page.live_server_url
    officer = UserFactory(roles=[Role.LOAN_OFFICER], email="officer@example.com", full_name="Officer Liu")
    approver = UserFactory(roles=[Role.APPROVER], email="approver@example.com", full_name="Approver Zhang")
    application = workbench_case(amount="80000", income="60000", grade="B", full_name="Huang Xiaoming")
    other = workbench_case(grade="D", full_name="Qian Wei", documents=False)
    payslip = CustomerDocument.objects.get(profile__user=application.customer, kind="income_proof")

    # The officer filters the queue down to grade B and opens the application.
    log_in(page, base, officer)
    page.get_by_role("link", name="Work queue").first.click()
    page.wait_for_url(re.compile(r"/staff/applications/"))
    assert page.locator(f"#queue-row-{other.pk}").is_visible()
    page.locator("#id_grade").get_by_text("B", exact=True).click()
    page.wait_for_selector(f"#queue-row-{other.pk}", state="detached")
    assert page.locator(f"#queue-row-{application.pk}").is_visible()
    assert "grade=B" in page.url  # htmx pushed the filtered URL
    shot(page, "1-queue-filtered")
    page.locator(f"#queue-row-{application.pk}").get_by_role("button", name="Assign to me").click()
    page.wait_for_selector(f"#queue-row-{application.pk} .js-assigned:has-text('Officer Liu')")
    page.get_by_role("link", name=application.number).click()
    page.wait_for_url(re.compile(rf"/staff/applications/{application.pk}/$"))
    assert page.locator("#score-grade").inner_text() == "B"
    assert page.locator("#recommendation").inner_text() == "Approve"

    # View the payslip inline, then verify it; htmx swaps the row.
    row = page.locator(f"#wb-document-{payslip.pk}")
    row.get_by_role("button", name="View").click()
    assert page.locator("#document-viewer").is_visible()
    assert page.locator("#document-viewer-frame").get_attribute("src").endswith(f"/documents/{payslip.pk}/view/")
    row.get_by_role("button", name="Verify").click()
    page.wait_for_selector(f"#wb-document-{payslip.pk} .js-review-state:has-text('Verified')")
    shot(page, "2-application-document-verified")

    # Approve the chosen offer: 80,000 is above the four-eyes amount.
    page.locator("#approve-action summary").click()
    page.fill("#approve_note", "Payslip verified; stable employer.")
    page.locator("#approve-button").click()
    page.wait_for_selector("#pending-decision")
    assert page.locator("#application-state").inner_text() == "Awaiting second approval"
    assert page.locator("#confirm-form").count() == 0  # never the officer's own second approval
    shot(page, "3-awaiting-second-approval")
    log_out(page)

    # The approver confirms from the approvals queue.
    log_in(page, base, approver)
    page.get_by_role("link", name="Second approvals").first.click()
    page.get_by_role("link", name="Review and confirm").click()
    page.fill("#confirm_note", "Checked income and DTI.")
    page.get_by_role("button", name="Confirm (second approval)").click()
    page.wait_for_selector("#contract-link")
    assert page.locator("#application-state").inner_text() == "Approved"
    shot(page, "4-approved")

    # The contract page and its PDF show the offer's APR.
    page.locator("#contract-link").click()
    contract = Contract.objects.get(application=application)
    apr = f"{contract.offer.apr:.2f}%"
    assert page.locator("#contract-apr").inner_text() == apr
    assert page.locator(".contract-apr").inner_text() == apr
    shot(page, "5-contract")
    with page.expect_download() as download_info:
        page.locator("#contract-pdf").click()
    download = download_info.value
    assert download.suggested_filename == f"contract-{application.number}-v1.pdf"
    pdf = Path(download.path()).read_bytes()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / download.suggested_filename).write_bytes(pdf)
    assert pdf.startswith(b"%PDF-") and f"({apr})".encode() in pdf
    application.refresh_from_db()
    assert application.state == Application.State.APPROVED
