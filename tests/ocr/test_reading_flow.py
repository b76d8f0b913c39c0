"""Reading the ID card end to end: upload on the wizard's documents step -> the Celery task (in-process
here; a real worker on Redis in the `requires_redis` test) -> the panel that polls, the read fields, the
personal step prefilled for the customer to confirm, the ID number mismatch, the expired card on the staff
application page, and the clear failures (not a card, an unreadable number, a PDF) that store nothing in
the profile."""

import dataclasses
import time
from datetime import date

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from customers import services
from customers.models import CustomerProfile, IdCardReading
from customers.national_id import parse_resident_id
from customers.ocr import services as ocr_services
from portal import services as portal_services
from tests.conftest import requires_redis
from tests.factories import TINY_PNG, UserFactory, resident_id, tiny_pdf, workbench_case
from tests.ocr.cards import draw_back, draw_front, draw_not_a_card, random_facts
from tests.portal.conftest import complete_profile, step_url

pytestmark = pytest.mark.django_db

POLL_URL = reverse("portal:apply_id_card")


def card_for(number: str, *, seed: int = 3, **changes):
    import random

    facts = random_facts(random.Random(seed))
    resident = parse_resident_id(number)
    return dataclasses.replace(facts, id_number=number, birth_date=resident.birth_date, sex=resident.sex, **changes)


@pytest.fixture
def at_documents(customer, customer_client, celery_eager):
    profile = complete_profile(customer, statement=False)
    draft = portal_services.draft_start(user=customer)
    draft.furthest_step = 3
    draft.save()
    return profile


def upload(client, kind: str, content: bytes, name: str, capture):
    with capture(execute=True):
        response = client.post(step_url("documents"), {"action": "upload_document", "document-kind": kind,
                                                       "document-file": SimpleUploadedFile(name, content)})
    assert response.status_code == 302, response.content.decode()[:2000]
    return IdCardReading.objects.filter(document__kind=kind).latest("pk")


def profile_snapshot(profile) -> dict:
    profile = CustomerProfile.objects.get(pk=profile.pk)
    return {f: getattr(profile, f) for f in ("full_name", "id_number_hash", "date_of_birth", "sex", "province",
                                             "city", "district", "street")}


def test_the_front_is_read_and_offered_to_the_personal_step(cjk_font, at_documents, customer_client,
                                                            django_capture_on_commit_callbacks):
    profile = at_documents
    before = profile_snapshot(profile)
    facts = card_for(resident_id(902))
    reading = upload(customer_client, "id_front", draw_front(facts, width=800, rotation=2.0), "front.png",
                     django_capture_on_commit_callbacks)
    assert reading.status == "done", reading.error_message
    assert reading.fields["id_number"] == facts.id_number and reading.fields["name"] == facts.name
    assert reading.fields["address"] == facts.address and reading.confidence["name"] > 0.5
    assert profile_snapshot(profile) == before  # nothing stored in the profile until the customer saves

    page = customer_client.get(step_url("documents")).content.decode()
    assert 'id="id-card-front-fields"' in page and facts.name in page and facts.address in page
    assert facts.id_number not in page  # masked, as everywhere
    assert 'id="id-card-number-mismatch"' not in page
    assert 'hx-trigger="every 2s"' not in page  # done: no more polling
    assert f"{step_url('personal')}?id_card={reading.pk}" in page

    personal = customer_client.get(step_url("personal"), {"id_card": reading.pk})
    form = personal.context["form"]
    assert form.initial["full_name"] == facts.name and form.initial["id_number"] == facts.id_number
    assert form.initial["date_of_birth"] == facts.birth_date.isoformat() and form.initial["sex"] == facts.sex
    assert form.initial["street"] and facts.address.endswith(form.initial["street"])
    assert "Please check every value" in personal.content.decode()
    assert profile_snapshot(profile) == before

    # The customer confirms (saves the step as shown, correcting nothing): only now the profile takes the values.
    data = {name: ("" if value is None else value) for name, value in form.initial.items()}
    saved = customer_client.post(step_url("personal"), data)
    assert saved.status_code == 302, saved.content.decode()[:3000]
    after = profile_snapshot(profile)
    assert after["full_name"] == facts.name and after["street"] == form.initial["street"]
    assert after["id_number_hash"] == before["id_number_hash"]


def test_a_card_number_other_than_the_typed_one_is_flagged(cjk_font, at_documents, customer_client,
                                                           django_capture_on_commit_callbacks):
    other = resident_id(950, region_code="310104")
    reading = upload(customer_client, "id_front", draw_front(card_for(other), width=800), "front.png",
                     django_capture_on_commit_callbacks)
    assert reading.status == "done"
    page = customer_client.get(step_url("documents")).content.decode()
    assert 'id="id-card-number-mismatch"' in page and "differs from the one you entered" in page


def test_a_photo_that_is_not_an_id_card_fails_with_a_clear_message(cjk_font, at_documents, customer_client,
                                                                   django_capture_on_commit_callbacks):
    before = profile_snapshot(at_documents)
    reading = upload(customer_client, "id_front", draw_not_a_card(), "receipt.png", django_capture_on_commit_callbacks)
    assert reading.status == "failed" and reading.fields == {} and reading.error_code == "not_an_id_card"
    page = customer_client.get(step_url("documents")).content.decode()
    assert 'id="id-card-front-failed"' in page and "does not look like an ID card" in page
    assert 'id="id-card-use"' not in page
    assert profile_snapshot(at_documents) == before


