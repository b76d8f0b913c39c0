"""Hardening fixtures: two customers' complete books (A and B), one user per staff role and an admin."""

import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from customers.roles import Role
from tests.factories import TINY_PNG, CustomerProfileFactory, UserFactory, resident_id, workbench_case


@pytest.fixture(scope="session")
def hardening_media(tmp_path_factory):
    return tmp_path_factory.mktemp("hardening-media")


@pytest.fixture(autouse=True)
def _media_root(settings, hardening_media):
    """Replaces the suite's per-test media folder: the module-wide world's uploads must stay readable."""
    settings.MEDIA_ROOT = hardening_media


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Many users are made here; PBKDF2's deliberate slowness is not under test."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def ensure_servicing_defaults() -> None:
    """Buckets, reminder rules and the servicing policy that migration 0002 creates (a flush removes them)."""
    from importlib import import_module

    from django.apps import apps

    import_module("collections_app.migrations.0002_defaults_and_beat").create_defaults(apps, None)


@dataclass
class CustomerBook:
    """Everything one customer owns, by model label, with the strings that identify them."""

    user: object
    profile: object
    objects: dict[str, list] = field(default_factory=dict)
    markers: list[str] = field(default_factory=list)

    def ids(self, key: str) -> list[int]:
        return [obj.pk for obj in self.objects.get(key, [])]


def build_customer_book(letter: str, n: int, *, officer) -> CustomerBook:
    """A customer with a profile (income, expense, document, consent, interview note), a scored
    application with offers, an overdue active plan with a payment, a collections case and a
    servicing request. Names and addresses are unique so a leak is easy to spot."""
    from collections_app.models import CollectionCase, Payment, ServicingRequest
    from collections_app.servicing import activation, payments, requests
    from customers import services as customer_services
    from customers.models import Consent, CustomerDocument, IncomeLine, InterviewNote
    from installments.models import Application, Contract, Offer
    from installments.origination import decisions
    from installments.origination.contracts import contract_accept
    from tests.collections_app.factories import days_ago

    full_name = f"Zeph{letter}x Quillfeather{letter}"
    street = f"{n} Marmalade{letter} Lane"
    user = UserFactory(roles=[Role.CUSTOMER], full_name=full_name, email=f"owner-{letter.lower()}-{n}@example.com")
    profile = CustomerProfileFactory(user=user, full_name=full_name, street=street, id_number=resident_id(700 + n),
                                     phone=f"139{n:08d}", employer=f"Employer{letter}zz Ltd")
    customer_services.finance_line_add(profile=profile, line_type="income",
                                       data={"source": "salary", "monthly_amount": Decimal("18000")}, by=user)
    customer_services.finance_line_add(profile=profile, line_type="expense",
                                       data={"category": "food", "monthly_amount": Decimal("2000")}, by=user)
    customer_services.document_upload(profile=profile, kind="id_front",
                                      file=ContentFile(TINY_PNG, name=f"id-{letter}.png"), by=user)
    customer_services.consent_record(user=user, kind="marketing")
    customer_services.interview_note_add(profile=profile, author=officer, text=f"Interview{letter} notes",
                                         stability_rating=4, willingness_rating=4)
    # The real path: scored application -> officer approves (contract made) -> customer accepts -> activation.
    application = workbench_case(customer=user, amount="6000")
    decisions.application_approve(application=application, by=officer)
    contract = contract_accept(contract=Contract.objects.get(application=application), by=user, ip_address=None)
    # Backdated so the plan is 40 days old and overdue (the close of business opens a case).
    Contract.objects.filter(pk=contract.pk).update(accepted_at=timezone.now() - timedelta(days=41))
    contract.refresh_from_db()
    plan = activation.plan_activate(contract=contract, by=officer, disbursement_date=days_ago(40))
    payments.payment_record(plan=plan, amount=Decimal("50.00"), channel="officer",
                             idempotency_key=f"book-{letter}-{uuid.uuid4().hex}", by=officer)
    request = requests.request_create(plan=plan, kind="early_payoff", by=user, reason=f"Payoff{letter}",
                                       params={"on_date": days_ago(-5).isoformat()})
    book = CustomerBook(user=user, profile=profile)
    book.objects = {
        "profile": [profile],
        "income": list(IncomeLine.objects.filter(profile=profile)),
        "document": list(CustomerDocument.objects.filter(profile=profile)),
        "consent": list(Consent.objects.filter(user=user)),
        "note": list(InterviewNote.objects.filter(profile=profile)),
        "application": list(Application.objects.filter(customer=user).order_by("pk")),
        "offer": list(Offer.objects.filter(application__customer=user).order_by("pk")),
        "contract": list(Contract.objects.filter(application__customer=user).order_by("pk")),
        "plan": [plan],
        "payment": list(Payment.objects.filter(plan=plan)),
        "request": [request] if isinstance(request, ServicingRequest) else list(
            ServicingRequest.objects.filter(plan=plan)),
        "case": list(CollectionCase.objects.filter(plan=plan)),
    }
    book.markers = [full_name, street, user.email, profile.phone, profile.id_number_masked, plan.number,
                    f"Employer{letter}zz", f"Interview{letter} notes"]
    assert application.pk in book.ids("application")
    return book


