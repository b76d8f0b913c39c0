"""The customer's whole journey in a real browser on the live server: sign up, fill the application
wizard (with an uploaded ID and bank statement), wait for the personalised plans, open a schedule,
choose a plan, have it approved, accept the contract and download it, see the plan's schedule, pay
the first installment by card through the (simulated) payment provider, get a payoff quote, ask for a
payment holiday that a loan officer confirms on the staff page, rate the service; on a 375 px phone
screen too. The plan-page servicing runs once more with the Chinese UI; every money figure is checked
to the cent against the database.

Scoring runs in-process (`inline`) or, with REDIS_URL set, in a real Celery worker (`worker`): the
"we are assessing" page then updates itself until the worker has scored the application.
Screenshots of each step go to test-artifacts/customer-journey/ (gitignored).
"""

import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone, translation
from django.utils.translation import gettext

from collections_app.models import Payment, ServicingRequest
from config.errors import DomainError
from customers.models import CustomerProfile, User
from installments.models import Application, Installment, Plan
from installments.origination import decisions
from installments.origination.contracts import contract_latest
from tests.browser.sign_up import confirm_sign_up
from tests.collections_app.factories import plan_active
from tests.conftest import requires_redis
from tests.factories import TEST_PASSWORD, TINY_PNG, UserFactory, WorkbenchProductFactory, make_resident_id
from tests.portal.conftest import PORTAL_METHODS, statement_csv

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts" / "customer-journey"
PASSWORD = "a-very-long-secret-9"
PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture(scope="session")
def trained_scorecard():
    """The German Credit scorecard, trained once per session (the model scoring uses in production)."""
    from scoring.german_credit import SOURCE, load_german_credit
    from scoring.models import DEFAULT_GRADE_MAX_PDS, GRADE_LABELS
    from scoring.scorecard import GradeBands, ScalingSpec, train_scorecard

    features, target = load_german_credit()
    bands = GradeBands.from_pd_bands(DEFAULT_GRADE_MAX_PDS, scaling=ScalingSpec(), labels=GRADE_LABELS)
    card, metrics = train_scorecard(features, target, grade_bands=bands, metadata={"source": SOURCE})
    return card, metrics, features, SOURCE


@pytest.fixture
def lending_setup(transactional_db, trained_scorecard):
    """An active scoring model with the default lending rules, the statement keyword rules, a product
    with several plan types, a loan officer and an approver."""
    from importlib import import_module

    from django.apps import apps

    from installments.assessment import policy
    from scoring import registry

    # Rows the migrations seed are gone after an earlier transactional test's flush: seed them again.
    import_module("customers.migrations.0004_spending_rules").seed_rules(apps, None)
    policy.policy_rules_ensure_defaults()
    card, metrics, features, source = trained_scorecard
    version = registry.model_version_create(scorecard=card, metrics=metrics, training_frame=features,
                                            source=source, label="journey-test")
    registry.model_version_activate(version=version, by=None)
    product = WorkbenchProductFactory(code="journey-consumer", allowed_methods=PORTAL_METHODS)
    return {"product": product, "officer": UserFactory(roles=["loan_officer"]),
            "approver": UserFactory(roles=["approver"])}


@pytest.fixture
def inline_scoring():
    """Scoring in-process even when a broker is configured (the eager mode of a newcomer's machine)."""
    from config.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


class Shots:
    """Numbered screenshots of the journey, full page, into test-artifacts/customer-journey/."""

    def __init__(self, page, variant: str):
        self.page, self.variant, self.count = page, variant, 0
        ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def __call__(self, name: str) -> None:
        self.count += 1
        self.page.screenshot(path=str(ARTIFACTS / f"{self.variant}-{self.count:02d}-{name}.png"), full_page=True)

    def phone(self, name: str) -> None:
        """The same page on a 375 x 812 phone screen: nothing may be wider than the screen."""
        self.page.set_viewport_size(PHONE)
        self.page.wait_for_timeout(150)
        width = self.page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{name}: the page is {width}px wide on a 375px screen"
        self(f"{name}-phone")
        self.page.set_viewport_size(DESKTOP)


def _continue(page) -> None:
    page.locator("#wizard-nav button[value='next']").click()
    page.wait_for_load_state("domcontentloaded")


