"""Verbs of merchant point-of-sale financing (issue #20): onboarding, the catalogue and its CSV
import, baskets and their signed checkout links, the link opened into the customer's application
wizard and the application submitted from it, and the signed API's secret and signature check.

Every refusal is a DomainError naming the field; nothing is stored when anything is refused.
"""

import csv
import hashlib
import hmac
import io
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.conf import settings
from django.core import signing
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from config.errors import DomainError
from customers.audit import audit_record
from customers.models import User
from customers.pii import decrypt, encrypt
from customers.roles import Role
from customers.services import user_grant_role
from installments.merchants.models import Basket, BasketLine, Good, Merchant, MerchantUser
from installments.merchants.uscc import uscc_normalise, uscc_problem
from installments.models import Application, LoanProduct

CENT = Decimal("0.01")
CHECKOUT_SALT = "installments.merchants.checkout"
SIGNATURE_MAX_SKEW = 300  # seconds between the caller's X-Timestamp and our clock
MAX_LINES = 50
MAX_QUANTITY = 999
MAX_IMPORT_ROWS = 2000
CSV_COLUMNS = ("name", "category", "price")


def checkout_link_ttl() -> int:
    """Seconds a checkout link stays valid (MERCHANT_CHECKOUT_LINK_TTL, default one hour)."""
    return int(getattr(settings, "MERCHANT_CHECKOUT_LINK_TTL", 60 * 60))


def _money(value, *, field: str, positive: bool = True, allow_zero: bool = False) -> Decimal:
    try:
        amount = Decimal(str(value).strip().replace(",", ""))
    except (InvalidOperation, ValueError):
        raise DomainError(_("Enter an amount such as 1299.00."), field=field)
    if not amount.is_finite():
        raise DomainError(_("Enter an amount such as 1299.00."), field=field)
    if amount != amount.quantize(CENT, rounding=ROUND_HALF_UP):
        raise DomainError(_("Use at most two decimal places."), field=field)
    if amount < 0 or (amount == 0 and not allow_zero):
        raise DomainError(_("Must be greater than zero."), field=field)
    if amount >= Decimal("1e12"):
        raise DomainError(_("This amount is too large."), field=field)
    return amount.quantize(CENT)


# --- Onboarding (staff) ---------------------------------------------------------------------------------

def _check_licence(code: str, *, exclude_pk: int | None = None) -> str:
    code = uscc_normalise(code)
    problem = uscc_problem(code)
    messages = {
        "length": _("A unified social credit code has 18 characters."),
        "character": _("A unified social credit code uses only 0-9 and the letters A-H, J-N, P-R, T, U, W-Y."),
        "check": _("This unified social credit code is not valid: its check character does not match."),
    }
    if problem:
        raise DomainError(messages[problem], field="licence_number")
    taken = Merchant.objects.filter(licence_number=code)
    if exclude_pk:
        taken = taken.exclude(pk=exclude_pk)
    if taken.exists():
        raise DomainError(_("A merchant with this unified social credit code is already onboarded."),
                          field="licence_number")
    return code


def _account_last4(account_number: str) -> str:
    digits = "".join((account_number or "").split())
    if not digits.isdigit() or not 8 <= len(digits) <= 32:
        raise DomainError(_("Enter the settlement account number: 8 to 32 digits."), field="account_number")
    return digits[-4:]


def _check_terms(*, discount_rate, pays_interest: bool, promo_max_term_months: int) -> Decimal:
    try:
        rate = Decimal(str(discount_rate))
    except (InvalidOperation, ValueError):
        raise DomainError(_("Enter a percentage between 0 and 100."), field="discount_rate")
    if not rate.is_finite() or not Decimal("0") <= rate <= Decimal("100"):
        raise DomainError(_("Enter a percentage between 0 and 100."), field="discount_rate")
    if pays_interest and not promo_max_term_months:
        raise DomainError(_("A 0% promotion paid by the merchant needs its longest term."),
                          field="promo_max_term_months")
    return rate


