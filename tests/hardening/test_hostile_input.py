"""Hostile input: oversized, empty, disguised and malformed uploads and CSVs get a clear error and store
nothing; HTML and SQL injection attempts in free-text fields are stored verbatim and shown escaped."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from customers.models import CustomerDocument, CustomerProfile, StatementSummary
from tests.factories import TINY_PNG, tiny_pdf

pytestmark = pytest.mark.django_db

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'
SQLI = "Robert'); DROP TABLE customers_customerprofile;--"
ESCAPED = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"


def _documents_and_files(profile, media_root) -> tuple[int, int]:
    folder = media_root / "documents"
    files = len(list(folder.iterdir())) if folder.exists() else 0
    return CustomerDocument.objects.filter(profile=profile).count(), files


@pytest.fixture
def customer_a(world, client_for):
    return client_for(world.a.user), world.a.profile


def _upload(client, name: str, content: bytes, kind: str = "income_proof"):
    return client.post(reverse("profile_document_upload"), {"kind": kind, "file": SimpleUploadedFile(name, content)})


@pytest.mark.parametrize("name, content, message", [
    ("empty.pdf", b"", "empty"),
    ("payslip.pdf", b"<html><script>alert(1)</script></html>", "PDF, JPEG and PNG"),
    ("payslip.pdf", b"MZ\x90\x00\x03" + b"\x00" * 200, "PDF, JPEG and PNG"),
    ("../../../etc/passwd.pdf", b"root:x:0:0", "PDF, JPEG and PNG"),
])
def test_bad_document_uploads_get_a_clear_error_and_store_nothing(customer_a, settings, name, content, message):
    client, profile = customer_a
    before = _documents_and_files(profile, settings.MEDIA_ROOT)
    response = _upload(client, name, content)
    assert response.status_code in (200, 400) and message in response.content.decode()
    assert _documents_and_files(profile, settings.MEDIA_ROOT) == before


def test_a_document_over_the_size_limit_is_refused(customer_a, settings):
    client, profile = customer_a
    settings.DOCUMENT_MAX_BYTES = 50_000
    before = _documents_and_files(profile, settings.MEDIA_ROOT)
    response = _upload(client, "big.pdf", tiny_pdf() + b"%" * 60_000)
    assert response.status_code in (200, 400) and "larger than" in response.content.decode()
    assert _documents_and_files(profile, settings.MEDIA_ROOT) == before


def test_a_really_large_upload_is_refused_without_an_error(customer_a, settings):
    client, profile = customer_a
    before = _documents_and_files(profile, settings.MEDIA_ROOT)
    response = _upload(client, "huge.pdf", b"%PDF-1.4\n" + b"0" * (settings.DOCUMENT_MAX_BYTES + 1024))
    assert response.status_code in (200, 400) and "larger than" in response.content.decode()
    assert _documents_and_files(profile, settings.MEDIA_ROOT) == before


def test_a_png_named_pdf_is_judged_by_its_content_never_by_its_name(customer_a):
    client, profile = customer_a
    response = _upload(client, "statement.pdf", TINY_PNG)
    document = CustomerDocument.objects.filter(profile=profile).order_by("-pk").first()
    if response.status_code == 302:  # accepted as what it is
        assert document.content_type == "image/png" and document.file.name.endswith(".png")
        download = client.get(reverse("document_download", args=[document.pk]))
        assert download["Content-Type"] == "image/png" and b"".join(download.streaming_content) == TINY_PNG
    else:
        assert response.status_code == 400


def test_api_upload_of_a_disguised_file_names_the_field(world, api_client):
    api_client.force_authenticate(world.a.user)
    response = api_client.post(reverse("api-profile-documents"), {
        "kind": "income_proof", "file": SimpleUploadedFile("x.pdf", b"#!/bin/sh\nrm -rf /\n")}, format="multipart")
    assert response.status_code == 400 and "file" in response.json()


# --- Bank-statement CSVs ------------------------------------------------------------------------------

def _wide_csv(columns: int) -> bytes:
    header = ",".join(f"c{i}" for i in range(columns))
    return (header + "\n" + ",".join("1" for _ in range(columns)) + "\n").encode()


@pytest.mark.parametrize("label, content", [
    ("a million columns", _wide_csv(1_000_000)),
    ("one very long line", b"x" * 200_000 + b"\n"),
    ("one very long quoted cell", b'date,description,amount,balance\n2025-01-05,"' + b"y" * 200_000 + b'",1,1\n'),
    ("binary garbage", bytes(range(256)) * 400),
    ("a gzip bomb header", b"\x1f\x8b\x08\x00" + b"\x00" * 5000),
    ("only a header", b"date,description,amount,balance\n"),
    ("text in the amount", b"date,description,amount,balance\n2025-01-05,salary,lots,100\n"),
    ("empty", b""),
    ("UTF-16 noise", "日期,描述\n\ud7ff".encode("utf-16", "surrogatepass")),
])
def test_malformed_statement_csvs_get_a_clear_error_and_store_nothing(customer_a, label, content):
    client, profile = customer_a
    before = StatementSummary.objects.filter(profile=profile).count()
    response = client.post(reverse("profile_statement_upload"), {"file": SimpleUploadedFile("s.csv", content)})
    assert response.status_code in (200, 400), label
    assert "alert-danger" in response.content.decode() or "invalid-feedback" in response.content.decode(), label
    assert StatementSummary.objects.filter(profile=profile).count() == before, label


@pytest.mark.parametrize("label, content", [
    ("one very long line", b"x" * 200_000 + b"\n"),
    ("one very long reference", b'plan_number,amount,date,reference\nP,1,2026-01-01,"' + b"y" * 200_000 + b'"\n'),
    ("binary garbage", bytes(range(256)) * 400),
    ("only a header", b"plan_number,amount,date,reference\n"),
])
def test_malformed_bank_receipt_csvs_get_a_clear_error_and_post_nothing(world, client_for, label, content):
    from collections_app.models import Payment

    before = Payment.objects.count()
    response = client_for(world.users["officer"]).post(reverse("collections:staff_payment_import"),
                                                       {"file": SimpleUploadedFile("r.csv", content)})
    assert response.status_code in (200, 400), label
    assert "alert-danger" in response.content.decode() or "invalid-feedback" in response.content.decode(), label
    assert Payment.objects.count() == before, label


# --- Injection in free text ---------------------------------------------------------------------------

def test_html_and_sql_in_profile_fields_are_stored_verbatim_and_shown_escaped(world, client_for):
    from customers.services import profile_update

    profile, customer = world.a.profile, world.a.user
    profile_update(profile=profile, data={"full_name": XSS, "street": SQLI, "employer": XSS}, by=customer)
    profile.refresh_from_db()
    assert profile.full_name == XSS and profile.street == SQLI
    assert CustomerProfile.objects.filter(street=SQLI).count() == 1  # the table is still there

    application = world.a.objects["application"][0]
    case = world.a.objects["case"][0]
    pages = [
        (world.a.user, reverse("profile")),
        (world.users["officer"], reverse("staff_customer_detail", args=[profile.pk])),
        (world.users["officer"], reverse("workbench_application", args=[application.pk])),
        (world.users["officer"], reverse("workbench_queue")),
        (world.users["collector"], reverse("collections:case", args=[case.pk])),
        (world.users["collector"], reverse("collections:queue")),
    ]
    for user, url in pages:
        body = client_for(user).get(url).content.decode()
        assert XSS not in body and "<img src=x onerror" not in body, url
    shown = client_for(world.users["officer"]).get(reverse("staff_customer_detail", args=[profile.pk]))
    assert ESCAPED in shown.content.decode()
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM customers_customerprofile")
        assert cursor.fetchone()[0] >= 2


def test_html_in_notes_contact_logs_and_requests_is_shown_escaped(world, client_for):
    from collections_app.collections import cases
    from customers.services import interview_note_add

    officer, collector = world.users["officer"], world.users["collector"]
    case = world.a.objects["case"][0]
    interview_note_add(profile=world.a.profile, author=officer, text=XSS, stability_rating=3, willingness_rating=3)
    cases.contact_log_add(case=case, by=collector, channel="phone", outcome="reached", notes=XSS)
    cases.case_note_add(case=case, by=collector, text=XSS + SQLI)

    checks = [
        (officer, reverse("staff_customer_detail", args=[world.a.profile.pk])),
        (collector, reverse("collections:case", args=[case.pk])),
        (officer, reverse("collections:staff_requests")),
    ]
    for user, url in checks:
        body = client_for(user).get(url).content.decode()
        assert XSS not in body, url
    case_page = client_for(collector).get(reverse("collections:case", args=[case.pk])).content.decode()
    assert ESCAPED in case_page


def test_html_in_a_self_service_request_reason_is_escaped_for_staff(world, client_for):
    from collections_app.models import ServicingRequest
    from collections_app.servicing import requests

    plan = world.b.objects["plan"][0]
    ServicingRequest.objects.filter(plan=plan).update(status="cancelled")
    requests.request_create(plan=plan, kind="early_payoff", by=world.b.user, reason=XSS,
                             params={"on_date": timezone.localdate().isoformat()})
    body = client_for(world.users["officer"]).get(reverse("collections:staff_requests")).content.decode()
    assert XSS not in body and "&lt;script&gt;" in body


def test_a_search_box_survives_sql_injection(world, client_for):
    officer = client_for(world.users["officer"])
    for url in (reverse("staff_customer_list"), reverse("workbench_queue")):
        response = officer.get(url, {"q": SQLI + " OR 1=1"})
        assert response.status_code == 200, url
        assert world.b.markers[0] not in response.content.decode(), url
    assert CustomerProfile.objects.count() >= 2


def test_csv_export_cells_cannot_start_a_formula(world, client_for):
    """A manager's CSV export neutralises =, +, -, @ at the start of a cell (spreadsheet injection)."""
    from customers.services import profile_update

    profile_update(profile=world.a.profile, data={"full_name": "=HYPERLINK(\"http://x\")"}, by=world.a.user)
    response = client_for(world.users["manager"]).get(reverse("collections:analysis"), {"format": "csv"})
    if response.get("Content-Type", "").startswith("text/csv"):
        text = b"".join(response.streaming_content).decode() if response.streaming else response.content.decode()
        assert "\n=HYPERLINK" not in text and ",=HYPERLINK" not in text