def _approve(application: Application, setup: dict) -> None:
    """The officer approves the chosen plan (an override and a second approval when the model says otherwise)."""
    try:
        decisions.application_approve(application=application, by=setup["officer"])
    except DomainError as error:
        assert error.code == "override_reason_required", error.message
        decisions.application_approve(application=application, by=setup["officer"],
                                      override_reason="Stable salaried income shown on the statement.")
    application.refresh_from_db()
    if application.state == Application.State.AWAITING_APPROVAL:
        decisions.application_confirm(application=application, by=setup["approver"])
        application.refresh_from_db()
    assert application.state == Application.State.APPROVED


def _money(amount: Decimal) -> str:
    """An amount as the pages show money (the `money` filter): thousands separators, two decimals."""
    return f"{amount.quantize(Decimal('0.01')):,}"


def _officer_confirms(page, officer, servicing_request: ServicingRequest, variant: str) -> None:
    """A loan officer, in a browser of their own, confirms the customer's request on the staff page
    after reading the same preview the customer saw."""
    context = page.context.browser.new_context(locale="en-US", reduced_motion="reduce")
    staff = context.new_page()
    staff.set_default_timeout(30000)
    try:
        staff.goto(page.live_server_url + "/accounts/login/")
        staff.fill("#id_username", officer.email)
        staff.fill("#id_password", TEST_PASSWORD)
        staff.get_by_role("button", name="Log in").click()
        from customers.two_factor import requires_two_factor
        from tests.conftest import complete_two_factor

        if requires_two_factor(officer):
            complete_two_factor(staff, officer)
        staff.wait_for_url(lambda url: "/accounts/" not in url)
        staff.goto(page.live_server_url + "/servicing/staff/requests/")
        card = staff.locator(".card", has=staff.locator(
            f"form[action$='/servicing/staff/requests/{servicing_request.pk}/decide/']"))
        assert card.locator(".request-preview .preview-terms").is_visible()
        staff.set_viewport_size(DESKTOP)
        staff_shot = Shots(staff, f"{variant}-officer")
        staff_shot("requests")
        staff_shot.phone("requests")
        card.locator("input[value='approve']").check()
        card.get_by_role("button", name="Record the decision").click()
        staff.wait_for_selector(".alert-success:has-text('Decision recorded.')")
    finally:
        context.close()