@transaction.atomic
def merchant_onboard(*, by: User, legal_name: str, licence_number: str, bank_name: str, account_number: str,
                     products, discount_rate=Decimal("0"), pays_interest: bool = False,
                     promo_max_term_months: int = 0, user_email: str = "", user_full_name: str = "") -> Merchant:
    """Onboard a merchant; the full settlement account number is never stored (only its last 4 digits).
    With `user_email`, its merchant user too (`merchant_user_add`)."""
    if not (legal_name or "").strip():
        raise DomainError(_("Enter the merchant's legal name."), field="legal_name")
    if not (bank_name or "").strip():
        raise DomainError(_("Enter the settlement bank's name."), field="bank_name")
    merchant = Merchant(
        legal_name=legal_name.strip(), licence_number=_check_licence(licence_number), bank_name=bank_name.strip(),
        account_last4=_account_last4(account_number),
        discount_rate=_check_terms(discount_rate=discount_rate, pays_interest=pays_interest,
                                   promo_max_term_months=promo_max_term_months),
        pays_interest=pays_interest, promo_max_term_months=promo_max_term_months or 0, created_by=by,
    )
    merchant.save()
    merchant.products.set(products)
    audit_record(actor=by, action="merchant.onboard", target=merchant,
                 data={"licence_number": merchant.licence_number, "products": [p.pk for p in products]})
    if user_email:
        merchant_user_add(merchant=merchant, email=user_email, full_name=user_full_name, by=by)
    return merchant


@transaction.atomic
def merchant_update(*, merchant: Merchant, by: User, legal_name: str, licence_number: str, bank_name: str,
                    account_number: str = "", products, discount_rate, pays_interest: bool,
                    promo_max_term_months: int) -> Merchant:
    """Change a merchant's details; an empty `account_number` keeps the settlement account."""
    merchant = Merchant.objects.select_for_update().get(pk=merchant.pk)
    if not (legal_name or "").strip():
        raise DomainError(_("Enter the merchant's legal name."), field="legal_name")
    merchant.licence_number = _check_licence(licence_number, exclude_pk=merchant.pk)
    merchant.legal_name = legal_name.strip()
    merchant.bank_name = (bank_name or "").strip() or merchant.bank_name
    if account_number:
        merchant.account_last4 = _account_last4(account_number)
    merchant.discount_rate = _check_terms(discount_rate=discount_rate, pays_interest=pays_interest,
                                          promo_max_term_months=promo_max_term_months)
    merchant.pays_interest = pays_interest
    merchant.promo_max_term_months = promo_max_term_months or 0
    merchant.save()
    merchant.products.set(products)
    audit_record(actor=by, action="merchant.update", target=merchant)
    return merchant


def merchant_set_status(*, merchant: Merchant, status: str, by: User, reason: str = "") -> Merchant:
    if status not in Merchant.Status.values:
        raise DomainError(_("Choose a valid status."), field="status")
    with transaction.atomic():
        merchant = Merchant.objects.select_for_update().get(pk=merchant.pk)
        if merchant.status == Merchant.Status.CLOSED and status != Merchant.Status.CLOSED:
            raise DomainError(_("A closed merchant cannot be reopened; onboard it again."), field="status")
        before = merchant.status
        merchant.status = status
        merchant.save(update_fields=["status"])
        audit_record(actor=by, action="merchant.status", target=merchant, from_state=before, to_state=status,
                     reason=reason)
    return merchant


def merchant_user_add(*, merchant: Merchant, email: str, full_name: str = "", by: User) -> User:
    """Link a user (role merchant) to the merchant: a new account without a password (they choose one
    with "forgot password"), or an existing account that holds no other role."""
    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except Exception:
        raise DomainError(_("Enter a valid e-mail address."), field="user_email")
    with transaction.atomic():
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            user = User.objects.create_user(email=email, password=None, full_name=(full_name or "").strip())
        elif user.is_superuser or (user.role_names - {str(Role.MERCHANT)}):
            raise DomainError(_("This e-mail address belongs to an account with another role."), field="user_email")
        elif MerchantUser.objects.filter(user=user).exclude(merchant=merchant).exists():
            raise DomainError(_("This user already works for another merchant."), field="user_email")
        user_grant_role(user=user, role=Role.MERCHANT, by=by)
        MerchantUser.objects.get_or_create(user=user, defaults={"merchant": merchant})
        audit_record(actor=by, action="merchant.user_add", target=merchant, data={"user": user.pk})
    return user


