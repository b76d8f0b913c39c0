"""Verbs of the customers area: accounts and roles, then the customer profile.

Every profile path (pages, API, admin actions, demo data, other areas) goes through these
functions, so each gets the same validation, encryption, history and transaction.
"""

import hashlib
import logging
import re
from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal
from pathlib import PurePath
from typing import Any

from cryptography.fernet import InvalidToken
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.core import signing
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.mail import send_mail
from django.db import IntegrityError, models, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext

from config.errors import DomainError
from customers import national_id, pii, statements
from customers.audit import audit_record, transition
from customers.models import (
    CONSENT_TEXT_VERSION,
    AssetLine,
    Consent,
    ConsentKind,
    CustomerDocument,
    CustomerProfile,
    DebtLine,
    DocumentKind,
    ExpenseLine,
    FinanceLine,
    IdType,
    IncomeLine,
    InterviewNote,
    Occupation,
    ReviewState,
    Sex,
    SpendingCategoryRule,
    StatementSummary,
    User,
)
from customers.national_id import NationalIdError
from customers.pii import decrypt, encrypt, mask_identifier, search_hash
from customers.roles import Role
from customers.selectors import can_open_customer_file
from customers.statements import StatementError


@transaction.atomic
def user_sign_up(*, email: str, password: str | None, full_name: str = "", preferred_language: str = "en",
                 password_hash: str = "") -> User:
    """Create a customer account (role `customer`) and record it in the audit trail. `password_hash`
    (from a sign-up confirmation link, see `sign_up_confirm`) stands for the password when given."""
    user = User.objects.create_user(
        email=email, password=password, full_name=full_name, preferred_language=preferred_language
    )
    if password_hash:
        user.password = password_hash
        user.save(update_fields=["password"])
    user_grant_role(user=user, role=Role.CUSTOMER, by=None)
    audit_record(actor=user, action="user.sign_up", target=user)
    return user


def user_grant_role(*, user: User, role: str, by: User | None) -> None:
    """Add `user` to the role's group (created on first use); idempotent."""
    group, _ = Group.objects.get_or_create(name=str(role))
    user.groups.add(group)
    user.__dict__.pop("_role_names", None)
    if by is not None:
        audit_record(actor=by, action="user.grant_role", target=user, data={"role": str(role)})


# --- Sign-up with a confirmation link ---------------------------------------------------------------
# The sign-up page answers the same whether or not the address has an account, and nothing is stored
# until the owner of the mailbox follows the link we e-mail: a new address gets a link whose signed,
# timestamped token carries the chosen name, language and the password's hash (encrypted with the PII
# keys); an address that has an account gets a note that someone tried to sign up with it, with links
# to log in and to choose a new password. Both paths hash the password and send one mail. Nobody can
# hold an address they cannot read, and the link creates the account once (then the address exists).

SIGN_UP_TOKEN_SALT = "customers.sign-up"


class SignUpLinkError(Exception):
    """The confirmation link is damaged, was made with other keys, or is older than SIGN_UP_LINK_MAX_AGE."""


def sign_up_link_max_age() -> int:
    """How long a confirmation link works, in seconds (settings.SIGN_UP_LINK_MAX_AGE, default two days)."""
    return getattr(settings, "SIGN_UP_LINK_MAX_AGE", 2 * 24 * 60 * 60)


def sign_up_request(*, email: str, password: str, full_name: str = "", preferred_language: str = "en") -> None:
    """Start a sign-up: e-mail the confirmation link, or, when the address has an account, tell its
    owner. The caller shows the same "check your e-mail" page either way."""
    email = email.strip().lower()
    password_hash = make_password(password)  # on both paths: the answer takes as long either way
    existing = User.objects.filter(email__iexact=email).first()
    if existing is None:
        token = signing.dumps(
            {"email": email, "full_name": full_name, "language": preferred_language, "password": encrypt(password_hash)},
            salt=SIGN_UP_TOKEN_SALT, compress=True,
        )
        _account_mail(to=email, language=preferred_language, template="registration/sign_up_confirm", context={
            "full_name": full_name, "link": _site_link("sign_up_confirm", token),
            "hours": sign_up_link_max_age() // 3600,
        })
    else:
        _account_mail(to=existing.email, language=existing.preferred_language, template="registration/sign_up_exists",
                      context={"full_name": existing.full_name, "login_link": _site_link("login"),
                               "reset_link": _site_link("password_reset")})