def _plan_servicing(page, shot: "Shots", plan: Plan, officer, *, language: str = "en") -> None:
    """On the customer's plan page (open in `page`): pay the first installment by card, get today's
    payoff quote, ask for a payment holiday of 2 installments, see its preview, have it confirmed by a
    loan officer and see the new schedule. Labels are read from `language`'s compiled catalogue, so the
    same steps prove the Chinese page; every figure is checked to the cent against the database."""

    def t(text: str) -> str:
        with translation.override(language):
            return gettext(text)

    today = timezone.localdate()
    first = plan.installments.order_by("due_date", "number").first()

    # 1. Pay the first installment by card through the provider (the simulator, which says so).
    assert Decimal(page.input_value("#id_amount")) == first.amount_due
    notice = page.locator("#test-mode-notice")
    assert notice.is_visible() and t("Test mode") in notice.inner_text()
    page.fill("#id_card_number", "4242424242424242")
    page.get_by_role("button", name=t("Pay now")).click()
    received = t("Thank you: %(amount)s %(currency)s received. Your receipt is in your messages.") % {
        "amount": f"{first.amount_due:,}", "currency": plan.currency}
    page.wait_for_selector(".alert-success")
    assert received in page.inner_text(".alert-success")
    payment = Payment.objects.get(plan=plan)
    assert payment.amount == first.amount_due and payment.channel == Payment.Channel.SELF_SERVICE
    assert payment.intent.status == "authorised" and payment.reference.startswith("simulated:")
    first.refresh_from_db()
    assert first.status == Installment.Status.PAID
    shot("paid")
    shot.phone("paid")

    # 2. A payoff quote for today: the principal left is what was financed less the first principal.
    quote_form = page.locator("form[method='get']")
    quote_form.locator("input[name='on_date']").fill(today.isoformat())
    quote_form.get_by_role("button", name=t("Get a quote")).click()
    page.wait_for_selector("#payoff-quote")
    plan.refresh_from_db()
    principal_row = page.locator("#payoff-quote dt").filter(has_text=re.compile(rf"^{re.escape(t('Principal'))}$"))
    principal_shown = principal_row.locator("xpath=following-sibling::dd[1]").inner_text().strip()
    assert principal_shown == _money(plan.principal - first.principal_due), principal_shown
    assert t("Total on %(day)s") % {"day": today.isoformat()} in page.inner_text("#payoff-quote")
    assert page.get_by_role("link", name=t("Pay this amount")).is_visible()
    shot("payoff-quote")
    shot.phone("payoff-quote")

    # 3. A payment holiday of 2 installments: the customer sees what confirming would do, before anyone does.
    page.select_option("#id_request_kind", ServicingRequest.Kind.PAYMENT_HOLIDAY)
    page.fill("#id_request_periods", "2")
    page.fill("#id_request_reason", "Moving house this spring.")
    page.get_by_role("button", name=t("Send the request")).click()
    page.wait_for_selector(".alert-success")
    assert t("Your request was sent. We will tell you when it is decided.") in page.inner_text(".alert-success")
    holiday = ServicingRequest.objects.get(plan=plan)
    assert holiday.status == ServicingRequest.Status.PENDING and holiday.params["periods"] == 2
    preview = page.locator(".request-preview .preview-terms")
    assert preview.is_visible() and t("After the change") in preview.locator("thead").inner_text()
    left_after_preview = preview.locator("[data-preview='left_to_pay']").inner_text().strip()
    shot("holiday-preview")
    shot.phone("holiday-preview")

    _officer_confirms(page, officer, holiday, shot.variant)
    holiday.refresh_from_db()
    assert holiday.status == ServicingRequest.Status.APPLIED

    # After the change: #1 still paid, the new version in force, "left to pay" to the cent.
    page.reload()
    plan.refresh_from_db()
    live = list(plan.installments.exclude(status=Installment.Status.SUPERSEDED).select_related("version"))
    new_version = plan.schedule_versions.order_by("-version").first()
    assert holiday.schedule_version_id == new_version.pk and new_version.version > 1
    rows = page.locator(".schedule-table tbody tr")
    assert rows.count() == len(live)
    assert rows.first.locator("td").first.inner_text().strip() == "1"
    assert rows.first.locator(".badge.text-bg-success").inner_text().strip() == t("Paid")
    on_new_version = sum(1 for r in live if r.version_id == new_version.pk)
    assert on_new_version > 0
    assert page.locator(f".schedule-table tbody .badge:text-is('v{new_version.version}')").count() == on_new_version
    left_to_pay = sum((r.amount_outstanding for r in live), Decimal("0")) - plan.credit_balance
    left_card = page.locator(".card-body", has=page.get_by_text(t("Left to pay"), exact=True))
    left_shown = left_card.locator(".fs-5.money").inner_text().strip()
    assert left_shown == _money(left_to_pay), (left_shown, left_to_pay, plan.credit_balance)
    assert left_after_preview == left_shown  # the preview was exactly what confirming did
    shot("holiday-applied")
    shot.phone("holiday-applied")