def merchant_api_secret_rotate(*, merchant: Merchant, by: User) -> str:
    """A new secret for the merchant's signed API (the old one stops working); shown once, stored encrypted."""
    secret = secrets.token_hex(32)
    Merchant.objects.filter(pk=merchant.pk).update(api_secret_encrypted=encrypt(secret))
    merchant.api_secret_encrypted = Merchant.objects.values_list("api_secret_encrypted", flat=True).get(pk=merchant.pk)
    audit_record(actor=by, action="merchant.api_secret_rotate", target=merchant)
    return secret


# --- Catalogue ----------------------------------------------------------------------------------------

def _check_good(*, name: str, category: str, price) -> tuple[str, str, Decimal]:
    name = (name or "").strip()
    if not name:
        raise DomainError(_("Enter the name of the good."), field="name")
    if len(name) > 200:
        raise DomainError(_("At most 200 characters."), field="name")
    category = (category or "").strip().lower()
    if category not in Application.Purpose.values:
        raise DomainError(_("Choose one of: %(choices)s.") % {"choices": ", ".join(Application.Purpose.values)},
                          field="category")
    return name, category, _money(price, field="price")


def good_save(*, merchant: Merchant, by: User, name: str, category: str, price, is_active: bool = True,
              good: Good | None = None) -> Good:
    """Add a good to the merchant's catalogue, or change `good` (which must be the merchant's)."""
    name, category, price = _check_good(name=name, category=category, price=price)
    if good is not None and good.merchant_id != merchant.pk:
        raise DomainError(_("Not found."), field="good")
    duplicate = Good.objects.filter(merchant=merchant, name=name)
    if good is not None:
        duplicate = duplicate.exclude(pk=good.pk)
    if duplicate.exists():
        raise DomainError(_("The catalogue already has a good with this name."), field="name")
    good = good or Good(merchant=merchant)
    good.name, good.category, good.price, good.is_active = name, category, price, is_active
    good.save()
    audit_record(actor=by, action="merchant.good_save", target=good, data={"price": str(price)})
    return good


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int


