"""The application wizard: one step per page, every field checked on the server with the message next
to it, back and forth without losing input, resumable, and submission only when complete."""

import re
from decimal import Decimal

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from customers import selectors, services
from customers.models import ApplicationDraft, Consent, CustomerProfile, ExpenseLine, IncomeLine
from installments.models import Application
from portal import services as portal_services
from tests.factories import TINY_PNG, resident_id
from tests.portal.conftest import WORK_DATA, complete_profile, personal_data, ready_draft, statement_csv, step_url

pytestmark = pytest.mark.django_db


def assert_field_error(response, field: str, words: str = "") -> None:
    content = response.content.decode()
    field_id = f"id_{field}"
    assert f'id="{field_id}_errors" role="alert"' in content, f"no error shown for {field}"
    widget = content[content.index(f'id="{field_id}"') - 400: content.index(f'id="{field_id}"') + 400]
    assert f"{field_id}_errors" in widget and 'aria-invalid="true"' in widget
    if words:
        block = content[content.index(f'id="{field_id}_errors"'):][:400]
        assert words in block, block


def test_the_first_visit_starts_a_draft_and_shows_step_one_with_progress(customer_client, customer):
    response = customer_client.get(reverse("portal:apply"), follow=True)
    assert response.redirect_chain[-1][0] == step_url("personal")
    content = response.content.decode()
    assert 'role="progressbar"' in content and 'aria-valuenow="1"' in content and "Step 1 of 7" in content
    assert ApplicationDraft.objects.filter(user=customer, submitted_at__isnull=True).count() == 1


def test_personal_details_errors_are_shown_next_to_each_field(customer_client):
    response = customer_client.post(step_url("personal"), personal_data(full_name="", phone="12", postcode="1"))
    assert response.status_code == 200
    assert_field_error(response, "full_name", "required")
    assert not CustomerProfile.objects.exists()


def test_a_wrong_check_digit_is_refused_next_to_the_id_number(customer_client):
    number = resident_id(5)
    wrong = number[:17] + ("0" if number[17] != "0" else "1")
    response = customer_client.post(step_url("personal"), personal_data(id_number=wrong))
    assert_field_error(response, "id_number", "check digit")
    response = customer_client.post(step_url("personal"), personal_data(phone="12345"))
    assert_field_error(response, "phone", "mobile number")


def test_valid_personal_details_create_the_profile_and_move_on(customer_client, customer):
    response = customer_client.post(step_url("personal"), personal_data())
    assert response.status_code == 302 and response.url == step_url("work")
    profile = CustomerProfile.objects.get(user=customer)
    assert profile.id_number_masked.endswith(resident_id(901)[-4:]) and profile.date_of_birth is not None
    draft = portal_services.draft_open(customer)
    assert draft.furthest_step == 1 and draft.current_step == "work"


def test_the_id_number_is_checked_inline_as_it_is_typed(customer_client):
    url = reverse("portal:check_id_number")
    good = customer_client.post(url, {"id_type": "prc_resident_id", "id_number": resident_id(3)},
                                HTTP_HX_REQUEST="true")
    assert "valid" in good.content.decode() and "1990-03-07" in good.content.decode()
    bad = customer_client.post(url, {"id_type": "prc_resident_id", "id_number": resident_id(3)[:17] + "0"})
    bad_text = bad.content.decode()
    assert "text-danger" in bad_text or "valid" in bad_text
    short = customer_client.post(url, {"id_type": "prc_resident_id", "id_number": "1101"})
    assert "18 characters" in short.content.decode()


def test_work_step_requires_background_and_an_income(customer_client, customer):
    complete_profile(customer)
    IncomeLine.objects.filter(profile__user=customer).delete()
    draft = portal_services.draft_start(user=customer)
    draft.furthest_step = 1
    draft.save()
    response = customer_client.post(step_url("work"), {**WORK_DATA, "employment_type": "", "years_in_job": ""})
    assert_field_error(response, "employment_type")
    response = customer_client.post(step_url("work"), {**WORK_DATA, "years_in_job": ""})
    assert_field_error(response, "years_in_job", "current job")
    response = customer_client.post(step_url("work"), WORK_DATA)
    assert response.status_code == 200
    assert 'id="step-requirements"' in response.content.decode()
    assert "at least one source of income" in response.content.decode()
    # An income line added inline (htmx) makes the step complete.
    added = customer_client.post(reverse("portal:apply_line_add", args=["income"]),
                                 {"income-source": "salary", "income-monthly_amount": "12000",
                                  "income-description": ""}, HTTP_HX_REQUEST="true")
    assert added.status_code == 200 and 'id="lines-income"' in added.content.decode()
    assert "12,000.00" in added.content.decode()
    response = customer_client.post(step_url("work"), WORK_DATA)
    assert response.status_code == 302 and response.url == step_url("finances")