def _journey(page, setup: dict, variant: str) -> None:
    base = page.live_server_url
    shot = Shots(page, variant)
    page.set_viewport_size(DESKTOP)
    page.set_default_timeout(30000)  # generous: CI machines run several suites at once

    # Landing page and sign-up.
    page.goto(base + "/")
    assert page.get_by_role("link", name="Try the calculator").is_visible()
    shot("landing")
    shot.phone("landing")
    page.get_by_role("link", name="Create an account").click()
    page.fill("#id_full_name", "Zhao Min")
    page.fill("#id_email", "zhao.min@example.com")
    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    confirm_sign_up(page, "zhao.min@example.com")  # the link in the confirmation mail
    page.locator("#home-apply").click()

    # 1. Personal details, the ID number checked as it is typed.
    page.wait_for_url(re.compile(r"/me/apply/personal/$"))
    page.fill("#id_full_name", "Zhao Min")
    number = make_resident_id(region_code="110101", birth_date=date(1988, 5, 20), sequence=7, sex="female")
    page.fill("#id_id_number", number[:17] + ("1" if number[17] == "0" else "0"))  # a wrong check digit
    page.locator("#id_id_number").blur()
    page.wait_for_selector("#id_id_number_check .text-danger")
    page.fill("#id_id_number", number)
    page.locator("#id_id_number").blur()
    page.wait_for_selector("#id_id_number_check .text-success")
    assert "1988-05-20" in page.inner_text("#id_id_number_check")
    page.fill("#id_phone", "13912345678")
    page.fill("#id_email", "zhao.min@example.com")
    page.fill("#id_province", "上海市")
    page.fill("#id_city", "上海市")
    page.fill("#id_district", "浦东新区")
    page.fill("#id_street", "88 Century Avenue")
    page.fill("#id_postcode", "200120")
    shot("wizard-1-personal")
    shot.phone("wizard-1-personal")
    _continue(page)

    # 2. Work and income: the income line is added in place (htmx).
    page.wait_for_url(re.compile(r"/me/apply/work/$"))
    page.select_option("#id_employment_type", "salaried")
    page.select_option("#id_occupation", "office_worker")
    page.fill("#id_employer", "Pudong Software Ltd")
    page.fill("#id_years_in_job", "5")
    page.select_option("#id_education", "bachelor")
    page.select_option("#id_marital_status", "married")
    page.select_option("#id_housing", "rent")
    page.select_option("#id_income-source", "salary")
    page.fill("#id_income-monthly_amount", "18000")
    page.locator("#lines-income button[type=submit]", has_text="Add").click()
    page.wait_for_selector("#lines-income .money:has-text('18,000.00')")
    shot("wizard-2-work")
    _continue(page)

    # 3. Expenses, debts and assets.
    page.wait_for_url(re.compile(r"/me/apply/finances/$"))
    page.select_option("#id_expense-category", "housing")
    page.fill("#id_expense-monthly_amount", "3000")
    page.locator("#lines-expense button[type=submit]", has_text="Add").click()
    page.wait_for_selector("#lines-expense .money:has-text('3,000.00')")
    page.select_option("#id_asset-kind", "savings")
    page.fill("#id_asset-value", "60000")
    page.locator("#lines-asset button[type=submit]", has_text="Add").click()
    page.wait_for_selector("#lines-asset .money:has-text('60,000.00')")
    shot("wizard-3-finances")
    _continue(page)

    # 4. Documents: the ID and a bank statement CSV.
    page.wait_for_url(re.compile(r"/me/apply/documents/$"))
    page.select_option("#id_document-kind", "id_front")
    page.set_input_files("#id_document-file", files=[{"name": "id-front.png", "mimeType": "image/png",
                                                     "buffer": TINY_PNG}])
    page.get_by_role("button", name="Upload", exact=True).click()
    page.wait_for_selector("#documents-list :text('ID card, front')")
    page.set_input_files("#id_statement-file", files=[{"name": "statement.csv", "mimeType": "text/csv",
                                                      "buffer": statement_csv(salary="18000.00")}])
    page.get_by_role("button", name="Import", exact=True).click()
    page.wait_for_selector("#statement-summary")
    shot("wizard-4-documents")
    _continue(page)

    # 5. Amount, product and preferences: the amount checked against the product as it is typed.
    page.wait_for_url(re.compile(r"/me/apply/request/$"))
    page.fill("#id_amount", "500")
    page.locator("#id_amount").blur()
    page.wait_for_selector("#id_amount_check .text-danger")
    page.fill("#id_amount", "20000")
    page.locator("#id_amount").blur()
    page.wait_for_selector("#id_amount_check .text-success")
    page.select_option("#id_purpose", "furniture")
    page.check("input[name='preference'][value='payment']")
    page.fill("#id_target_monthly_payment", "2000")
    shot("wizard-5-request")
    shot.phone("wizard-5-request")
    _continue(page)

    # 6. Consents; 7. review and submit.
    page.wait_for_url(re.compile(r"/me/apply/consents/$"))
    page.check("#id_credit_check")
    page.check("#id_data_processing")
    shot("wizard-6-consents")
    _continue(page)
    page.wait_for_url(re.compile(r"/me/apply/review/$"))
    assert page.locator("#missing").count() == 0
    page.check("#id_confirm")
    shot("wizard-7-review")
    _continue(page)

    # The assessment, then the personalised plans side by side with the chart.
    page.wait_for_url(re.compile(r"/me/applications/\d+/$"))
    application = Application.objects.get(customer__email="zhao.min@example.com")
    if page.locator("#assessing").count():
        shot("assessing")
    page.wait_for_selector("#offers", timeout=60000)
    application.refresh_from_db()
    assert application.state == Application.State.SCORED
    cards = page.locator(".offer-compare article")
    assert 3 <= cards.count() <= 5
    page.wait_for_function("() => window.Chart && Chart.getChart(document.getElementById('offers-chart'))")
    shot("offers")
    shot.phone("offers")
    first = application.offers.filter(is_counter_offer=False).order_by("rank").first()
    page.locator(f"#offer-{first.pk}").get_by_role("link", name="Full schedule").click()
    page.wait_for_selector(f"#schedule-panel #schedule-{first.pk} table")
    assert page.locator(f"#schedule-{first.pk} tbody tr").count() == len(first.schedule["installments"])
    shot("offer-schedule")
    page.locator(f"#offer-{first.pk}").get_by_role("button", name=re.compile("Choose plan")).click()
    page.wait_for_selector(f"#offer-{first.pk} :text('Your choice')")
    first.refresh_from_db()
    assert first.chosen_at is not None

    # The officer approves; the customer reads and accepts the contract and downloads it.
    _approve(application, setup)
    page.reload()
    page.get_by_role("link", name="Read and accept the contract").click()
    page.wait_for_selector("#contract-text")
    contract = contract_latest(application)
    assert contract.disclosure["apr"] in page.inner_text("#key-apr")
    shot("contract")
    shot.phone("contract")
    page.check("#id_read")
    page.get_by_role("button", name="I accept the contract").click()
    page.wait_for_selector("#contract-accepted")
    contract.refresh_from_db()
    assert contract.accepted_at is not None and contract.accepted_ip == "127.0.0.1"
    with page.expect_download() as download:
        page.locator("#contract-accepted").get_by_role("link", name="Download PDF").click()
    assert download.value.suggested_filename.endswith(".pdf")
    download.value.save_as(ARTIFACTS / f"{variant}-contract.pdf")
    assert (ARTIFACTS / f"{variant}-contract.pdf").read_bytes().startswith(b"%PDF")
    shot("contract-accepted")

    # The money is paid out (staff activate the plan); the account centre shows it.
    from collections_app.servicing.activation import plan_activate

    plan = plan_activate(contract=contract, by=setup["officer"], disbursement_date=timezone.localdate())
    page.goto(base + "/me/")
    page.wait_for_selector(f"#plan-{plan.pk}")
    assert plan.number in page.inner_text(f"#plan-{plan.pk}")
    shot("account")
    shot.phone("account")

    # Satisfaction after the contract.
    rating = page.locator(f"#rate-{application.pk}-after_contract")
    rating.locator("input[value='5']").check()
    rating.locator("textarea").fill("Clear plans and quick decision.")
    rating.get_by_role("button", name="Send").click()
    page.wait_for_selector(".alert-success:has-text('Thank you for your feedback')")

    # The plan's schedule; pay the first installment; a payoff quote; a payment holiday confirmed.
    page.locator(f"#plan-{plan.pk}").get_by_role("link", name="Schedule, payoff and requests").click()
    page.wait_for_url(re.compile(rf"/servicing/my/plans/{plan.pk}/$"))
    shot("plan-schedule")
    _plan_servicing(page, shot, plan, setup["officer"])

    # The timeline tells the whole story.
    page.goto(base + f"/me/applications/{application.pk}/")
    timeline = page.inner_text(".timeline")
    for stage in ("Submitted", "Assessed", "Plan chosen", "Approved", "Contract accepted", "Plan active"):
        assert stage in timeline, stage
    shot("timeline")
    assert Plan.objects.get(pk=plan.pk).state == Plan.State.ACTIVE
    assert CustomerProfile.objects.get(user=User.objects.get(email="zhao.min@example.com")).statements.exists()