def goods_import_csv(*, merchant: Merchant, by: User, text: str) -> ImportResult:
    """Import the catalogue from CSV (columns name, category, price, optional active): a good with the
    same name is updated. All rows or none: the first bad row is refused naming its row and field."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    columns = [c.strip().lower() for c in (reader.fieldnames or [])]
    missing = [c for c in CSV_COLUMNS if c not in columns]
    if missing:
        raise DomainError(_("The CSV file needs the columns %(columns)s; missing: %(missing)s.")
                          % {"columns": ", ".join(CSV_COLUMNS), "missing": ", ".join(missing)}, field="file")
    reader.fieldnames = columns
    rows = []
    seen: dict[str, int] = {}
    for number, row in enumerate(reader, start=2):  # row 1 is the header
        if len(rows) >= MAX_IMPORT_ROWS:
            raise DomainError(_("At most %(count)s rows per file.") % {"count": MAX_IMPORT_ROWS}, field="file")
        if not any((value or "").strip() for value in row.values() if isinstance(value, str)):
            continue
        try:
            name, category, price = _check_good(name=row.get("name"), category=row.get("category"),
                                                price=row.get("price") or "")
            active_text = (row.get("active") or "yes").strip().lower()
            if active_text not in ("yes", "no", "true", "false", "1", "0", "y", "n"):
                raise DomainError(_("Write yes or no."), field="active")
        except DomainError as error:
            raise DomainError(_("Row %(row)s, %(field)s: %(message)s")
                              % {"row": number, "field": error.field, "message": error.message}, field="file")
        if name in seen:
            raise DomainError(_("Row %(row)s, name: the same good is on row %(first)s.")
                              % {"row": number, "first": seen[name]}, field="file")
        seen[name] = number
        rows.append((name, category, price, active_text in ("yes", "true", "1", "y")))
    if not rows:
        raise DomainError(_("The CSV file has no goods."), field="file")
    created = updated = 0
    with transaction.atomic():
        existing = {g.name: g for g in Good.objects.select_for_update().filter(merchant=merchant, name__in=seen)}
        for name, category, price, active in rows:
            good = existing.get(name)
            if good is None:
                Good.objects.create(merchant=merchant, name=name, category=category, price=price, is_active=active)
                created += 1
            else:
                good.category, good.price, good.is_active = category, price, active
                good.save(update_fields=["category", "price", "is_active", "updated_at"])
                updated += 1
        audit_record(actor=by, action="merchant.goods_import", target=merchant,
                     data={"created": created, "updated": updated})
    return ImportResult(created=created, updated=updated)


# --- Baskets and checkout links -------------------------------------------------------------------------

def _refuse_unless_active(merchant: Merchant, *, field: str = "merchant") -> None:
    if merchant.status != Merchant.Status.ACTIVE:
        raise DomainError(_("%(merchant)s is %(status)s: it cannot sell on installments now.")
                          % {"merchant": merchant.legal_name, "status": merchant.get_status_display().lower()},
                          field=field, code="merchant_not_active")


def basket_create(*, merchant: Merchant, by: User | None, lines: list[tuple[int, int]], down_payment=Decimal("0"),
                  reference: str = "") -> Basket:
    """A basket of the merchant's active goods (`lines`: (good id, quantity)) and its down payment,
    which must be below the total; the amount financed must fit one of the merchant's products."""
    with transaction.atomic():
        merchant = Merchant.objects.select_for_update().get(pk=merchant.pk)
        _refuse_unless_active(merchant)
        reference = (reference or "").strip()
        if len(reference) > 64:
            raise DomainError(_("At most 64 characters."), field="reference")
        if not lines:
            raise DomainError(_("Add at least one good."), field="lines")
        if len(lines) > MAX_LINES:
            raise DomainError(_("At most %(count)s lines.") % {"count": MAX_LINES}, field="lines")
        goods = {g.pk: g for g in Good.objects.filter(merchant=merchant, pk__in=[g for g, _q in lines])}
        built, total, by_category = [], Decimal("0"), {}
        for index, (good_id, quantity) in enumerate(lines):
            good = goods.get(good_id)
            if good is None or not good.is_active:
                raise DomainError(_("Line %(line)s: this good is not in your active catalogue.") % {"line": index + 1},
                                  field="lines")
            if not isinstance(quantity, int) or isinstance(quantity, bool) or not 1 <= quantity <= MAX_QUANTITY:
                raise DomainError(_("Line %(line)s: the quantity must be a whole number from 1 to %(max)s.")
                                  % {"line": index + 1, "max": MAX_QUANTITY}, field="lines")
            line_total = (good.price * quantity).quantize(CENT)
            total += line_total
            by_category[good.category] = by_category.get(good.category, Decimal("0")) + line_total
            built.append(BasketLine(good=good, name=good.name, unit_price=good.price, quantity=quantity,
                                    line_total=line_total))
        down_payment = _money(down_payment if down_payment not in (None, "") else "0", field="down_payment",
                              allow_zero=True)
        if down_payment >= total:
            raise DomainError(_("The down payment must be less than the total (%(total)s).") % {"total": total},
                              field="down_payment")
        financed = total - down_payment
        products = list(merchant.products.filter(is_active=True))
        if not products:
            raise DomainError(_("No loan product is set up for this merchant."), field="merchant")
        if not any(p.min_amount <= financed <= p.max_amount for p in products):
            low, high = min(p.min_amount for p in products), max(p.max_amount for p in products)
            raise DomainError(_("The amount financed (%(amount)s) must be between %(low)s and %(high)s.")
                              % {"amount": financed, "low": low, "high": high}, field="down_payment")
        if reference and Basket.objects.filter(merchant=merchant, reference=reference).exists():
            raise DomainError(_("This order reference is already used."), field="reference", code="duplicate")
        purpose = max(by_category.items(), key=lambda item: (item[1], item[0]))[0]
        basket = Basket.objects.create(
            merchant=merchant, reference=reference, total=total, down_payment=down_payment, amount_financed=financed,
            purpose=purpose, discount_rate=merchant.discount_rate, pays_interest=merchant.pays_interest,
            promo_max_term_months=merchant.promo_max_term_months, created_by=by,
            expires_at=timezone.now() + timedelta(seconds=checkout_link_ttl()))
        for line in built:
            line.basket = basket
        BasketLine.objects.bulk_create(built)
        audit_record(actor=by, action="merchant.basket_create", target=basket,
                     data={"merchant": merchant.pk, "total": str(total), "down_payment": str(down_payment)})
    return basket


