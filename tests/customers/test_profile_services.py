"""Profile services: identity rules, one ID per customer, encryption at rest, masking, history, audit."""

import logging
from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection

from config.errors import DomainError
from customers import services
from customers.models import AuditEvent, Consent, CustomerProfile
from customers.pii import mask_phone
from customers.roles import Role
from customers.selectors import consents_active, profile_history
from tests.customers.conftest import LI_NA_ID
from tests.factories import resident_id

pytestmark = pytest.mark.django_db

ADDRESS = {"province": "上海市", "city": "上海市", "district": "黄浦区", "street": "南京东路 1 号"}


def _data(**overrides) -> dict:
    return {"full_name": "Sun Li", "id_type": "prc_resident_id", "phone": "13912345678", **ADDRESS, **overrides}


def test_birth_date_and_sex_come_from_a_prc_id(customer):
    number = resident_id(1, birth_date=date(1985, 11, 21), sex="male", region_code="320102")
    profile = services.profile_create(user=customer, data=_data(id_number=number))
    assert (profile.date_of_birth, profile.sex) == (date(1985, 11, 21), "male")
    assert profile.id_number_masked == number[:4] + "*" * 10 + number[-4:]


def test_entered_birth_date_or_sex_that_disagree_with_the_id_are_refused_naming_the_field(customer):
    number = resident_id(2, birth_date=date(1985, 11, 21), sex="male", region_code="320102")
    with pytest.raises(DomainError) as caught:
        services.profile_create(user=customer, data=_data(id_number=number, date_of_birth=date(1985, 11, 22)))
    assert caught.value.field == "date_of_birth" and "1985-11-21" in caught.value.message
    with pytest.raises(DomainError) as caught:
        services.profile_create(user=customer, data=_data(id_number=number, sex="female"))
    assert caught.value.field == "sex"
    assert not CustomerProfile.objects.exists()


def test_an_invalid_id_is_refused_with_the_reason(customer):
    with pytest.raises(DomainError) as caught:
        wrong = "1" if LI_NA_ID[-1] != "1" else "2"
        services.profile_create(user=customer, data=_data(id_number=LI_NA_ID[:-1] + wrong))
    assert caught.value.field == "id_number" and caught.value.code == "check_digit"


def test_one_id_number_belongs_to_one_customer(profile, make_user):
    other = make_user(Role.CUSTOMER)
    with pytest.raises(DomainError) as caught:
        # Same number, typed with a lower-case x / spaces: still the same person.
        services.profile_create(user=other, data=_data(id_number=" " + LI_NA_ID.lower() + " "))
    assert caught.value.field == "id_number" and "already registered" in caught.value.message
    assert CustomerProfile.objects.count() == 1


def test_the_database_also_refuses_a_duplicate_hash(profile, make_user):
    from django.db import IntegrityError

    duplicate = CustomerProfile(
        user=make_user(Role.CUSTOMER), full_name="x", id_number_encrypted="x", id_number_hash=profile.id_number_hash,
        id_number_masked="x", date_of_birth=date(1990, 1, 1), phone="13800000000", email="x@example.com", **ADDRESS,
    )
    with pytest.raises(IntegrityError):
        duplicate.save()


def test_the_stored_row_never_contains_the_plain_number(profile):
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM customers_customerprofile WHERE id = %s", [profile.pk])
        row = cursor.fetchone()
    assert not any(LI_NA_ID in str(value) for value in row)
    assert not any(LI_NA_ID in str(event.data) for event in AuditEvent.objects.all())


def test_other_id_types_need_a_birth_date_and_keep_what_was_entered(customer):
    with pytest.raises(DomainError) as caught:
        services.profile_create(user=customer, data=_data(id_type="passport", id_number="E12345678"))
    assert caught.value.field == "date_of_birth"
    profile = services.profile_create(user=customer, data=_data(
        id_type="passport", id_number="E12345678", date_of_birth=date(1979, 5, 1), sex="female"))
    assert profile.id_number_masked == "E123*5678" and profile.sex == "female"


def test_changing_the_id_type_needs_the_number_again(profile, customer):
    with pytest.raises(DomainError) as caught:
        services.profile_update(profile=profile, data={"id_type": "passport"}, by=customer)
    assert caught.value.field == "id_number"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"phone": "12345"}, "phone"),
        ({"postcode": "1234"}, "postcode"),
        ({"occupation": "other", "occupation_other": ""}, "occupation_other"),
        ({"employment_type": "astronaut"}, "employment_type"),
        ({"full_name": ""}, "full_name"),
        ({"dependants": -1}, "dependants"),
    ],
)
def test_bad_fields_are_refused_naming_the_field(profile, customer, data, field):
    with pytest.raises(DomainError) as caught:
        services.profile_update(profile=profile, data=data, by=customer)
    assert caught.value.field == field


def test_every_update_is_kept_as_history_with_a_diff(profile, customer):
    new_number = resident_id(3, birth_date=date(1990, 3, 7), sex="female", region_code="440305")
    phone_before = profile.phone
    services.profile_update(profile=profile, data={"phone": "13700001111", "housing": "mortgage"}, by=customer)
    services.profile_update(profile=profile, data={"id_number": new_number}, by=customer)
    services.profile_update(profile=profile, data={"phone": "137 0000 1111"}, by=customer)  # same after cleaning
    events = list(profile_history(profile).filter(action="profile.update"))
    assert len(events) == 2
    id_change, contact_change = events
    assert contact_change.actor == customer
    assert contact_change.data["changes"] == {"phone": [mask_phone(phone_before), "137****1111"],
                                              "housing": ["rent", "mortgage"]}
    assert id_change.data["changes"] == {"id_number": ["3101**********" + LI_NA_ID[-4:],
                                                       "4403**********" + new_number[-4:]]}