def test_customer_journey_with_scoring_in_process(browser_page, lending_setup, inline_scoring):
    _journey(browser_page, lending_setup, "inline")


@requires_redis
@pytest.mark.integration
def test_customer_journey_with_a_real_celery_worker(celery_live_worker, browser_page, lending_setup):
    _journey(browser_page, lending_setup, "worker")


def test_plan_servicing_in_chinese(browser_page, transactional_db):
    """The plan page's pay, payoff quote and payment holiday with the Chinese UI, on the phone too."""
    page, base = browser_page, browser_page.live_server_url
    customer = UserFactory(roles=["customer"], full_name="王小明", preferred_language="zh-hans")
    officer = UserFactory(roles=["loan_officer"])
    plan = plan_active(customer=customer, amount="20000", term=12, rate="12", by=officer)
    page.set_viewport_size(DESKTOP)
    page.set_default_timeout(30000)
    page.goto(base + "/accounts/login/")
    page.fill("#id_username", customer.email)
    page.fill("#id_password", TEST_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(base + "/")
    page.select_option("#language-select", customer.preferred_language)  # the switcher in the menu
    page.wait_for_load_state("networkidle")
    page.goto(base + f"/servicing/my/plans/{plan.pk}/")
    assert page.locator("html").get_attribute("lang") == "zh-hans"
    shot = Shots(page, "zh")
    shot("plan-schedule")
    _plan_servicing(page, shot, plan, officer, language="zh-hans")