def sign_up_link_read(token: str) -> dict:
    """The sign-up a confirmation link describes ({"email", "full_name", "language", ...}); SignUpLinkError
    when the link is damaged or too old."""
    try:
        data = signing.loads(token, salt=SIGN_UP_TOKEN_SALT, max_age=sign_up_link_max_age())
    except signing.BadSignature:  # SignatureExpired too
        raise SignUpLinkError from None
    if not isinstance(data, dict) or not {"email", "full_name", "language", "password"} <= set(data):
        raise SignUpLinkError
    return data


def sign_up_link_used(data: dict) -> bool:
    """Whether the link's address already has an account (the link has been followed, or the address
    was registered since)."""
    return User.objects.filter(email__iexact=data["email"]).exists()


def sign_up_confirm(*, token: str) -> User | None:
    """Create the account a confirmation link describes (role `customer`, audited); None when the
    address already has one. SignUpLinkError for a damaged or old link."""
    data = sign_up_link_read(token)
    try:
        password_hash = decrypt(data["password"])
    except InvalidToken:  # encrypted with keys no longer configured
        raise SignUpLinkError from None
    if sign_up_link_used(data):
        return None
    try:
        with transaction.atomic():
            user = user_sign_up(email=data["email"], password=None, full_name=data["full_name"],
                                preferred_language=data["language"], password_hash=password_hash)
    except IntegrityError:  # the same link followed twice at once
        return None
    return user


def _site_link(url_name: str, *args) -> str:
    """An absolute link to the site (settings.SITE_URL), for e-mails."""
    return settings.SITE_URL.rstrip("/") + reverse(url_name, args=args)


def _account_mail(*, to: str, language: str, template: str, context: dict) -> None:
    """Send `<template>_subject.txt` / `<template>_email.txt` to `to`, in `language`."""
    with translation.override(language):
        context = {"site_name": settings.LENDER_NAME, **context}
        subject = " ".join(render_to_string(f"{template}_subject.txt", context).split())
        body = render_to_string(f"{template}_email.txt", context)
    send_mail(subject, body, None, [to])


# --- The customer profile -------------------------------------------------------------------------

logger = logging.getLogger(__name__)

# Fields the customer (or an officer on their behalf) edits; `id_number` is the plain number,
# which is validated, encrypted, hashed and masked, never stored as given.
PROFILE_FIELDS = (
    "full_name", "id_type", "id_number", "date_of_birth", "sex", "phone", "email",
    "province", "city", "district", "street", "postcode",
    "occupation", "occupation_other", "employer", "employment_type", "years_in_job", "education",
    "marital_status", "dependants", "housing", "number_of_existing_credits", "past_delinquencies",
)
# Maintained by servicing (installments / collections) through `profile_repayment_record_update`.
REPAYMENT_RECORD_FIELDS = ("on_time_payments", "late_payments", "max_days_past_due", "current_overdue")
_HISTORY_FIELDS = tuple(f for f in PROFILE_FIELDS if f != "id_number") + REPAYMENT_RECORD_FIELDS

LINE_MODELS: dict[str, type[FinanceLine]] = {
    "income": IncomeLine, "expense": ExpenseLine, "debt": DebtLine, "asset": AssetLine,
}
LINE_FIELDS = {
    "income": ("source", "monthly_amount", "description"),
    "expense": ("category", "monthly_amount", "description"),
    "debt": ("lender", "kind", "outstanding_balance", "monthly_payment", "description"),
    "asset": ("kind", "value", "description"),
}
# The API nests the lines under these names.
LINE_COLLECTIONS = {"incomes": "income", "expenses": "expense", "debts": "debt", "assets": "asset"}

_PHONE = re.compile(r"(?:\+?86)?1[3-9]\d{9}|\+\d{7,15}|0\d{9,11}")
_POSTCODE = re.compile(r"\d{6}")
DOCUMENT_SIGNATURES = (
    (b"%PDF-", "application/pdf", ".pdf"),
    (b"\xff\xd8\xff", "image/jpeg", ".jpg"),
    (b"\x89PNG\r\n\x1a\n", "image/png", ".png"),
)


