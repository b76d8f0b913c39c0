"""Self-service fixtures: a product with several plan types, customers with a complete profile, a
draft ready to submit, and helpers that post the wizard's steps."""

from decimal import Decimal

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from customers import services
from customers.models import ConsentKind
from customers.roles import Role
from portal import services as portal_services
from tests.factories import TINY_PNG, CustomerProfileFactory, UserFactory, WorkbenchProductFactory, resident_id

PORTAL_METHODS = ["annuity", "equal_principal", "step_up", "seasonal", "balloon"]


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def statement_csv(months: int = 12, salary: str = "15000.00") -> bytes:
    """A bank statement: salary on the 5th, rent on the 1st, groceries on the 10th, for `months` months."""
    rows = ["date,description,amount,balance"]
    balance = Decimal("5000.00")
    for month in range(1, months + 1):
        for day, text, amount in ((1, "房租 rent", Decimal("-3000.00")), (5, "工资 salary", Decimal(salary)),
                                  (10, "超市 supermarket", Decimal("-1500.00"))):
            balance += amount
            rows.append(f"2025-{month:02d}-{day:02d},{text},{amount},{balance}")
    return ("\n".join(rows) + "\n").encode()


def step_url(step: str) -> str:
    return reverse("portal:apply_step", args=[step])


def personal_data(n: int = 901, **overrides) -> dict:
    data = {
        "full_name": "Wang Fang", "id_type": "prc_resident_id", "id_number": resident_id(n), "date_of_birth": "",
        "sex": "", "phone": "13812345678", "email": "wang.fang@example.com", "province": "北京市", "city": "北京市",
        "district": "东城区", "street": "1 Chang'an Avenue", "postcode": "100010",
    }
    data.update(overrides)
    return data


WORK_DATA = {
    "occupation": "office_worker", "occupation_other": "", "employer": "Acme Ltd", "employment_type": "salaried",
    "years_in_job": "4", "education": "bachelor", "marital_status": "married", "dependants": "1", "housing": "rent",
    "number_of_existing_credits": "0", "past_delinquencies": "0",
}


@pytest.fixture
def product(db):
    return WorkbenchProductFactory(code="portal-consumer", allowed_methods=PORTAL_METHODS)


@pytest.fixture
def customer(db):
    return UserFactory(roles=[Role.CUSTOMER], full_name="Wang Fang")


@pytest.fixture
def other_customer(db):
    return UserFactory(roles=[Role.CUSTOMER], full_name="Li Lei")


@pytest.fixture
def customer_client(client, customer):
    client.force_login(customer, backend="customers.backends.ModelBackendWithRoles")
    return client


def complete_profile(user, *, n: int = 902, statement: bool = True, income: str = "15000"):
    """A profile with everything an application needs: background, income, expenses, ID, statement."""
    profile = CustomerProfileFactory(user=user, id_number=resident_id(n))
    services.finance_line_add(profile=profile, line_type="income",
                              data={"source": "salary", "monthly_amount": Decimal(income)}, by=user)
    services.finance_line_add(profile=profile, line_type="expense",
                              data={"category": "food", "monthly_amount": Decimal("3000")}, by=user)
    services.document_upload(profile=profile, kind="id_front", file=ContentFile(TINY_PNG, name="id.png"), by=user)
    if statement:
        services.statement_import(profile=profile, file=SimpleUploadedFile("statement.csv", statement_csv()),
                                  by=user)
    return profile


def ready_draft(user, product, *, consents: bool = True, amount: str = "20000"):
    """A draft at the review step: profile complete, request saved, consents given."""
    if not hasattr(user, "profile"):
        complete_profile(user)
    draft = portal_services.draft_start(user=user)
    portal_services.draft_request_save(draft=draft, by=user, product=product, amount=Decimal(amount),
                                       term_months=12, purpose="furniture")
    if consents:
        for kind in (ConsentKind.CREDIT_CHECK, ConsentKind.DATA_PROCESSING):
            services.consent_record(user=user, kind=kind)
    draft.furthest_step = len(portal_services.STEPS) - 1
    draft.current_step = "review"
    draft.save()
    return draft