@dataclass
class World:
    a: CustomerBook
    b: CustomerBook
    users: dict[str, object]


def build_world() -> World:
    """Customers A and B with complete books; A's collections case is assigned to the collector,
    B's to nobody; one user per staff role and a superuser admin."""
    from collections_app.collections import cob
    from collections_app.models import CollectionCase
    from tests.collections_app.factories import days_ago, staff_make

    ensure_servicing_defaults()
    officer = staff_make(Role.LOAN_OFFICER, full_name="Olga Officer")
    users = {
        "officer": officer,
        "collector": staff_make(Role.COLLECTOR, full_name="Colin Collector"),
        "approver": staff_make(Role.APPROVER, full_name="Alma Approver"),
        "manager": staff_make(Role.MANAGER, full_name="Mona Manager"),
        "admin": UserFactory(roles=[Role.ADMIN], full_name="Ada Admin", is_staff=True, is_superuser=True),
    }
    a = build_customer_book("A", 1, officer=officer)
    b = build_customer_book("B", 2, officer=officer)
    cob.run_cob(days_ago(1))
    for book, assignee in ((a, users["collector"]), (b, None)):
        book.objects["case"] = list(CollectionCase.objects.filter(plan__customer=book.user))
        assert book.objects["case"], "the close of business opens a case for an overdue plan"
        CollectionCase.objects.filter(pk__in=book.ids("case")).update(assigned_to=assignee, assignment_locked=True)
    users["customer_a"], users["customer_b"] = a.user, b.user
    users["merchant"] = _walk_merchant_user(users["manager"])
    return World(a=a, b=b, users=users)


def _walk_merchant_user(manager):
    """A merchant (issue #20) selling the world's product, with a good and a basket; its user (role merchant)."""
    from installments.merchants import services as merchant_services
    from installments.merchants.uscc import uscc_check_char
    from installments.models import LoanProduct

    first17 = "91310000MA1WALK00"
    merchant = merchant_services.merchant_onboard(
        by=manager, legal_name="Walkabout Shop Ltd", licence_number=first17 + uscc_check_char(first17),
        bank_name="Walk Bank", account_number="6222000011112222", products=list(LoanProduct.objects.all()),
        user_email="merchant-walk@example.com")
    good = merchant_services.good_save(merchant=merchant, by=manager, name="Walk sofa", category="furniture",
                                       price="5000.00")
    merchant_services.basket_create(merchant=merchant, by=None, lines=[(good.pk, 1)], down_payment="500")
    return merchant.users.get().user


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, hardening_media):
    """One world per module, built once inside a transaction that is rolled back at the end; each
    test runs in its own savepoint inside it (pytest-django's `db`). Uploads go to a temp folder."""
    from django.test import override_settings

    with override_settings(MEDIA_ROOT=hardening_media,
                           PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        with django_db_blocker.unblock():
            with transaction.atomic():
                yield build_world()
                transaction.set_rollback(True)
