"""Documents: content checked by magic bytes, private random names, encrypted at rest, permission-checked
download, review."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from config.errors import DomainError
from customers import pii, services
from customers.models import AuditEvent, CustomerDocument

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 32


def _upload(profile, content: bytes, name: str, kind: str = "income_proof"):
    return services.document_upload(profile=profile, kind=kind, file=SimpleUploadedFile(name, content),
                                    by=profile.user)


@pytest.mark.parametrize(("content", "name", "content_type"), [
    (PDF, "payslip.pdf", "application/pdf"),
    (PNG, "id-front.PNG", "image/png"),
    (JPEG, "photo.jpeg", "image/jpeg"),
    (PDF, "no-extension", "application/pdf"),  # the content decides, not the name
])
def test_pdf_jpeg_and_png_are_accepted_by_content(profile, private_media, content, name, content_type):
    document = _upload(profile, content, name)
    assert document.content_type == content_type and document.original_filename == name
    assert document.review_state == "pending" and document.size_bytes == len(content)
    stored = (private_media / document.file.name).read_bytes()
    assert stored != content and pii.decrypt_file(stored) == content  # encrypted at rest (test_data_at_rest.py)
    # A random 32-hex-digit name under documents/, nothing of the client's name.
    assert document.file.name.startswith("documents/") and name.split(".")[0] not in document.file.name
    assert len(document.file.name.split("/")[1].split(".")[0]) == 32


@pytest.mark.parametrize(("content", "name"), [
    (b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 64, "statement.pdf"),  # a Windows executable renamed .pdf
    (b"<html><script>alert(1)</script></html>", "scan.png"),
    (b"PK\x03\x04zip", "scan.jpg"),
])
def test_other_content_is_refused_whatever_the_name(profile, private_media, content, name):
    with pytest.raises(DomainError) as caught:
        _upload(profile, content, name)
    assert caught.value.field == "file" and caught.value.code == "file_type"
    assert not CustomerDocument.objects.exists()
    assert not (private_media / "documents").exists() or not any((private_media / "documents").iterdir())


def test_empty_and_oversized_files_are_refused(profile, settings):
    settings.DOCUMENT_MAX_BYTES = 100
    with pytest.raises(DomainError, match="empty"):
        _upload(profile, b"", "a.pdf")
    with pytest.raises(DomainError, match="larger"):
        _upload(profile, PDF + b"0" * 100, "a.pdf")


def test_client_paths_are_reduced_to_the_file_name(profile):
    document = _upload(profile, PDF, "C:\\Users\\li\\..\\secret\\payslip.pdf")
    assert document.original_filename == "payslip.pdf"


def test_owner_and_staff_download_others_get_404(profile, other_profile, officer, collector, client_for):
    document = _upload(profile, PDF, "payslip.pdf")
    url = reverse("document_download", args=[document.pk])

    response = client_for(profile.user).get(url)
    assert response.status_code == 200 and b"".join(response.streaming_content) == PDF
    assert response["Content-Type"] == "application/pdf"
    assert 'attachment; filename="payslip.pdf"' in response["Content-Disposition"]
    assert not AuditEvent.objects.filter(action="document.download").exists()  # the owner's own file

    for outsider in (other_profile.user, collector):
        assert client_for(outsider).get(url).status_code == 404

    assert client_for(officer).get(url).status_code == 200
    assert AuditEvent.objects.filter(action="document.download", actor=officer).count() == 1


def test_anonymous_download_goes_to_login_and_files_have_no_public_url(profile, client, settings):
    document = _upload(profile, PDF, "payslip.pdf")
    response = client.get(reverse("document_download", args=[document.pk]))
    assert response.status_code == 302 and reverse("login") in response["Location"]
    assert client.get("/media/" + document.file.name).status_code == 404
    assert client.get("/" + document.file.name).status_code == 404


def test_review_verifies_or_rejects_with_a_reason_and_is_audited(profile, officer):
    document = _upload(profile, PDF, "payslip.pdf")
    with pytest.raises(DomainError) as caught:
        services.document_review(document=document, to="rejected", by=officer, reason="  ")
    assert caught.value.field == "reason"
    document.refresh_from_db()
    assert document.review_state == "pending"

    document = services.document_review(document=document, to="rejected", by=officer, reason="Unreadable scan")
    assert (document.review_state, document.review_reason, document.reviewed_by) == ("rejected", "Unreadable scan",
                                                                                      officer)
    event = AuditEvent.objects.get(action="customerdocument.review_state")
    assert (event.from_state, event.to_state, event.reason, event.actor) == ("pending", "rejected",
                                                                             "Unreadable scan", officer)
    services.document_review(document=document, to="verified", by=officer)
    with pytest.raises(DomainError):
        services.document_review(document=document, to="pending", by=officer)


def test_only_staff_review_and_never_their_own_documents(profile, make_user, customer):
    from django.core.exceptions import PermissionDenied

    from customers.roles import Role
    from tests.factories import CustomerProfileFactory

    document = _upload(profile, PDF, "payslip.pdf")
    with pytest.raises(PermissionDenied):
        services.document_review(document=document, to="verified", by=customer)
    officer_customer = make_user(Role.LOAN_OFFICER, Role.CUSTOMER)
    own = _upload(CustomerProfileFactory(user=officer_customer), PDF, "mine.pdf")
    with pytest.raises(DomainError, match="own"):
        services.document_review(document=own, to="verified", by=officer_customer)


def test_the_database_requires_a_reason_for_a_rejection(profile):
    from django.db import IntegrityError

    document = _upload(profile, PDF, "payslip.pdf")
    document.review_state = "rejected"
    with pytest.raises(IntegrityError):
        document.save()