def _validate(instance: models.Model, *, exclude: tuple[str, ...] = ()) -> None:
    """Field-level validation (choices, lengths, validators) as a DomainError naming the first bad field."""
    try:
        instance.full_clean(exclude=list(exclude), validate_unique=False, validate_constraints=False)
    except ValidationError as error:
        field, messages = next(iter(error.message_dict.items()))
        raise DomainError(" ".join(messages), field=None if field == NON_FIELD_ERRORS else field)


def _assign(instance: models.Model, field: str, value: Any) -> None:
    """Set a field from input; None means "empty" (blank text, NULL or the field's default)."""
    if value is None:
        model_field = instance._meta.get_field(field)
        if model_field.null:
            value = None
        elif isinstance(model_field, (models.CharField, models.TextField)):
            value = ""
        else:
            value = model_field.get_default()
    elif isinstance(instance._meta.get_field(field), models.DecimalField):
        value = _quantized(value, instance._meta.get_field(field).decimal_places)
    setattr(instance, field, value)


def _quantized(value: Any, places: int) -> Any:
    """Bring a Decimal to the field's places (10000 -> 10000.00) unless it has too many (validation says so)."""
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        return value
    if number.is_finite() and -number.as_tuple().exponent <= places:
        return number.quantize(Decimal(1).scaleb(-places))
    return value


def _entered(snapshot: Mapping[str, Any]) -> dict[str, list]:
    """A new object's history entry: every field given a value, as [None, value]."""
    return {f: values for f, values in _diff({}, snapshot).items() if values[1] not in ("", None)}


def _plain(value: Any) -> Any:
    """A field value as it goes into the history (JSON): Decimal and dates as strings."""
    if isinstance(value, (Decimal, date)):
        return str(value)
    return value


def _snapshot(instance: models.Model, fields: Iterable[str]) -> dict[str, Any]:
    values = {f: _plain(getattr(instance, f)) for f in fields}
    if isinstance(instance, CustomerProfile):
        # The hash detects a changed number; only the masked form is ever written to the history.
        values["id_number"] = (instance.id_number_hash, instance.id_number_masked)
    return values


def _diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, list]:
    changes = {}
    for field, new in after.items():
        old = before.get(field)
        if old != new:
            if field == "id_number":
                old, new = (old[1] if old else None), new[1]
            changes[field] = [old, new]
    return changes


def _translated(error: NationalIdError | StatementError) -> str:
    return gettext(error.template) % error.params


def _check_identity(profile: CustomerProfile, data: Mapping[str, Any], *, number_changed: bool) -> None:
    """Birth date and sex: derived from a PRC resident ID and required to agree with what was entered."""
    if profile.id_type == IdType.PRC_RESIDENT_ID:
        entered_birth, entered_sex = data.get("date_of_birth"), data.get("sex")
        if number_changed:
            derived = national_id.parse_resident_id(data["id_number"])
            profile.date_of_birth, profile.sex = derived.birth_date, derived.sex
        if entered_birth and entered_birth != profile.date_of_birth:
            raise DomainError(
                gettext("The date of birth does not match the ID number, which gives %(date)s.")
                % {"date": profile.date_of_birth.isoformat()}, field="date_of_birth",
            )
        if entered_sex and entered_sex != profile.sex:
            raise DomainError(
                gettext("The sex does not match the ID number, which gives %(sex)s.")
                % {"sex": Sex(profile.sex).label}, field="sex",
            )
        return
    if not profile.date_of_birth:
        raise DomainError(gettext("Enter the date of birth."), field="date_of_birth")
    if not national_id.EARLIEST_BIRTH_DATE <= profile.date_of_birth <= timezone.localdate():
        raise DomainError(gettext("Enter a real date of birth (not in the future)."), field="date_of_birth")


def _set_id_number(profile: CustomerProfile, data: Mapping[str, Any], *, id_type_changed: bool) -> bool:
    """Validate and store a new ID number (encrypted, hashed, masked). Returns whether it changed."""
    number = (data.get("id_number") or "").strip()
    if not number:
        if profile.pk is None or id_type_changed:
            raise DomainError(gettext("Enter the ID number."), field="id_number")
        return False
    try:
        number = national_id.validate_id_number(profile.id_type, number, today=timezone.localdate())
    except NationalIdError as error:
        raise DomainError(_translated(error), field="id_number", code=error.code)
    digest = search_hash(number)
    if digest == profile.id_number_hash:
        return False
    if CustomerProfile.objects.filter(id_number_hash=digest).exclude(pk=profile.pk).exists():
        raise DomainError(gettext("This ID number is already registered to another customer."), field="id_number",
                          code="duplicate")
    profile.id_number_encrypted = encrypt(number)
    profile.id_number_hash = digest
    profile.id_number_masked = mask_identifier(number)
    return True


