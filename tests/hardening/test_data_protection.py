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


# --- Data at rest and in logs: audit data, console SMS, the ID number search, the log filter ----------

def test_audit_data_after_a_phone_change_holds_no_full_phone(make_user):
    from customers.services import profile_update

    user = make_user(Role.CUSTOMER)
    profile = CustomerProfileFactory(user=user, phone="13912345678")
    profile_update(profile=profile, data={"phone": "13700001111", "city": "Hangzhou"}, by=user)
    events = AuditEvent.objects.filter(target_id=str(profile.pk), action__startswith="profile.")
    text = json.dumps([event.data for event in events])
    assert "13912345678" not in text and "13700001111" not in text
    update = events.get(action="profile.update")
    assert update.data["changes"]["phone"] == ["139****5678", "137****1111"]
    assert update.data["changes"]["city"][1] == "Hangzhou"


def test_audit_record_masks_sensitive_keys_and_numbers_in_any_value(make_user):
    from customers.audit import audit_record

    resident = "110101199003074573"  # valid GB 11643 check character
    event = audit_record(actor=make_user(Role.LOAN_OFFICER), action="test.pii", reason="called 13812345678", data={
        "mobile": 13812345678, "card_number": "6222020200112233446", "id_number": resident,
        "note": f"id {resident}, card 4111 1111 1111 1111, phone +86 13812345678",
        "nested": [{"phone": "13812345678"}], "amount": "1234.56", "plan": 17, "elapsed": "0.0223484928173452s",
    })
    event.refresh_from_db()
    text = json.dumps(event.data) + event.reason
    for clear in (resident, "13812345678", "6222020200112233446", "4111 1111 1111 1111"):
        assert clear not in text, clear
    assert event.data["mobile"] == "138****5678" and event.data["nested"] == [{"phone": "138****5678"}]
    assert event.data["id_number"] == "1101**********4573" and event.data["card_number"] == "6222***********3446"
    assert (event.data["amount"], event.data["plan"], event.data["elapsed"]) == ("1234.56", 17, "0.0223484928173452s")
    assert event.reason == "called 138****5678"


def test_console_sms_prints_masked_numbers(capsys):
    from customers.notifications import ConsoleSmsBackend, OutgoingMessage

    ConsoleSmsBackend().send(OutgoingMessage(channel="sms", to="13812345678", subject="",
                                             body="Payment due; call us from 13812345678.", reference="r-1"))
    out = capsys.readouterr().out
    assert "13812345678" not in out and "[SMS to 138****5678]" in out and "Payment due" in out


def test_finding_a_customer_by_id_number_never_puts_it_in_a_url(client_for, officer):
    from customers.pii import search_hash

    profile = CustomerProfileFactory(full_name="Wen Searchable")
    number = decrypt(profile.id_number_encrypted)
    CustomerProfileFactory(full_name="Someone Else")
    client = client_for(officer)

    page = client.get(reverse("staff_customer_list")).content.decode()
    assert f'method="post" action="{reverse("staff_customer_find_by_id")}"' in page

    response = client.post(reverse("staff_customer_find_by_id"), {"id_number": number.lower()}, follow=True)
    assert response.status_code == 200 and response.redirect_chain
    for url, _status in response.redirect_chain:
        assert number not in url and number.lower() not in url
    assert f"id_hash={search_hash(number)}" in response.redirect_chain[-1][0]
    assert list(response.context["page"]) == [profile]
    assert number not in response.content.decode()

    # The number in the query string finds nobody (so nobody is taught to put it there).
    assert list(client.get(reverse("staff_customer_list"), {"q": number}).context["page"]) == []
    refused = client.get(reverse("staff_customer_list"), {"id_hash": number})
    assert refused.status_code == 200 and list(refused.context["page"]) == []
    assert list(client.get(reverse("staff_customer_list"), {"q": "Wen Search"}).context["page"]) == [profile]


def test_the_api_finds_a_customer_by_id_number_in_the_body_only(api_client, officer):
    profile = CustomerProfileFactory(full_name="Wen Searchable")
    number = decrypt(profile.id_number_encrypted)
    CustomerProfileFactory(full_name="Someone Else")
    api_client.force_authenticate(officer)

    found = api_client.post(reverse("api-customers-find-by-id"), {"id_number": number}, format="json")
    assert found.status_code == 200, found.content
    body = found.json()
    assert [row["id"] for row in body["results"]] == [profile.pk] and number not in found.content.decode()
    listed = api_client.get(reverse("api-customers"), {"id_hash": body["id_hash"]}).json()
    assert [row["id"] for row in listed["results"]] == [profile.pk]

    assert api_client.get(reverse("api-customers"), {"q": number}).json()["count"] == 0
    assert api_client.get(reverse("api-customers"), {"id_hash": number}).status_code == 400
    assert api_client.post(reverse("api-customers-find-by-id"), {"id_number": " - "}, format="json").status_code == 400
    nobody = api_client.post(reverse("api-customers-find-by-id"), {"id_number": "110101199003074573"}, format="json")
    assert nobody.status_code == 200 and nobody.json()["results"] == []


def _logged(message: str, *args) -> str:
    import logging

    from customers.logging import MaskPIIFilter

    record = logging.LogRecord("x", logging.INFO, __file__, 1, message, args, None)
    MaskPIIFilter().filter(record)
    return record.getMessage()


def test_the_log_filter_masks_only_real_id_card_and_phone_numbers():
    # Timings, amounts and other numbers are left alone.
    for text in ("Task scoring.score succeeded in 0.0223484928s: None",
                 "Task scoring.score succeeded in 0.0223484928173452s: None",
                 "amount 12345678901234.56", "order 1234567890123456",  # Luhn fails
                 "id 110101199003074578"):  # the check character fails: not an ID number
        assert _logged(text) == text
    assert _logged("looked up %s", "110101199003074573") == "looked up 1101**********4573"
    assert _logged("ID 11010119900307459X ok") == "ID 1101**********459X ok"
    assert _logged("card 4111111111111111 declined") == "card 4111********1111 declined"
    assert _logged("card 6222 0202 0011 2233 446.") == "card 6222********3446."
    assert _logged("sms to 13812345678 sent") == "sms to 138****5678 sent"


def test_the_log_filter_masks_tracebacks_too():
    import logging

    from customers.logging import MaskPIIFilter

    try:
        raise ValueError("duplicate 110101199003074573")
    except ValueError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    MaskPIIFilter().filter(record)
    assert "110101199003074573" not in logging.Formatter().format(record)
