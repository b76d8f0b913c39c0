"""Scoring fixtures: one German Credit training per test session, an active model version built from
it, a loan product with price tiers, customers with profiles and applications."""

from datetime import date
from decimal import Decimal

import pytest
from django.core.cache import cache

from customers.models import StatementSummary
from customers.services import finance_line_add
from installments.assessment import online
from installments.models import Application, LoanProduct, PriceTier
from installments.origination.applications import application_create, application_transition
from scoring import registry
from scoring.german_credit import SOURCE, load_german_credit
from scoring.models import DEFAULT_GRADE_MAX_PDS, GRADE_LABELS
from scoring.scorecard import GradeBands, ScalingSpec, train_scorecard
from tests.factories import CustomerProfileFactory, UserFactory

TIER_RATES = {"A": "8", "B": "10", "C": "12", "D": "14", "E": "16", "F": "20", "G": "23.9"}


@pytest.fixture(autouse=True)
def _fast_password_hashing_and_a_clean_cache(settings):
    """Factories set passwords (a slow hasher would dominate these tests); scoring caches the
    occupation income peers (shared cache and in-process) and the registry (in-process), which
    must not leak from one test into the next."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    cache.clear()
    online.process_caches_clear()


@pytest.fixture(scope="session")
def german():
    return load_german_credit()


@pytest.fixture(scope="session")
def german_trained(german):
    """(scorecard, metrics) trained once per session with the product's default PD grade bands."""
    X, y = german
    bands = GradeBands.from_pd_bands(DEFAULT_GRADE_MAX_PDS, scaling=ScalingSpec(), labels=GRADE_LABELS)
    return train_scorecard(X, y, grade_bands=bands, metadata={"source": SOURCE})


@pytest.fixture
def model_version(db, german, german_trained):
    """The German Credit scorecard stored as the active version (no retraining)."""
    card, metrics = german_trained
    version = registry.model_version_create(scorecard=card, metrics=metrics, training_frame=german[0],
                                            source=SOURCE, label="german-test")
    return registry.model_version_activate(version=version, by=None)


@pytest.fixture
def product(db):
    product = LoanProduct.objects.create(code="consumer", name="Consumer installments", min_amount=Decimal("1000"),
                                         max_amount=Decimal("200000"), min_term_months=3, max_term_months=36)
    for grade, rate in TIER_RATES.items():
        PriceTier.objects.create(product=product, grade=grade, annual_rate=Decimal(rate),
                                 max_amount=Decimal("200000"), max_term_months=36)
    return product


def add_lines(profile, *, income="12000", expenses="3000", debts=(), assets=()):
    """Finance lines through the customers service. debts: (kind, balance, payment); assets: (kind, value)."""
    by = profile.user
    if income is not None:
        finance_line_add(profile=profile, line_type="income", data={"source": "salary",
                                                                    "monthly_amount": Decimal(income)}, by=by)
    if expenses is not None:
        finance_line_add(profile=profile, line_type="expense", data={"category": "food",
                                                                     "monthly_amount": Decimal(expenses)}, by=by)
    for kind, balance, payment in debts:
        finance_line_add(profile=profile, line_type="debt", data={
            "lender": "Bank", "kind": kind, "outstanding_balance": Decimal(balance),
            "monthly_payment": Decimal(payment)}, by=by)
    for kind, value in assets:
        finance_line_add(profile=profile, line_type="asset", data={"kind": kind, "value": Decimal(value)}, by=by)


def add_statement(profile, *, inflow="12000", overdraft_days=0, regularity="1.0000", volatility="0.0500"):
    return StatementSummary.objects.create(
        profile=profile, original_filename="statement.csv", file_sha256=f"{profile.pk:064d}",
        period_start=date(2026, 1, 1), period_end=date(2026, 6, 30), months_covered=6, transaction_count=120,
        average_monthly_inflow=Decimal(inflow), average_monthly_outflow=Decimal("8000"),
        income_regularity=Decimal(regularity), income_volatility=Decimal(volatility), overdraft_days=overdraft_days,
        summary={"seasonal_high_months": [], "seasonal_low_months": []},
    )


@pytest.fixture
def make_customer(db):
    """`make_customer(**profile_fields, lines={...})` -> a customer user with a profile and finance lines."""

    def _make(lines=None, **fields):
        user = UserFactory(roles=["customer"])
        profile = CustomerProfileFactory(user=user, **fields)
        add_lines(profile, **(lines or {}))
        return user

    return _make


@pytest.fixture
def make_application(product):
    """`make_application(customer, submit=True, **fields)` -> an application (submitted by default)."""

    def _make(customer, *, submit=True, amount="20000", term_months=12, **fields):
        application = application_create(customer=customer, product=product, amount=Decimal(amount),
                                         term_months=term_months, **fields)
        if submit:
            application = application_transition(application=application, to=Application.State.SUBMITTED,
                                                 by=customer)
        return application

    return _make