def _apply_profile_data(profile: CustomerProfile, data: Mapping[str, Any]) -> None:
    """Copy `data` onto `profile` and check every rule; raises DomainError naming the field."""
    unknown = set(data) - set(PROFILE_FIELDS)
    if unknown:
        raise DomainError(gettext("Unknown field."), field=sorted(unknown)[0])
    old_id_type = profile.id_type if profile.pk else None
    for field in PROFILE_FIELDS:
        if field in data and field not in ("id_number", "date_of_birth", "sex"):
            _assign(profile, field, data[field])
    if profile.id_type not in IdType.values:
        raise DomainError(gettext("Choose an ID type from the list."), field="id_type")
    is_prc = profile.id_type == IdType.PRC_RESIDENT_ID
    if not is_prc:  # for other documents the customer's own entries are the truth
        for field in ("date_of_birth", "sex"):
            if field in data:
                _assign(profile, field, data[field])
    number_changed = _set_id_number(profile, data, id_type_changed=old_id_type not in (None, profile.id_type))
    _check_identity(profile, data, number_changed=number_changed and is_prc)

    profile.phone = re.sub(r"[\s\-()]", "", profile.phone or "")
    if not _PHONE.fullmatch(profile.phone):
        raise DomainError(gettext("Enter a mobile number such as 13812345678, or an international number "
                                  "starting with +."), field="phone")
    if profile.postcode and not _POSTCODE.fullmatch(profile.postcode):
        raise DomainError(gettext("A postcode has 6 digits."), field="postcode")
    if profile.occupation == Occupation.OTHER and not profile.occupation_other.strip():
        raise DomainError(gettext("Describe your occupation."), field="occupation_other")
    if profile.occupation != Occupation.OTHER:
        profile.occupation_other = ""
    _validate(profile, exclude=("user",))


def _save_profile(profile: CustomerProfile) -> None:
    """Save; a concurrent registration of the same ID number loses on the unique constraint."""
    try:
        with transaction.atomic():
            profile.save()
    except IntegrityError as error:
        if "customer_profile_unique_id_number" in str(error) or "id_number_hash" in str(error):
            raise DomainError(gettext("This ID number is already registered to another customer."),
                              field="id_number", code="duplicate")
        raise


def _record_history(*, profile: CustomerProfile, by: User | None, action: str, changes: dict,
                    extra: dict | None = None) -> None:
    audit_record(actor=by, action=action, target=profile, data={"changes": changes, **(extra or {})})
    logger.debug("Customer profile %s (%s): %s by %s, fields %s", profile.pk, profile.id_number_masked, action,
                getattr(by, "pk", "system"), sorted(changes))


@transaction.atomic
def profile_create(
    *, user: User, data: Mapping[str, Any], by: User | None = None,
    lines: Mapping[str, list[Mapping[str, Any]]] | None = None,
) -> CustomerProfile:
    """Create `user`'s profile from `data` (PROFILE_FIELDS; `id_number` in plain text).

    Validates every rule (ID number for its type, birth date and sex against a PRC ID, one ID
    number per customer, contact formats), encrypts the number and records the creation in the
    history. `lines` optionally gives the finance lines by collection (`incomes`, `expenses`,
    `debts`, `assets`). `by` defaults to the user. Raises DomainError naming the field.
    """
    by = by or user
    if CustomerProfile.objects.filter(user=user).exists():
        raise DomainError(gettext("This customer already has a profile."), code="exists")
    profile = CustomerProfile(user=user, email=user.email, full_name=user.full_name)
    _apply_profile_data(profile, data)
    _save_profile(profile)
    changes = _entered(_snapshot(profile, [f for f in PROFILE_FIELDS if f != "id_number"]))
    _record_history(profile=profile, by=by, action="profile.create", changes=changes)
    if lines:
        _finance_lines_sync(profile=profile, lines=lines, by=by)
    return profile


