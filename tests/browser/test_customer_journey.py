"""The customer's whole journey in a real browser on the live server: sign up, fill the application
wizard (with an uploaded ID and bank statement), wait for the personalised plans, open a schedule,
choose a plan, have it approved, accept the contract and download it, see the plan's schedule, pay
the first installment and get a payoff quote, rate the service; on a 375 px phone screen too.

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
from django.utils import timezone

from collections_app.models import Payment
from config.errors import DomainError
from customers.models import CustomerProfile, User
from installments import decisions
from installments.contracts import contract_latest
from installments.models import Application, Plan
from tests.conftest import requires_redis
from tests.factories import TINY_PNG, UserFactory, WorkbenchProductFactory, make_resident_id
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

    from scoring import services as scoring_services

    # Rows the migrations seed are gone after an earlier transactional test's flush: seed them again.
    import_module("customers.migrations.0004_spending_rules").seed_rules(apps, None)
    scoring_services.policy_rules_ensure_defaults()
    card, metrics, features, source = trained_scorecard
    version = scoring_services.model_version_create(scorecard=card, metrics=metrics, training_frame=features,
                                                    source=source, label="journey-test")
    scoring_services.model_version_activate(version=version, by=None)
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
    page.wait_for_url(base + "/")
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
    from collections_app.services import plan_activate

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

    # The plan's schedule; pay the first installment; a payoff quote.
    page.locator(f"#plan-{plan.pk}").get_by_role("link", name="Schedule, payoff and requests").click()
    page.wait_for_url(re.compile(rf"/servicing/my/plans/{plan.pk}/$"))
    shot("plan-schedule")
    first_due = plan.installments.order_by("due_date", "number").first().amount_due
    assert Decimal(page.input_value("#id_amount")) == first_due
    assert page.locator("#test-mode-notice").is_visible()  # the simulated provider says so
    page.fill("#id_card_number", "4111 1111 1111 1111")
    page.get_by_role("button", name="Pay now").click()
    page.wait_for_selector(".alert-success:has-text('received')")
    payment = Payment.objects.get(plan=plan)
    assert payment.amount == first_due and payment.channel == Payment.Channel.SELF_SERVICE
    assert payment.intent.status == "authorised" and payment.reference.startswith("simulated:")
    shot("paid")
    quote_form = page.locator("form[method='get']")
    quote_form.locator("input[name='on_date']").fill(timezone.localdate().isoformat())
    quote_form.get_by_role("button", name="Get a quote").click()
    page.wait_for_selector("#payoff-quote")
    assert "Total on" in page.inner_text("#payoff-quote")
    shot("payoff-quote")
    shot.phone("payoff-quote")

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
