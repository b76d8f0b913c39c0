"""Data protection: the customer data export (ID masked, audited), anonymisation that keeps the loan
record the law requires, and an audit row for every staff access to full PII (ID number, documents)."""

import json
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.apps import apps
from django.contrib.auth.backends import ModelBackend
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from collections_app.models import Payment
from customers.models import AuditEvent, Consent, CustomerDocument, CustomerProfile, User
from customers.pii import decrypt
from customers.roles import Role
from installments.models import Contract, Installment, Plan
from tests.factories import TEST_PASSWORD, TINY_PNG, CustomerProfileFactory
from tests.hardening.conftest import build_customer_book, ensure_servicing_defaults

pytestmark = pytest.mark.django_db


@pytest.fixture
def officer(make_user):
    return make_user(Role.LOAN_OFFICER)


@pytest.fixture
def dpo(make_user):
    return make_user(Role.ADMIN, email="dpo@example.com")


@pytest.fixture
def borrower(officer):
    """A customer with a signed contract, an active plan, a payment and a collections history."""
    ensure_servicing_defaults()
    return build_customer_book("E", 5, officer=officer)


def _all_text_in_product_tables(*, skip: set[str] = frozenset()) -> str:
    """Every row of every product table as text (to search for a person's data)."""
    chunks = []
    for model in apps.get_models():
        if model._meta.app_label in ("customers", "installments", "collections_app", "scoring") \
                and model._meta.label not in skip:
            chunks.append(repr(list(model._default_manager.values_list())))
    return "\n".join(chunks)


def test_export_has_everything_with_the_id_number_masked_and_is_audited(borrower, dpo, tmp_path):
    out = tmp_path / "export.json"
    call_command("export_customer_data", borrower.user.email, "--by", dpo.email, "--output", str(out))
    data = json.loads(out.read_text())
    full_id = decrypt(borrower.profile.id_number_encrypted)
    text = out.read_text()
    assert full_id not in text and borrower.profile.id_number_encrypted not in text
    assert borrower.profile.id_number_hash not in text
    assert data["profile"]["id_number"] == borrower.profile.id_number_masked
    assert data["profile"]["full_name"] == borrower.profile.full_name
    assert [p["number"] for p in data["plans"]] == [borrower.objects["plan"][0].number]
    assert len(data["payments"]) == 1 and Decimal(data["payments"][0]["amount"]) == Decimal("50.00")
    assert data["documents"][0]["sha256"] and "file" not in data["documents"][0]
    assert data["incomes"] and data["consents"] and data["applications"] and data["installments"]
    event = AuditEvent.objects.get(action="customer.data_export")
    assert event.actor == dpo and event.target_id == str(borrower.user.pk)


def test_export_to_stdout_and_unknown_customer(borrower, dpo):
    stdout = StringIO()
    call_command("export_customer_data", str(borrower.user.pk), "--by", dpo.email, stdout=stdout)
    assert json.loads(stdout.getvalue())["account"]["email"] == borrower.user.email
    with pytest.raises(CommandError):
        call_command("export_customer_data", "nobody@example.com", "--by", dpo.email)


def test_anonymising_a_borrower_keeps_the_loan_record_and_erases_the_rest(borrower, dpo, settings):
    user, profile, plan = borrower.user, borrower.profile, borrower.objects["plan"][0]
    balances_before = sorted(Installment.objects.filter(plan=plan).values_list("pk", "principal_due", "interest_due"))
    payments_before = list(Payment.objects.filter(plan=plan).values_list("pk", "amount"))
    id_document = CustomerDocument.objects.filter(profile=profile).first()
    other_document = CustomerDocument.objects.filter(profile=profile).exclude(pk=id_document.pk).first()
    other_path = Path(other_document.file.path) if other_document else None

    call_command("anonymise_customer", user.email, "--by", dpo.email, "--reason", "erasure request 17", "--yes",
                 stdout=StringIO())

    # The loan record stays, to the cent.
    assert Plan.objects.filter(pk=plan.pk, number=plan.number).exists()
    assert sorted(Installment.objects.filter(plan=plan).values_list("pk", "principal_due", "interest_due")) \
        == balances_before
    assert list(Payment.objects.filter(plan=plan).values_list("pk", "amount")) == payments_before
    assert Contract.objects.filter(application__customer=user).exists()
    profile.refresh_from_db()
    assert profile.id_number_masked and profile.id_number_encrypted  # identification kept (retention)
    assert CustomerDocument.objects.filter(pk=id_document.pk).exists()
    if other_path is not None:
        assert not other_path.exists()

    # The personal data is gone everywhere but the signed contract (its text, and the copy of its
    # disclosure the first schedule version keeps).
    text = _all_text_in_product_tables(skip={"installments.Contract", "installments.ScheduleVersion"})
    for marker in borrower.markers:
        if marker in (profile.id_number_masked, plan.number):
            continue
        assert marker not in text, marker
    user.refresh_from_db()
    assert not user.is_active and not user.has_usable_password() and user.email.endswith("@invalid.example")
    assert ModelBackend().authenticate(None, username=borrower.markers[2], password=TEST_PASSWORD) is None
    assert not Consent.objects.filter(user=user, withdrawn_at__isnull=True).exists()
    event = AuditEvent.objects.get(action="customer.anonymise")
    assert event.actor == dpo and event.reason == "erasure request 17" and event.data["kept_loan_record"]