@transaction.atomic
def profile_update(
    *, profile: CustomerProfile, data: Mapping[str, Any], by: User,
    lines: Mapping[str, list[Mapping[str, Any]]] | None = None,
) -> CustomerProfile:
    """Change some of the profile's fields (only the keys present in `data`) and record the diff.

    Leave `id_number` out (or empty) to keep the number; it must be given again when `id_type`
    changes. `lines`, when given, replaces each named collection of finance lines: items with
    an `id` update that line, items without one are added, lines not listed are removed.
    Nothing is written when nothing changed.
    """
    profile.refresh_from_db(from_queryset=CustomerProfile.objects.select_for_update())
    before = _snapshot(profile, _HISTORY_FIELDS)
    _apply_profile_data(profile, data)
    changes = _diff(before, _snapshot(profile, _HISTORY_FIELDS))
    if changes:
        _save_profile(profile)
        _record_history(profile=profile, by=by, action="profile.update", changes=changes)
    if lines is not None:
        _finance_lines_sync(profile=profile, lines=lines, by=by)
    return profile


def profile_validate(*, profile: CustomerProfile, data: Mapping[str, Any]) -> None:
    """Check `data` against every rule `profile_update` applies, without saving (for the admin form)."""
    _apply_profile_data(CustomerProfile.objects.get(pk=profile.pk), data)


@transaction.atomic
def profile_repayment_record_update(*, profile: CustomerProfile, data: Mapping[str, Any],
                                    by: User | None = None) -> CustomerProfile:
    """Servicing's entry point for the repayment record (REPAYMENT_RECORD_FIELDS); `by` None = system."""
    unknown = set(data) - set(REPAYMENT_RECORD_FIELDS)
    if unknown:
        raise DomainError(gettext("Unknown field."), field=sorted(unknown)[0])
    profile.refresh_from_db(from_queryset=CustomerProfile.objects.select_for_update())
    before = _snapshot(profile, REPAYMENT_RECORD_FIELDS)
    for field, value in data.items():
        _assign(profile, field, value)
    _validate(profile, exclude=("user",))
    changes = _diff(before, _snapshot(profile, REPAYMENT_RECORD_FIELDS))
    if changes:
        profile.save(update_fields=[*data, "updated_at"])
        _record_history(profile=profile, by=by, action="profile.repayment_record", changes=changes)
    return profile


# --- Finance lines ----------------------------------------------------------------------------------

def _line_type_of(line: FinanceLine) -> str:
    return next(name for name, model in LINE_MODELS.items() if isinstance(line, model))


def _lock_profile(profile: CustomerProfile) -> None:
    """Mark the profile updated; the UPDATE also locks its row, so line changes of one customer queue up."""
    CustomerProfile.objects.filter(pk=profile.pk).update(updated_at=timezone.now())


def _write_line(line: FinanceLine, line_type: str, data: Mapping[str, Any]) -> dict[str, list]:
    fields = LINE_FIELDS[line_type]
    unknown = set(data) - set(fields) - {"id"}
    if unknown:
        raise DomainError(gettext("Unknown field."), field=sorted(unknown)[0])
    is_new = line.pk is None
    before = {} if is_new else _snapshot(line, fields)
    for field in fields:
        if field in data:
            _assign(line, field, data[field])
    _validate(line, exclude=("profile",))
    changes = _entered(_snapshot(line, fields)) if is_new else _diff(before, _snapshot(line, fields))
    if changes:
        line.save()
    return changes


def _line_history(*, profile: CustomerProfile, by: User | None, line_type: str, verb: str, line: FinanceLine,
                  changes: dict) -> None:
    _record_history(profile=profile, by=by, action=f"profile.{line_type}_line.{verb}", changes=changes,
                    extra={"line_id": line.pk, "line": str(line)})


@transaction.atomic
def finance_line_add(*, profile: CustomerProfile, line_type: str, data: Mapping[str, Any],
                     by: User) -> FinanceLine:
    """Add an income, expense, debt or asset line (`line_type`: income / expense / debt / asset)."""
    if line_type not in LINE_MODELS:
        raise DomainError(gettext("Unknown kind of line."), field="line_type")
    _lock_profile(profile)
    line = LINE_MODELS[line_type](profile=profile)
    changes = _write_line(line, line_type, data)
    _line_history(profile=profile, by=by, line_type=line_type, verb="add", line=line, changes=changes)
    return line