def test_finance_line_changes_are_in_the_history(profile, customer):
    line = services.finance_line_add(profile=profile, line_type="debt", data={
        "lender": "CMB", "kind": "credit_card", "outstanding_balance": Decimal("8000"), "monthly_payment": Decimal("800"),
    }, by=customer)
    services.finance_line_update(line=line, data={"monthly_payment": Decimal("900")}, by=customer)
    services.finance_line_remove(line=line, by=customer)
    actions = [e.action for e in profile_history(profile)]
    assert actions[:3] == ["profile.debt_line.remove", "profile.debt_line.update", "profile.debt_line.add"]
    update = profile_history(profile).get(action="profile.debt_line.update")
    assert update.data["changes"] == {"monthly_payment": ["800.00", "900.00"]}


def test_api_style_line_sync_adds_updates_and_removes(profile, customer):
    first = services.finance_line_add(profile=profile, line_type="income",
                                      data={"source": "salary", "monthly_amount": Decimal("9000")}, by=customer)
    extra = services.finance_line_add(profile=profile, line_type="income",
                                      data={"source": "rental", "monthly_amount": Decimal("1500")}, by=customer)
    services.profile_update(profile=profile, data={}, by=customer, lines={"incomes": [
        {"id": first.pk, "source": "salary", "monthly_amount": Decimal("9500")},
        {"source": "pension", "monthly_amount": Decimal("700")},
    ]})
    amounts = sorted(profile.incomes.values_list("source", "monthly_amount"))
    assert amounts == [("pension", Decimal("700.00")), ("salary", Decimal("9500.00"))]
    assert not profile.incomes.filter(pk=extra.pk).exists()


def test_a_bad_line_in_a_sync_changes_nothing(profile, customer):
    with pytest.raises(DomainError) as caught:
        services.profile_update(profile=profile, data={"phone": "13600000000"}, by=customer, lines={"incomes": [
            {"source": "salary", "monthly_amount": Decimal("9000")},
            {"source": "salary", "monthly_amount": Decimal("-1")},
        ]})
    assert caught.value.field == "incomes" and "Line 2" in caught.value.message


def test_service_logs_show_the_id_masked_only(customer, caplog):
    caplog.set_level(logging.DEBUG)
    number = resident_id(4, region_code="330106")
    profile = services.profile_create(user=customer, data=_data(id_number=number))
    services.profile_update(profile=profile, data={"phone": "13500000000"}, by=customer)
    with pytest.raises(DomainError):
        services.profile_create(user=customer, data=_data(id_number=number))
    assert caplog.records
    assert all(number not in record.getMessage() for record in caplog.records)
    assert any(profile.id_number_masked in record.getMessage() for record in caplog.records)


def test_staff_reveal_the_full_id_only_through_the_audited_service(profile, officer, collector, customer):
    assert services.customer_reveal_id(profile=profile, by=officer, reason="verify at branch") == LI_NA_ID
    event = AuditEvent.objects.get(action="pii.view_full_id")
    assert event.actor == officer and event.reason == "verify at branch" and LI_NA_ID not in str(event.data)
    for user in (collector, customer):
        with pytest.raises(PermissionDenied):
            services.customer_reveal_id(profile=profile, by=user)
    assert AuditEvent.objects.filter(action="pii.view_full_id").count() == 1


def test_repayment_record_is_updated_by_servicing_with_history(profile):
    services.profile_repayment_record_update(profile=profile, data={"late_payments": 2, "max_days_past_due": 17,
                                                                    "current_overdue": Decimal("350.5")})
    profile.refresh_from_db()
    assert (profile.late_payments, profile.max_days_past_due, profile.current_overdue) == (2, 17, Decimal("350.50"))
    event = profile_history(profile).get(action="profile.repayment_record")
    assert event.actor is None and event.data["changes"]["current_overdue"] == ["0.00", "350.50"]
    with pytest.raises(DomainError):
        services.profile_repayment_record_update(profile=profile, data={"full_name": "x"})


def test_interview_notes_need_ratings_from_one_to_five(profile, officer, customer):
    note = services.interview_note_add(profile=profile, author=officer, text="Stable job, clear purpose.",
                                       stability_rating=4, willingness_rating=5)
    assert note.pk and AuditEvent.objects.filter(action="profile.interview_note").exists()
    with pytest.raises(DomainError) as caught:
        services.interview_note_add(profile=profile, author=officer, text="x", stability_rating=6,
                                    willingness_rating=3)
    assert caught.value.field == "stability_rating"
    with pytest.raises(PermissionDenied):
        services.interview_note_add(profile=profile, author=customer, text="x", stability_rating=3,
                                    willingness_rating=3)


def test_consents_are_recorded_once_and_withdrawn_with_a_time(customer):
    first = services.consent_record(user=customer, kind="credit_check", ip_address="10.0.0.1")
    assert services.consent_record(user=customer, kind="credit_check") == first
    assert set(consents_active(customer)) == {"credit_check"}
    services.consent_withdraw(consent=first, by=customer)
    assert consents_active(customer) == {}
    again = services.consent_record(user=customer, kind="credit_check")
    assert again != first and Consent.objects.filter(user=customer).count() == 2
    assert AuditEvent.objects.filter(action__startswith="consent.").count() == 3