def basket_cancel(*, basket: Basket, by: User) -> Basket:
    with transaction.atomic():
        basket = Basket.objects.select_for_update().get(pk=basket.pk)
        if basket.state != Basket.State.OPEN:
            raise DomainError(_("Only an open basket can be cancelled."), field="basket")
        basket.state = Basket.State.CANCELLED
        basket.save(update_fields=["state"])
        audit_record(actor=by, action="merchant.basket_cancel", target=basket)
    return basket


def basket_token(basket: Basket) -> str:
    """The signed token of the basket's checkout link (it carries nothing but the basket's public id)."""
    return signing.dumps(str(basket.public_id), salt=CHECKOUT_SALT)


def _basket_from_token(token: str, *, lock: bool = False) -> Basket:
    invalid = DomainError(_("This checkout link is not valid. Ask the shop for a new one."), field="token",
                          code="link_invalid")
    try:
        public_id = signing.loads(token or "", salt=CHECKOUT_SALT, max_age=checkout_link_ttl() + 60)
    except signing.SignatureExpired:
        raise DomainError(_("This checkout link has expired. Ask the shop for a new one."), field="token",
                          code="link_expired")
    except signing.BadSignature:
        raise invalid
    baskets = Basket.objects.select_related("merchant")
    if lock:
        baskets = baskets.select_for_update(of=("self",))
    basket = baskets.filter(public_id=public_id).first() if isinstance(public_id, str) else None
    if basket is None:
        raise invalid
    return basket


def basket_usable(basket: Basket, *, check_expiry: bool = True) -> None:
    """Refuse (DomainError) a basket that cannot be applied for now: used, cancelled, expired, or its
    merchant not active. A link opened by one customer is theirs."""
    if basket.application_id or basket.state == Basket.State.SUBMITTED:
        raise DomainError(_("This checkout link was already used for an application."), field="token",
                          code="link_used")
    if basket.state == Basket.State.CANCELLED:
        raise DomainError(_("The shop cancelled this basket. Ask the shop for a new link."), field="token",
                          code="link_cancelled")
    if check_expiry and basket.expires_at <= timezone.now():
        raise DomainError(_("This checkout link has expired. Ask the shop for a new one."), field="token",
                          code="link_expired")
    _refuse_unless_active(basket.merchant, field="token")


def basket_for_token(token: str) -> Basket:
    """The basket of a checkout link, refused (DomainError naming `token`) unless it can be applied for."""
    basket = _basket_from_token(token)
    basket_usable(basket)
    return basket


def basket_open(*, token: str, user: User, draft) -> Basket:
    """The customer opened the link into their application wizard: the basket is attached to their
    open draft (replacing any basket attached before) so the request step starts from it."""
    with transaction.atomic():
        basket = _basket_from_token(token, lock=True)
        basket_usable(basket)
        if (basket.draft_id and basket.draft_id != draft.pk and basket.draft.user_id != user.pk
                and basket.draft.is_open):
            raise DomainError(_("Another customer has opened this checkout link."), field="token", code="link_taken")
        Basket.objects.filter(draft=draft, application__isnull=True).exclude(pk=basket.pk).update(draft=None)
        basket.draft = draft
        basket.opened_at = basket.opened_at or timezone.now()
        basket.save(update_fields=["draft", "opened_at"])
        audit_record(actor=user, action="merchant.basket_open", target=basket)
    return basket