@transaction.atomic
def finance_line_update(*, line: FinanceLine, data: Mapping[str, Any], by: User) -> FinanceLine:
    """Change some fields of a finance line; the diff goes into the profile's history."""
    _lock_profile(line.profile)
    line_type = _line_type_of(line)
    line.refresh_from_db(from_queryset=type(line).objects.select_for_update())
    changes = _write_line(line, line_type, data)
    if changes:
        _line_history(profile=line.profile, by=by, line_type=line_type, verb="update", line=line, changes=changes)
    return line


@transaction.atomic
def finance_line_remove(*, line: FinanceLine, by: User) -> None:
    """Delete a finance line; the history keeps what it was."""
    profile = line.profile
    _lock_profile(profile)
    line_type = _line_type_of(line)
    changes = {f: [old, None] for f, old in _snapshot(line, LINE_FIELDS[line_type]).items() if old not in ("", None)}
    _line_history(profile=profile, by=by, line_type=line_type, verb="remove", line=line, changes=changes)
    line.delete()


def _finance_lines_sync(*, profile: CustomerProfile, lines: Mapping[str, list[Mapping[str, Any]]],
                        by: User | None) -> None:
    """Make each named collection equal to the given items (update by id, add, remove the rest)."""
    _lock_profile(profile)
    for collection, items in lines.items():
        line_type = LINE_COLLECTIONS.get(collection)
        if line_type is None:
            raise DomainError(gettext("Unknown kind of line."), field=collection)
        existing = {line.pk: line for line in getattr(profile, collection).select_for_update().order_by("pk")}
        kept = set()
        for position, item in enumerate(items, start=1):
            line_id = item.get("id")
            if line_id is not None and line_id not in existing:
                raise DomainError(gettext("Line %(n)s: no such line on this profile.") % {"n": position},
                                  field=collection)
            line = existing[line_id] if line_id is not None else LINE_MODELS[line_type](profile=profile)
            try:
                changes = _write_line(line, line_type, item)
            except DomainError as error:
                raise DomainError(gettext("Line %(n)s, %(field)s: %(message)s")
                                  % {"n": position, "field": error.field, "message": error.message},
                                  field=collection)
            kept.add(line.pk)
            if changes:
                verb = "update" if line_id is not None else "add"
                _line_history(profile=profile, by=by, line_type=line_type, verb=verb, line=line, changes=changes)
        for line_id, line in existing.items():
            if line_id not in kept:
                finance_line_remove(line=line, by=by)


# --- Documents ----------------------------------------------------------------------------------------

def _sniff(file: File) -> tuple[str, str] | None:
    """(content type, extension) from the first bytes of the file, whatever its name says."""
    file.seek(0)
    head = file.read(8)
    file.seek(0)
    for signature, content_type, extension in DOCUMENT_SIGNATURES:
        if head.startswith(signature):
            return content_type, extension
    return None


def _check_upload_size(file: File, *, field: str = "file") -> None:
    limit = settings.DOCUMENT_MAX_BYTES
    if not file.size:
        raise DomainError(gettext("The file is empty."), field=field)
    if file.size > limit:
        raise DomainError(gettext("The file is larger than %(size)s MB.") % {"size": f"{limit / 1048576:.0f}"},
                          field=field)


def _display_name(name: str | None) -> str:
    """The client's file name, reduced to its last path part (kept only for display)."""
    base = PurePath((name or "").replace("\\", "/")).name.strip()
    return base[-255:] or "upload"


