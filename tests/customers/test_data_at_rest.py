"""Documents at rest: encrypted with the PII key ring (first key encrypts, all decrypt), decrypted on the
fly for the owner's and staff downloads, legacy plain files still served, and `rotate_pii_keys`
re-encrypting documents and ID numbers with the current key (and encrypting legacy plain files)."""

from io import StringIO

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from customers import pii, services
from customers.models import AuditEvent, CustomerDocument
from tests.factories import TINY_PNG, CustomerProfileFactory

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
OLD_KEY, NEW_KEY = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def _upload(profile, content: bytes = PDF, name: str = "payslip.pdf", kind: str = "income_proof"):
    return services.document_upload(profile=profile, kind=kind, file=SimpleUploadedFile(name, content),
                                    by=profile.user)


def _stored(private_media, document) -> bytes:
    return (private_media / document.file.name).read_bytes()


def _downloaded(client, document) -> bytes:
    response = client.get(reverse("document_download", args=[document.pk]))
    assert response.status_code == 200, response.status_code
    return b"".join(response.streaming_content)


def _legacy_document(profile, content: bytes = TINY_PNG) -> CustomerDocument:
    """A document stored before encryption: the plain bytes on disk, as older uploads and demo data are."""
    import hashlib

    document = CustomerDocument(profile=profile, kind="id_front", original_filename="old-id.png",
                                content_type="image/png", size_bytes=len(content),
                                sha256=hashlib.sha256(content).hexdigest(), uploaded_by=profile.user)
    document.file.save("upload.png", ContentFile(content), save=True)
    return document


@pytest.mark.parametrize(("content", "name"), [(PDF, "payslip.pdf"), (TINY_PNG, "id-front.png")])
def test_the_file_on_disk_is_not_the_upload_and_decrypts_back_to_it(profile, private_media, officer, client_for,
                                                                      content, name):
    document = _upload(profile, content, name, kind="id_front")
    stored = _stored(private_media, document)
    assert stored != content and content not in stored and not stored.startswith(content[:4])
    assert pii.is_encrypted_file(stored) and pii.decrypt_file(stored) == content
    assert document.size_bytes == len(content)  # the plain size and hash are kept for display and export
    # The owner and the staff get the plain file back, decrypted on the fly.
    assert _downloaded(client_for(profile.user), document) == content
    assert _downloaded(client_for(officer), document) == content
    assert [p.name for p in (private_media / "documents").iterdir()] == [document.file.name.split("/")[1]]


def test_new_files_use_the_first_key_and_older_keys_still_decrypt(profile, private_media, settings, client_for):
    settings.PII_ENCRYPTION_KEYS = [OLD_KEY]
    document = _upload(profile)
    token = _stored(private_media, document)[len(pii.FILE_HEADER):]
    assert Fernet(OLD_KEY).decrypt(token) == PDF

    settings.PII_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]  # a new key in front: the old file still reads
    assert _downloaded(client_for(profile.user), document) == PDF
    newer = _upload(profile, name="newer.pdf")
    token = _stored(private_media, newer)[len(pii.FILE_HEADER):]
    assert Fernet(NEW_KEY).decrypt(token) == PDF
    with pytest.raises(InvalidToken):
        Fernet(OLD_KEY).decrypt(token)


def test_rotation_reencrypts_documents_and_id_numbers_with_the_current_key(
        make_user, private_media, settings, officer, client_for, django_capture_on_commit_callbacks):
    from customers.roles import Role

    settings.PII_ENCRYPTION_KEYS = [OLD_KEY]
    profile = CustomerProfileFactory(user=make_user(Role.CUSTOMER))
    full_id = pii.decrypt(profile.id_number_encrypted)
    document = _upload(profile, TINY_PNG, "id.png", kind="id_front")
    old_path = private_media / document.file.name

    settings.PII_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]
    out = StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("rotate_pii_keys", stdout=out)
    assert "Re-encrypted 1 ID numbers and 1 documents" in out.getvalue()

    document.refresh_from_db()
    profile.refresh_from_db()
    new_stored = _stored(private_media, document)
    assert Fernet(NEW_KEY).decrypt(new_stored[len(pii.FILE_HEADER):]) == TINY_PNG
    assert not old_path.exists()  # the file the old key wrote is gone
    assert Fernet(NEW_KEY).decrypt(profile.id_number_encrypted.encode()).decode() == full_id
    event = AuditEvent.objects.get(action="pii.rotate_keys")
    assert event.data["documents"] == 1 and event.data["id_numbers"] == 1

    # The old key can now be removed: everything reads with the new key alone.
    settings.PII_ENCRYPTION_KEYS = [NEW_KEY]
    assert _downloaded(client_for(officer), document) == TINY_PNG
    assert pii.decrypt(profile.id_number_encrypted) == full_id
    # Running again changes nothing.
    out = StringIO()
    call_command("rotate_pii_keys", stdout=out)
    assert "Re-encrypted 0 ID numbers and 0 documents; encrypted 0 legacy plain documents" in out.getvalue()


def test_a_legacy_plain_file_still_downloads_and_rotation_encrypts_it(profile, private_media, officer, client_for,
                                                                     django_capture_on_commit_callbacks):
    document = _legacy_document(profile)
    plain_path = private_media / document.file.name
    assert plain_path.read_bytes() == TINY_PNG
    assert _downloaded(client_for(profile.user), document) == TINY_PNG
    assert _downloaded(client_for(officer), document) == TINY_PNG

    out = StringIO()
    call_command("rotate_pii_keys", "--dry-run", stdout=out)
    assert "would encrypt 1 legacy plain documents" in out.getvalue() and plain_path.read_bytes() == TINY_PNG

    with django_capture_on_commit_callbacks(execute=True):
        call_command("rotate_pii_keys", stdout=StringIO())
    document.refresh_from_db()
    stored = _stored(private_media, document)
    assert pii.is_encrypted_file(stored) and TINY_PNG not in stored and pii.decrypt_file(stored) == TINY_PNG
    assert not plain_path.exists() and document.file.name.endswith(".png")
    assert _downloaded(client_for(profile.user), document) == TINY_PNG


def test_rotation_reports_missing_and_unreadable_files_and_does_the_rest(
        profile, other_profile, private_media, settings, django_capture_on_commit_callbacks):
    missing = _upload(profile)
    (private_media / missing.file.name).unlink()
    settings.PII_ENCRYPTION_KEYS = [OLD_KEY]
    lost_key = _upload(profile, name="lost-key.pdf")
    settings.PII_ENCRYPTION_KEYS = [NEW_KEY]  # OLD_KEY dropped too early: that file no longer opens
    legacy = _legacy_document(other_profile)
    err = StringIO()
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(CommandError):
        call_command("rotate_pii_keys", stdout=StringIO(), stderr=err)
    assert f"document {missing.pk}" in err.getvalue() and f"document {lost_key.pk}" in err.getvalue()
    legacy.refresh_from_db()
    assert pii.is_encrypted_file(_stored(private_media, legacy))


def test_an_unreadable_file_is_an_error_not_a_plain_download(profile, private_media, client_for):
    document = _upload(profile)
    path = private_media / document.file.name
    path.write_bytes(pii.FILE_HEADER + b"not a token")
    with pytest.raises(InvalidToken):
        client_for(profile.user).get(reverse("document_download", args=[document.pk]))