def basket_for_draft(draft) -> Basket | None:
    """The basket the customer's open draft was started from, if any."""
    if draft is None or draft.pk is None:
        return None
    return (Basket.objects.select_related("merchant").filter(draft=draft, application__isnull=True)
            .order_by("-opened_at", "-pk").first())


def basket_prefill(basket: Basket) -> dict:
    """What the wizard's request step starts with: the amount financed, the purpose and the merchant's
    first product that can finance it."""
    products = [p for p in basket.merchant.products.filter(is_active=True).order_by("code")
                if p.min_amount <= basket.amount_financed <= p.max_amount]
    prefill = {"amount": basket.amount_financed, "purpose": basket.purpose}
    if products:
        prefill["product"] = products[0].pk
    return prefill


def basket_application_submitted(*, draft, application: Application) -> Basket | None:
    """Called in the submission's transaction (portal.services.draft_submit): the basket the draft was
    started from records the application and is used up. Refused (and so is the submission) when the
    link can no longer be used or the application is not for the basket's amount and the merchant's
    products. The link's expiry is checked when it is opened, not here: the customer may take longer
    to fill in the wizard than the link lives."""
    basket = (Basket.objects.select_for_update(of=("self",)).select_related("merchant")
              .filter(draft=draft, application__isnull=True).order_by("-opened_at", "-pk").first())
    if basket is None:
        return None
    basket_usable(basket, check_expiry=False)  # used, cancelled, merchant not active
    if application.amount != basket.amount_financed:
        raise DomainError(_("This application pays for your basket at %(merchant)s: the amount must be %(amount)s.")
                          % {"merchant": basket.merchant.legal_name, "amount": basket.amount_financed},
                          field="amount")
    if not basket.merchant.products.filter(pk=application.product_id).exists():
        raise DomainError(_("%(merchant)s does not sell on installments with this product.")
                          % {"merchant": basket.merchant.legal_name}, field="product")
    basket.application = application
    basket.state = Basket.State.SUBMITTED
    basket.submitted_at = timezone.now()
    try:
        with transaction.atomic():
            basket.save(update_fields=["application", "state", "submitted_at"])
    except IntegrityError:
        raise DomainError(_("This checkout link was already used for an application."), field="token",
                          code="link_used")
    audit_record(actor=application.customer, action="merchant.basket_submitted", target=basket,
                 data={"application": application.pk})
    return basket


# --- The signed API -----------------------------------------------------------------------------------

def signature_for(*, secret: str, timestamp: str, method: str, path: str, body: bytes) -> str:
    """HMAC-SHA256 (hex) of `<timestamp>\\n<METHOD>\\n<path>\\n<body>` with the merchant's secret."""
    message = f"{timestamp}\n{method.upper()}\n{path}\n".encode() + (body or b"")
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signed_merchant(*, merchant_id: str, timestamp: str, signature: str, method: str, path: str,
                    body: bytes) -> Merchant:
    """The merchant whose secret signed this request, or DomainError (field `signature`)."""
    refused = DomainError(_("The request signature is missing or wrong."), field="signature", code="bad_signature")
    try:
        merchant = Merchant.objects.get(pk=int(merchant_id))
        sent_at = int(timestamp)
    except (Merchant.DoesNotExist, TypeError, ValueError):
        raise refused
    if not merchant.api_secret_encrypted or abs(time.time() - sent_at) > SIGNATURE_MAX_SKEW:
        raise refused
    expected = signature_for(secret=decrypt(merchant.api_secret_encrypted), timestamp=timestamp, method=method,
                             path=path, body=body)
    given = (signature or "").strip().removeprefix("sha256=")
    if not hmac.compare_digest(expected, given):
        raise refused
    return merchant


def products_of(merchant: Merchant) -> list[LoanProduct]:
    return list(merchant.products.filter(is_active=True).order_by("code"))