def test_a_card_with_an_unreadable_number_asks_for_a_sharper_photo(cjk_font, at_documents, customer_client,
                                                                   django_capture_on_commit_callbacks):
    before = profile_snapshot(at_documents)
    card = draw_front(card_for(resident_id(902)), width=800, smudged_number=True)
    reading = upload(customer_client, "id_front", card, "front.png", django_capture_on_commit_callbacks)
    assert reading.status == "failed" and reading.error_code == "unreadable" and reading.fields == {}
    assert "sharper photo" in customer_client.get(step_url("documents")).content.decode()
    # The failed reading cannot prefill the personal step.
    personal = customer_client.get(step_url("personal"), {"id_card": reading.pk})
    assert "Please check every value" not in personal.content.decode()
    assert profile_snapshot(at_documents) == before


def test_a_pdf_or_a_blank_image_is_not_read(at_documents, customer_client, django_capture_on_commit_callbacks):
    pdf = upload(customer_client, "id_front", tiny_pdf(), "scan.pdf", django_capture_on_commit_callbacks)
    assert pdf.status == "failed" and "PDF" in pdf.error_message
    blank = upload(customer_client, "id_back", TINY_PNG, "back.png", django_capture_on_commit_callbacks)
    assert blank.status == "failed" and blank.error_code == "no_text"


def test_the_panel_polls_while_the_card_is_being_read(at_documents, customer, customer_client):
    document = services.document_upload(profile=at_documents, kind="id_front",
                                        file=ContentFile(TINY_PNG, name="id.png"), by=customer)
    reading = ocr_services.id_card_reading_start(document=document)  # on-commit never runs here: stays queued
    assert reading.status == "queued"
    assert ocr_services.id_card_reading_start(document=document).pk == reading.pk  # once per document
    page = customer_client.get(step_url("documents")).content.decode()
    assert "Reading your ID card" in page and f'hx-get="{POLL_URL}"' in page
    panel = customer_client.get(POLL_URL, HTTP_HX_REQUEST="true").content.decode()
    assert "Reading your ID card" in panel and 'hx-trigger="every 2s"' in panel
    ocr_services.id_card_read(reading_id=reading.pk)
    panel = customer_client.get(POLL_URL, HTTP_HX_REQUEST="true").content.decode()
    assert 'hx-trigger="every 2s"' not in panel and 'id="id-card-front-failed"' in panel


def test_another_customers_reading_does_not_prefill(cjk_font, at_documents, customer_client,
                                                    django_capture_on_commit_callbacks, client):
    reading = upload(customer_client, "id_front", draw_front(card_for(resident_id(902)), width=800), "front.png",
                     django_capture_on_commit_callbacks)
    assert reading.status == "done"
    stranger = UserFactory(roles=["customer"])
    assert ocr_services.id_card_prefill(profile=None, reading_id=reading.pk, user=stranger) == {}


def test_the_officer_sees_the_reading_the_mismatch_and_the_expired_card(cjk_font, officer, client_for, celery_eager):
    case = workbench_case()
    profile = case.customer.profile
    facts = card_for(resident_id(977, region_code="440305"), valid_from=date(2010, 5, 1), valid_until=date(2020, 5, 1))
    for kind, image in (("id_front", draw_front(facts, width=800)), ("id_back", draw_back(facts, width=800))):
        document = services.document_upload(profile=profile, kind=kind, file=ContentFile(image, name=f"{kind}.png"),
                                            by=case.customer)
        reading = ocr_services.id_card_reading_start(document=document)
        ocr_services.id_card_read(reading_id=reading.pk)
    page = client_for(officer).get(reverse("workbench_application", args=[case.pk])).content.decode()
    assert 'id="id-card-front-fields"' in page and facts.name in page
    assert "differs from the one the customer entered" in page
    assert 'id="id-card-expired"' in page and "The card expired on 2020-05-01" in page
    assert 'id="id-card-use"' not in page  # staff do not fill the customer's form


def test_the_task_is_idempotent(cjk_font, at_documents, customer, celery_eager):
    document = services.document_upload(profile=at_documents, kind="id_front", by=customer,
                                        file=ContentFile(draw_front(card_for(resident_id(902)), width=800), name="f.png"))
    reading = IdCardReading.objects.create(document=document, side="front")
    from customers.tasks import id_card_read

    id_card_read.delay(reading.pk)
    reading.refresh_from_db()
    finished = reading.finished_at
    assert reading.status == "done"
    id_card_read.delay(reading.pk)  # delivered twice: nothing read again
    reading.refresh_from_db()
    assert reading.finished_at == finished
    id_card_read.delay(987654)  # a reading that no longer exists: nothing happens


@requires_redis
@pytest.mark.integration
def test_a_real_worker_reads_the_uploaded_card(cjk_font, celery_live_worker, make_user):
    customer = make_user("customer")
    profile = complete_profile(customer, statement=False, n=903)
    facts = card_for(resident_id(903))
    document = services.document_upload(profile=profile, kind="id_front", by=customer,
                                        file=ContentFile(draw_front(facts, width=800), name="front.png"))
    reading = ocr_services.id_card_reading_start(document=document)  # outside a transaction: published at once
    deadline = time.monotonic() + 90
    while reading.in_progress and time.monotonic() < deadline:
        time.sleep(0.3)
        reading.refresh_from_db()
    assert reading.status == "done", reading.error_message
    assert reading.fields["id_number"] == facts.id_number and reading.fields["name"] == facts.name