def test_a_bad_finance_line_is_refused_next_to_its_field(customer_client, customer):
    complete_profile(customer)
    response = customer_client.post(reverse("portal:apply_line_add", args=["debt"]),
                                    {"debt-lender": "", "debt-kind": "credit_card", "debt-outstanding_balance": "-5",
                                     "debt-monthly_payment": "100"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert_field_error(response, "debt-lender")
    assert_field_error(response, "debt-outstanding_balance")


def test_finances_step_requires_an_expense(customer_client, customer):
    profile = complete_profile(customer)
    profile.expenses.all().delete()
    draft = portal_services.draft_start(user=customer)
    draft.furthest_step = 2
    draft.save()
    response = customer_client.post(step_url("finances"), {"action": "next"})
    assert response.status_code == 200 and "your monthly expenses" in response.content.decode()
    customer_client.post(reverse("portal:apply_line_add", args=["expense"]),
                         {"expense-category": "housing", "expense-monthly_amount": "2500"})
    response = customer_client.post(step_url("finances"), {"action": "next"})
    assert response.status_code == 302 and response.url == step_url("documents")


def test_documents_step_needs_an_id_and_income_evidence_and_checks_file_content(customer_client, customer):
    from customers.models import CustomerDocument, StatementSummary

    complete_profile(customer, statement=False)
    CustomerDocument.objects.all().delete()
    draft = portal_services.draft_start(user=customer)
    draft.furthest_step = 3
    draft.save()
    response = customer_client.post(step_url("documents"), {"action": "next"})
    content = response.content.decode()
    assert "a photo or scan of your ID (front)" in content and "a bank statement (CSV) or a proof of income" in content
    fake = SimpleUploadedFile("id.png", b"not really a picture")
    response = customer_client.post(step_url("documents"), {"action": "upload_document", "document-kind": "id_front",
                                                            "document-file": fake})
    assert_field_error(response, "document-file", "PDF, JPEG and PNG")
    customer_client.post(step_url("documents"), {"action": "upload_document", "document-kind": "id_front",
                                                 "document-file": SimpleUploadedFile("id.png", TINY_PNG)})
    broken = customer_client.post(step_url("documents"), {
        "action": "import_statement", "statement-file": SimpleUploadedFile("s.csv", b"nonsense\n1,2\n")})
    assert 'id="id_statement-file_errors" role="alert"' in broken.content.decode()
    customer_client.post(step_url("documents"), {"action": "import_statement",
                                                 "statement-file": SimpleUploadedFile("s.csv", statement_csv())})
    assert StatementSummary.objects.filter(profile__user=customer).exists()
    response = customer_client.post(step_url("documents"), {"action": "next"})
    assert response.status_code == 302 and response.url == step_url("request")


def _request_data(product, **overrides):
    data = {"product": product.pk, "amount": "20000", "purpose": "furniture", "preference": "payment",
            "target_monthly_payment": "2000", "term_months": "", "preferred_method": "", "income_pattern": "regular"}
    data.update(overrides)
    return data


def test_request_step_checks_amount_range_preference_and_seasonal_months(customer_client, customer, product):
    complete_profile(customer)
    draft = portal_services.draft_start(user=customer)
    draft.furthest_step = 4
    draft.save()
    response = customer_client.post(step_url("request"), _request_data(product, amount="500000"))
    assert_field_error(response, "amount", "between 1,000")
    response = customer_client.post(step_url("request"), _request_data(product, target_monthly_payment=""))
    assert_field_error(response, "target_monthly_payment", "monthly payment you can afford")
    response = customer_client.post(step_url("request"), _request_data(product, preference="term", term_months="99"))
    assert_field_error(response, "term_months", "between 3 and 36")
    response = customer_client.post(step_url("request"), _request_data(product, income_pattern="seasonal"))
    assert 'id="id_low_income_months_errors" role="alert"' in response.content.decode()
    assert not Application.objects.exists()
    response = customer_client.post(step_url("request"), _request_data(
        product, income_pattern="seasonal", low_income_months=["1", "2"], preferred_method="seasonal"))
    assert response.status_code == 302 and response.url == step_url("consents")
    application = Application.objects.get(customer=customer)
    assert application.state == "draft" and application.amount == Decimal("20000.00")
    assert application.low_income_months == [1, 2] and application.target_monthly_payment == Decimal("2000.00")
    assert portal_services.draft_open(customer).application == application


def test_the_amount_is_checked_inline_against_the_product(customer_client, product):
    url = reverse("portal:check_amount")
    assert "between 1,000" in customer_client.post(url, {"product": product.pk, "amount": "50"}).content.decode()
    assert "Within the range" in customer_client.post(url, {"product": product.pk, "amount": "9000"}).content.decode()


def test_consents_are_required_and_recorded_with_the_address(customer_client, customer, product):
    draft = ready_draft(customer, product, consents=False)
    draft.furthest_step = 5
    draft.save()
    response = customer_client.post(step_url("consents"), {"credit_check": "on"})
    assert_field_error(response, "data_processing", "We need this consent")
    response = customer_client.post(step_url("consents"), {"credit_check": "on", "data_processing": "on"},
                                    REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 302 and response.url == step_url("review")
    consents = Consent.objects.filter(user=customer, withdrawn_at__isnull=True)
    assert {c.kind for c in consents} == {"credit_check", "data_processing"}
    assert {c.ip_address for c in consents} == {"203.0.113.9"}


def test_review_refuses_to_submit_naming_what_is_missing(customer_client, customer, product):
    draft = ready_draft(customer, product, consents=False)
    response = customer_client.get(step_url("review"))
    assert 'id="missing"' in response.content.decode()
    assert "your consent: Credit check" in response.content.decode()
    response = customer_client.post(step_url("review"), {"confirm": "on"})
    content = response.content.decode()
    assert 'id="submit-error"' in content and "Credit check" in content and "Processing of my personal data" in content
    draft.refresh_from_db()
    assert draft.submitted_at is None and draft.application.state == "draft"
    response = customer_client.post(step_url("review"), {})
    assert_field_error(response, "confirm", "true and complete")


@pytest.mark.parametrize("change", ["nothing", "no_consents", "old_consent_text", "consent_withdrawn", "no_statement",
                                    "no_statement_but_income_proof", "no_income", "no_expenses", "no_id_document",
                                    "no_request"])
def test_the_review_page_lists_exactly_what_the_submission_would_refuse_for(customer_client, customer, product,
                                                                           change):
    """The review page hands application_missing what it read already (lines and documents
    prefetched), the submission what selectors.profile_for_submission read in one query, and either
    can let it read everything itself. All must name the same missing items."""
    draft = ready_draft(customer, product, consents=change != "no_consents")
    profile = customer.profile
    if change == "old_consent_text":
        Consent.objects.filter(user=customer, kind="credit_check").update(text_version="2020-01")
    elif change == "consent_withdrawn":
        Consent.objects.filter(user=customer, kind="data_processing").update(withdrawn_at=timezone.now())
    elif change.startswith("no_statement"):
        profile.statements.all().delete()
        if change == "no_statement_but_income_proof":
            services.document_upload(profile=profile, kind="income_proof", by=customer,
                                     file=ContentFile(TINY_PNG, name="payslip.png"))
    elif change == "no_income":
        IncomeLine.objects.filter(profile=profile).delete()
    elif change == "no_expenses":
        ExpenseLine.objects.filter(profile=profile).delete()
    elif change == "no_id_document":
        profile.documents.filter(kind="id_front").delete()
    elif change == "no_request":
        draft.application.delete()
        draft.refresh_from_db()
    expected = [m.message for m in portal_services.application_missing(user=customer, draft=draft)]
    assert bool(expected) == (change not in ("nothing", "no_statement_but_income_proof"))
    read_for_submission = selectors.profile_for_submission(customer)
    assert [m.message for m in portal_services.application_missing(
        user=customer, draft=draft, profile=read_for_submission)] == expected
    content = customer_client.get(step_url("review")).content.decode()
    for message in expected:
        assert message in content
    if not expected:
        assert 'id="missing"' not in content
    response = customer_client.post(step_url("review"), {"confirm": "on"})
    draft.refresh_from_db()
    assert (draft.submitted_at is None) == bool(expected) and response.status_code == (200 if expected else 302)


def test_a_complete_application_is_submitted_and_scoring_queued_after_commit(
        customer_client, customer, product, django_capture_on_commit_callbacks, monkeypatch):
    queued = []
    monkeypatch.setattr("installments.origination.applications.enqueue_scoring", lambda *, application_id: queued.append(application_id))
    draft = ready_draft(customer, product)
    with django_capture_on_commit_callbacks(execute=True):
        response = customer_client.post(step_url("review"), {"confirm": "on"})
    application = Application.objects.get(customer=customer)
    assert response.status_code == 302 and response.url == reverse("portal:application", args=[application.pk])
    assert application.state == "submitted" and queued == [application.pk]
    draft.refresh_from_db()
    assert draft.submitted_at is not None and portal_services.draft_open(customer) is None


def test_going_back_with_unsaved_input_keeps_it_for_later(customer_client, customer, product):
    complete_profile(customer)
    draft = portal_services.draft_start(user=customer)
    draft.furthest_step = 4
    draft.save()
    response = customer_client.post(step_url("request"), {**_request_data(product, amount="abc"), "action": "back"})
    assert response.status_code == 302 and response.url == step_url("documents")
    response = customer_client.get(step_url("request"))
    content = response.content.decode()
    assert 'value="abc"' not in content or "Enter a number" in content
    assert 'value="2000"' in content  # the target payment typed before going back is still there
    assert_field_error(response, "amount")


def test_an_id_number_is_never_kept_in_the_draft(customer, product):
    from django.http import QueryDict

    draft = portal_services.draft_start(user=customer)
    data = QueryDict(mutable=True)
    data.update({"id_number": resident_id(1), "full_name": "Wang", "csrfmiddlewaretoken": "x"})
    portal_services.draft_keep_input(draft=draft, step="personal", data=data)
    draft.refresh_from_db()
    assert draft.pending_input == {"personal": {"full_name": ["Wang"]}}


def test_a_draft_resumes_at_the_step_where_the_customer_left(client, customer, product):
    draft = ready_draft(customer, product)
    draft.current_step = "documents"
    draft.save()
    client.force_login(customer, backend="customers.backends.ModelBackendWithRoles")
    response = client.get(reverse("portal:apply"))
    assert response.url == step_url("documents")
    # Every earlier answer is still there: the request step shows the saved amount.
    content = client.get(step_url("request")).content.decode()
    assert 'value="20000.00"' in content
    account = client.get(reverse("portal:account")).content.decode()
    assert 'id="continue-application"' in account


def test_steps_not_reached_yet_cannot_be_skipped_to(customer_client, customer):
    portal_services.draft_start(user=customer)
    response = customer_client.get(step_url("review"))
    assert response.status_code == 302 and response.url == step_url("personal")
    assert customer_client.get(reverse("portal:apply_step", args=["nonsense"])).status_code == 404


def test_discarding_a_draft_withdraws_its_application(customer_client, customer, product):
    draft = ready_draft(customer, product)
    response = customer_client.post(reverse("portal:apply_discard"))
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.discarded_at is not None and draft.application.state == "withdrawn"
    assert portal_services.draft_open(customer) is None


def test_the_language_switch_keeps_the_page(customer_client, customer, product):
    ready_draft(customer, product)
    page = step_url("request")
    response = customer_client.post(reverse("set_language"), {"language": "zh-hans", "next": page})
    assert response.status_code == 302 and response.url == page
    response = customer_client.get(page)
    assert response.status_code == 200 and '<html lang="zh-hans">' in response.content.decode()
    response = customer_client.post(reverse("set_language"), {"language": "en", "next": page})
    assert response.url == page and '<html lang="en">' in customer_client.get(page).content.decode()


def test_a_staff_member_without_the_customer_role_cannot_apply(client, make_user):
    officer = make_user("loan_officer")
    client.force_login(officer, backend="customers.backends.ModelBackendWithRoles")
    assert client.get(reverse("portal:apply")).status_code == 403
    assert client.get(reverse("portal:account")).status_code == 403


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get(reverse("portal:apply_step", args=["personal"]))
    assert response.status_code == 302 and reverse("login") in response.url


def _outer_query(sql: str) -> str:
    """The SQL with every parenthesised part (subqueries among them) emptied."""
    while (emptied := re.sub(r"\([^()]*\)", "_", sql)) != sql:
        sql = emptied
    return sql


def test_the_submission_reads_the_profile_and_what_it_checks_in_one_query(customer_client, customer, product):
    """The submit POST locks the draft and then its application (on PostgreSQL) and reads the profile
    with its lines, documents, statement and consents as subqueries of one query: none of those
    tables is read on its own."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    ready_draft(customer, product)
    with CaptureQueriesContext(connection) as captured:
        response = customer_client.post(step_url("review"), {"confirm": "on"})
    assert response.status_code == 302
    from config.prepared import original_sql

    sqls = [original_sql(q["sql"]) for q in captured.captured_queries]  # EXECUTE of a prepared query -> its SQL
    reads = [sql for sql in sqls if sql.startswith("SELECT")]
    main_tables = [_outer_query(sql).split(" FROM ", 1)[1].split()[0].strip('"') for sql in reads]
    for table in ("customers_incomeline", "customers_expenseline", "customers_customerdocument",
                  "customers_consent", "customers_statementsummary"):
        assert table not in main_tables, f"{table} read on its own"
    assert main_tables.count("customers_customerprofile") == 1
    if connection.vendor == "postgresql":  # the draft locked first, then its application
        locked = [_outer_query(sql).split(" FROM ", 1)[1].split()[0].strip('"') for sql in reads
                  if sql.endswith(" FOR UPDATE")]
        assert locked == ["customers_applicationdraft", "installments_application"], locked
