"""Reading an uploaded ID card: queue the reading, run it (the Celery task's body), and what the pages show.

`id_card_reading_start` is called right after an ID card front or back is uploaded; the reading runs in
the worker (`customers.tasks.id_card_read`, queued through the outbox) and never blocks the page, which
polls `IdCardReading.status`. Nothing read is written to the profile: the wizard offers the values as
the personal step's initial input and the customer confirms or corrects them there.
"""

from __future__ import annotations

import logging
import time
from datetime import date

from django.db import transaction
from django.utils import timezone

from customers import outbox, pii
from customers.models import (
    CustomerDocument,
    CustomerProfile,
    DocumentKind,
    IdCardReading,
    IdCardReadingStatus,
)
from customers.ocr import id_card

logger = logging.getLogger(__name__)

READ_TASK = "customers.tasks.id_card_read"
SIDES = {DocumentKind.ID_FRONT: id_card.FRONT, DocumentKind.ID_BACK: id_card.BACK}
ENGINE_NAME = "rapidocr-onnxruntime 1.4.4"
# Stored as msgids (English), translated where shown.
PDF_NOT_READ = id_card.gettext_noop("Only a photo (JPEG or PNG) of the card can be read automatically; this file is "
                                    "a PDF. Your loan officer will check it, or upload a photo.")
IMAGE_NOT_READ = id_card.gettext_noop("This file could not be opened as an image. Please upload a JPEG or PNG photo "
                                      "of the card.")
ENGINE_FAILED = id_card.gettext_noop("The card could not be read this time. Please fill in your details by hand; "
                                     "your loan officer will check the card.")


def id_card_reading_start(*, document: CustomerDocument) -> IdCardReading | None:
    """Queue the reading of an ID card front or back (None for any other kind). Idempotent per document."""
    side = SIDES.get(document.kind)
    if side is None:
        return None
    with transaction.atomic():
        reading, created = IdCardReading.objects.get_or_create(document=document, defaults={"side": side})
        if created:
            outbox.enqueue(READ_TASK, args=[reading.pk])
    return reading


def id_card_read(*, reading_id: int) -> IdCardReading | None:
    """Read the card of one `IdCardReading` and store the result (done or failed). Safe to run twice:
    a finished reading is left as it is. Never raises for a bad image or an engine error: the reading
    is marked failed with a message for the customer and the error is logged."""
    from customers.ocr import engine
    from customers.services import document_content

    with transaction.atomic():
        reading = (IdCardReading.objects.select_for_update().select_related("document")
                   .filter(pk=reading_id).first())
        if reading is None or reading.status in (IdCardReadingStatus.DONE, IdCardReadingStatus.FAILED):
            return reading
        reading.status, reading.started_at = IdCardReadingStatus.READING, timezone.now()
        reading.save(update_fields=["status", "started_at"])
    started = time.perf_counter()
    result: id_card.CardReading | None = None
    message = ""
    try:
        if reading.document.content_type == "application/pdf":
            message = PDF_NOT_READ
        else:
            boxes = engine.read_boxes(document_content(reading.document))
            result = id_card.parse(reading.side, boxes, today=timezone.localdate())
    except engine.ImageUnreadable:
        message = IMAGE_NOT_READ
    except Exception:  # the engine itself failed: the page shows a message, the log the cause
        logger.exception("Reading ID card (reading %s) failed.", reading.pk)
        message = ENGINE_FAILED
    reading.seconds = round(time.perf_counter() - started, 3)
    reading.finished_at = timezone.now()
    reading.engine = ENGINE_NAME
    if result is not None and result.ok:
        reading.status, reading.fields, reading.confidence = IdCardReadingStatus.DONE, result.fields, result.confidence
    else:
        reading.status, reading.fields, reading.confidence = IdCardReadingStatus.FAILED, {}, {}
        reading.error_code = result.error_code if result is not None else "not_read"
        reading.error_message = result.error_message if result is not None else message
    reading.save()
    return reading


# --- What the pages show ------------------------------------------------------------------------------

def id_card_readings_for_profile(profile: CustomerProfile) -> dict:
    """The latest reading of each side ({"front": reading or None, "back": ...})."""
    latest = {id_card.FRONT: None, id_card.BACK: None}
    for reading in (IdCardReading.objects.filter(document__profile=profile).select_related("document")
                    .order_by("-document__uploaded_at", "-pk")):
        if latest[reading.side] is None:
            latest[reading.side] = reading
    return latest


def id_card_summary(profile: CustomerProfile | None, *, today: date | None = None) -> dict:
    """The readings and what to warn about: the read ID number differs from the one on file, the card
    has expired (the back's validity end date is past). For the wizard and the staff application page."""
    if profile is None:
        return {"front": None, "back": None, "in_progress": False}
    readings = id_card_readings_for_profile(profile)
    front, back = readings[id_card.FRONT], readings[id_card.BACK]
    today = today or timezone.localdate()
    summary = {"front": front, "back": back,
               "in_progress": any(r is not None and r.in_progress for r in (front, back))}
    if front is not None and front.status == IdCardReadingStatus.DONE:
        number = front.fields.get("id_number", "")
        summary["id_number_masked"] = pii.mask_identifier(number)
        summary["id_number_mismatch"] = bool(profile.id_number_hash) and pii.search_hash(number) != profile.id_number_hash
        if front.fields.get("sex"):
            summary["sex_label"] = {"male": "男", "female": "女"}.get(front.fields["sex"], "")
    if back is not None and back.status == IdCardReadingStatus.DONE and back.fields.get("valid_until"):
        valid_until = date.fromisoformat(back.fields["valid_until"])
        summary["valid_until"] = valid_until
        summary["expired"] = valid_until < today
    return summary


def id_card_prefill(*, profile: CustomerProfile | None, reading_id: int, user) -> dict:
    """Initial values for the personal step from a finished front reading of `user`'s own card: full
    name, sex, date of birth, ID type and number, and the address split into province, city, district
    and street. Empty if the reading is not the user's, not a front or not done."""
    reading = (IdCardReading.objects.filter(pk=reading_id, document__profile__user=user, side=id_card.FRONT,
                                            status=IdCardReadingStatus.DONE).first())
    if reading is None:
        return {}
    fields = reading.fields
    initial = {"id_type": "prc_resident_id", "id_number": fields.get("id_number", "")}
    for source, target in (("name", "full_name"), ("sex", "sex"), ("date_of_birth", "date_of_birth")):
        if fields.get(source):
            initial[target] = fields[source]
    if fields.get("address"):
        initial.update({k: v for k, v in id_card.split_address(fields["address"]).items() if v})
    return initial