def document_upload(*, profile: CustomerProfile, kind: str, file: File, by: User) -> CustomerDocument:
    """Store an uploaded document after checking its size and its content (PDF, JPEG or PNG by magic
    bytes, not by name). The file is encrypted (`pii.encrypt_file`, current PII key) and gets a random
    name under documents/; the client's name is kept for display. Starts in review state `pending`.
    """
    if kind not in DocumentKind.values:
        raise DomainError(gettext("Choose a document kind from the list."), field="kind")
    _check_upload_size(file)
    sniffed = _sniff(file)
    if sniffed is None:
        raise DomainError(gettext("Only PDF, JPEG and PNG files are accepted, and this file's content is none "
                                  "of them (whatever its name says)."), field="file", code="file_type")
    content_type, extension = sniffed
    file.seek(0)
    plain = b"".join(file.chunks())
    document = CustomerDocument(
        profile=profile, kind=kind, original_filename=_display_name(file.name), content_type=content_type,
        size_bytes=len(plain), sha256=hashlib.sha256(plain).hexdigest(), uploaded_by=by,
    )
    # Encrypted at rest with the PII key ring; the plain bytes never reach the storage.
    document.file.save(f"upload{extension}", ContentFile(pii.encrypt_file(plain)), save=False)
    try:
        with transaction.atomic():
            document.save()
            audit_record(actor=by, action="document.upload", target=document,
                         data={"profile_id": profile.pk, "kind": kind, "size_bytes": document.size_bytes})
    except BaseException:
        document.file.delete(save=False)  # nothing half-stored
        raise
    return document


@transaction.atomic
def document_review(*, document: CustomerDocument, to: str, by: User, reason: str = "") -> CustomerDocument:
    """An officer marks a document verified or rejected (a reason is required to reject).

    Raises PermissionDenied unless `by` may open customer files, DomainError for a missing
    reason, for reviewing one's own document or for a move not in REVIEW_TRANSITIONS.
    """
    if not can_open_customer_file(by):
        raise PermissionDenied
    reason = (reason or "").strip()
    if to == ReviewState.REJECTED and not reason:
        raise DomainError(gettext("Give the reason for rejecting the document."), field="reason")
    document = CustomerDocument.objects.select_for_update().select_related("profile").get(pk=document.pk)
    if document.profile.user_id == by.pk:
        raise DomainError(gettext("You cannot review your own documents."), field="review_state")
    document.review_reason = reason
    document.reviewed_by = by
    document.reviewed_at = timezone.now()
    transition(document, to=to, by=by, reason=reason, allowed=CustomerDocument.REVIEW_TRANSITIONS,
               field="review_state", data={"profile_id": document.profile_id},
               extra_update_fields=("review_reason", "reviewed_by", "reviewed_at"))
    return document


def _document_stored_bytes(document: CustomerDocument) -> bytes:
    """The bytes on disk: encrypted, or plain for a file stored before documents were encrypted."""
    with document.file.storage.open(document.file.name, "rb") as handle:
        return handle.read()


def document_content(document: CustomerDocument) -> bytes:
    """The plain bytes of a document, decrypted on the fly (a legacy plain file is read as it is)."""
    return pii.decrypt_file(_document_stored_bytes(document))


def document_open(*, document: CustomerDocument, by: User) -> File:
    """Open a document for download: a file object over the decrypted bytes (nothing plain is
    written anywhere). Staff access to someone else's file is audited. The caller has checked
    access (`selectors.document_get_for_download`)."""
    if document.profile.user_id != by.pk:
        audit_record(actor=by, action="document.download", target=document, data={"profile_id": document.profile_id})
    return ContentFile(document_content(document), name=document.original_filename)


def document_reencrypt(document: CustomerDocument) -> bool:
    """Key rotation: store the document's file encrypted with the current PII key (a legacy plain
    file is encrypted, one written with an older key re-encrypted). Returns whether it was rewritten.

    The new bytes go to a new random name and the row points there; the old file is deleted once
    the transaction commits, so a failure leaves the document readable as before. Raises
    FileNotFoundError for a missing file, cryptography's InvalidToken for one no key opens.
    """
    with transaction.atomic():
        document = CustomerDocument.objects.select_for_update().get(pk=document.pk)
        rewritten = pii.reencrypt_file(_document_stored_bytes(document))
        if rewritten is None:
            return False
        storage, old_name = document.file.storage, document.file.name
        document.file.save(f"upload{PurePath(old_name).suffix}", ContentFile(rewritten), save=False)
        new_name = document.file.name
        try:
            CustomerDocument.objects.filter(pk=document.pk).update(file=new_name)
        except BaseException:
            storage.delete(new_name)
            raise
        transaction.on_commit(lambda: storage.delete(old_name))
    return True


# --- Bank statements ---------------------------------------------------------------------------------

