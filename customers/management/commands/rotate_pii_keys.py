"""Re-encrypt personal data at rest with the current PII key (the first of `PII_ENCRYPTION_KEYS`).

    python manage.py rotate_pii_keys [--dry-run]

Key rotation: put the new key first in PII_ENCRYPTION_KEYS and keep the old ones after it (every
key decrypts, the first encrypts), deploy, run this command, then remove the old keys. It
re-encrypts every ID number and every document file that an older key wrote, and encrypts the
document files stored before documents were encrypted (legacy plain files). Safe to run again: what
the current key already wrote is left alone. Audited (`pii.rotate_keys`, counts only).
"""

from cryptography.fernet import InvalidToken
from django.core.management.base import BaseCommand, CommandError

from customers import pii
from customers.audit import audit_record
from customers.models import CustomerDocument, CustomerProfile
from customers.services import document_reencrypt


class Command(BaseCommand):
    help = "Re-encrypt ID numbers and document files with the current PII key; encrypt legacy plain files."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Count what would be re-encrypted; change nothing.")

    def handle(self, *args, dry_run: bool = False, **options):
        counts = {"id_numbers": 0, "documents": 0, "legacy_plain_documents": 0, "unreadable": 0, "missing_files": 0}
        failures: list[str] = []

        rows = CustomerProfile.objects.exclude(id_number_encrypted="").values_list("pk", "id_number_encrypted")
        for pk, token in rows.iterator(chunk_size=500):
            try:
                new_token = pii.reencrypt(token)
            except InvalidToken:
                counts["unreadable"] += 1
                failures.append(f"customer profile {pk}: no key of PII_ENCRYPTION_KEYS opens the ID number")
                continue
            if new_token is None:
                continue
            counts["id_numbers"] += 1
            if not dry_run:
                # Only if unchanged meanwhile; the plain number, hash and masked form stay the same.
                CustomerProfile.objects.filter(pk=pk, id_number_encrypted=token).update(id_number_encrypted=new_token)

        for document in CustomerDocument.objects.order_by("pk").iterator(chunk_size=200):
            try:
                with document.file.storage.open(document.file.name, "rb") as handle:
                    stored = handle.read()
                legacy = not pii.is_encrypted_file(stored)
                changed = pii.reencrypt_file(stored) is not None if dry_run else document_reencrypt(document)
            except FileNotFoundError:
                counts["missing_files"] += 1
                failures.append(f"document {document.pk}: file {document.file.name} is missing")
                continue
            except InvalidToken:
                counts["unreadable"] += 1
                failures.append(f"document {document.pk}: no key of PII_ENCRYPTION_KEYS opens the file")
                continue
            if changed:
                counts["legacy_plain_documents" if legacy else "documents"] += 1

        if not dry_run:
            audit_record(actor=None, action="pii.rotate_keys", data=counts)
        verb = "Would re-encrypt" if dry_run else "Re-encrypted"
        self.stdout.write(f"{verb} {counts['id_numbers']} ID numbers and {counts['documents']} documents; "
                          f"{'would encrypt' if dry_run else 'encrypted'} {counts['legacy_plain_documents']} "
                          f"legacy plain documents.")
        for failure in failures:
            self.stderr.write(failure)
        if failures:
            raise CommandError(f"{len(failures)} item(s) could not be re-encrypted (listed above).")