def test_anonymising_a_customer_without_a_loan_deletes_the_profile_and_files(make_user, dpo):
    from django.core.files.base import ContentFile

    from customers.services import document_upload

    user = make_user(Role.CUSTOMER, full_name="Quentin Nolloan")
    profile = CustomerProfileFactory(user=user, full_name="Quentin Nolloan")
    document = document_upload(profile=profile, kind="income_proof", file=ContentFile(TINY_PNG, name="p.png"),
                               by=user)
    path = Path(document.file.path)
    assert path.exists()

    stdout = StringIO()
    call_command("anonymise_customer", user.email, "--by", dpo.email, "--reason", "r", stdout=stdout)
    assert "Would anonymise" in stdout.getvalue() and CustomerProfile.objects.filter(pk=profile.pk).exists()

    call_command("anonymise_customer", user.email, "--by", dpo.email, "--reason", "r", "--yes", stdout=StringIO())
    assert not CustomerProfile.objects.filter(pk=profile.pk).exists()
    assert not CustomerDocument.objects.filter(pk=document.pk).exists() and not path.exists()
    assert "Quentin Nolloan" not in _all_text_in_product_tables()
    assert User.objects.filter(pk=user.pk, is_active=False).exists()


def test_staff_accounts_are_not_anonymised_by_the_command(officer, dpo):
    with pytest.raises(CommandError):
        call_command("anonymise_customer", officer.email, "--by", dpo.email, "--reason", "x", "--yes")


# --- Audit of full-PII access -----------------------------------------------------------------------

def test_every_staff_document_download_and_inline_view_is_audited(client_for, officer):
    from tests.factories import workbench_case

    application = workbench_case()
    document = CustomerDocument.objects.filter(profile__user=application.customer).first()
    owner = client_for(application.customer)
    response = owner.get(reverse("document_download", args=[document.pk]))
    assert response.status_code == 200 and b"".join(response.streaming_content)
    assert not AuditEvent.objects.filter(action="document.download").exists()  # one's own file

    staff = client_for(officer)
    response = staff.get(reverse("document_download", args=[document.pk]))
    assert response.status_code == 200 and b"".join(response.streaming_content)
    response = staff.get(reverse("workbench_document_inline", args=[application.pk, document.pk]))
    assert response.status_code == 200 and b"".join(response.streaming_content)
    events = AuditEvent.objects.filter(action="document.download", actor=officer, target_id=str(document.pk))
    assert events.count() == 2


def test_revealing_a_full_id_number_is_audited_and_refused_to_collectors(client_for, officer, make_user):
    profile = CustomerProfileFactory()
    full_id = decrypt(profile.id_number_encrypted)
    page = client_for(officer).get(reverse("staff_customer_detail", args=[profile.pk]))
    assert full_id not in page.content.decode() and profile.id_number_masked in page.content.decode()
    shown = client_for(officer).post(reverse("staff_reveal_id", args=[profile.pk]), {"reason": "verify call"})
    assert full_id in shown.content.decode()
    assert AuditEvent.objects.filter(action="pii.view_full_id", actor=officer, target_id=str(profile.pk)).count() == 1
    collector = client_for(make_user(Role.COLLECTOR))
    assert collector.post(reverse("staff_reveal_id", args=[profile.pk])).status_code == 403
    assert AuditEvent.objects.filter(action="pii.view_full_id").count() == 1