def statement_import(*, profile: CustomerProfile, file: File, by: User) -> StatementSummary:
    """Import a bank-statement CSV: parse and summarise it (customers.statements), store the summary.

    Raises DomainError(field="file") naming the line and column of the first problem; nothing is
    stored then. The same file cannot be imported twice for a profile.
    """
    _check_upload_size(file)
    file.seek(0)
    raw = file.read()
    digest = hashlib.sha256(raw).hexdigest()
    previous = StatementSummary.objects.filter(profile=profile, file_sha256=digest).first()
    if previous is not None:
        raise DomainError(gettext("This statement was already imported on %(date)s.")
                          % {"date": f"{timezone.localtime(previous.imported_at):%Y-%m-%d}"}, field="file",
                          code="duplicate")
    rules = SpendingCategoryRule.objects.filter(is_active=True).values_list("keyword", "category")
    try:
        result = statements.summarise_csv(raw, rules=list(rules))
    except StatementError as error:
        raise DomainError(_translated(error), field="file", code=error.code)
    with transaction.atomic():
        summary = StatementSummary.objects.create(
            profile=profile, original_filename=_display_name(file.name), file_sha256=digest,
            period_start=result.period_start, period_end=result.period_end, months_covered=result.months_covered,
            transaction_count=result.transaction_count, average_monthly_inflow=result.average_monthly_inflow,
            average_monthly_outflow=result.average_monthly_outflow, income_regularity=result.income_regularity,
            income_volatility=result.income_volatility, overdraft_days=result.overdraft_days,
            summary=result.as_json(), imported_by=by,
        )
        audit_record(actor=by, action="profile.statement_import", target=profile,
                     data={"statement_id": summary.pk, "period": [str(result.period_start), str(result.period_end)],
                           "transactions": result.transaction_count})
    return summary


# --- Interviews, consents, the full ID number -------------------------------------------------------

@transaction.atomic
def interview_note_add(*, profile: CustomerProfile, author: User, text: str, stability_rating: int,
                       willingness_rating: int) -> InterviewNote:
    """An officer's interview notes with their ratings (1-5) of stability and willingness to repay."""
    if not can_open_customer_file(author):
        raise PermissionDenied
    note = InterviewNote(profile=profile, author=author, text=(text or "").strip(),
                         stability_rating=stability_rating, willingness_rating=willingness_rating)
    _validate(note, exclude=("profile", "author"))
    note.save()
    audit_record(actor=author, action="profile.interview_note", target=profile, data={"note_id": note.pk})
    return note


@transaction.atomic
def consent_record(*, user: User, kind: str, text_version: str = CONSENT_TEXT_VERSION,
                   ip_address: str | None = None) -> Consent:
    """Record that `user` granted consent `kind` to `text_version`; granting the same again is a no-op."""
    if kind not in ConsentKind.values:
        raise DomainError(gettext("Unknown kind of consent."), field="kind")
    consent, created = Consent.objects.get_or_create(
        user=user, kind=kind, text_version=text_version, withdrawn_at__isnull=True,
        defaults={"ip_address": ip_address},
    )
    if created:
        audit_record(actor=user, action="consent.grant", target=consent, ip_address=ip_address,
                     data={"kind": kind, "text_version": text_version})
    return consent


@transaction.atomic
def consent_withdraw(*, consent: Consent, by: User, ip_address: str | None = None) -> Consent:
    """Withdraw a consent (the row stays, with the time of withdrawal)."""
    consent = Consent.objects.select_for_update().get(pk=consent.pk)
    if consent.withdrawn_at is None:
        consent.withdrawn_at = timezone.now()
        consent.save(update_fields=["withdrawn_at"])
        audit_record(actor=by, action="consent.withdraw", target=consent, ip_address=ip_address,
                     data={"kind": consent.kind, "text_version": consent.text_version})
    return consent


def customer_reveal_id(*, profile: CustomerProfile, by: User, reason: str = "",
                       ip_address: str | None = None) -> str:
    """The plain ID number, for staff who may open customer files; every call is audited
    (`pii.view_full_id`). Raises PermissionDenied for anyone else."""
    if not can_open_customer_file(by):
        raise PermissionDenied
    audit_record(actor=by, action="pii.view_full_id", target=profile, reason=reason, ip_address=ip_address,
                 data={"id_number": profile.id_number_masked})
    logger.info("Full ID number of customer profile %s (%s) shown to user %s", profile.pk, profile.id_number_masked,
                by.pk)
    return decrypt(profile.id_number_encrypted)
