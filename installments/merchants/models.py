"""Merchants that sell goods on installments, their catalogue and their customers' baskets (issue #20).

Imported by installments/models.py (the app's models module), so these are `installments.*` models.
The basket points at the application submitted from it; `installments.Application` is not changed.
"""

import uuid
from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

MONEY = {"max_digits": 14, "decimal_places": 2}
RATE = {"max_digits": 7, "decimal_places": 4}


class Merchant(models.Model):
    """A shop onboarded by staff: who it is, where it is paid, what it may sell on installments and on what terms."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        SUSPENDED = "suspended", _("Suspended")
        CLOSED = "closed", _("Closed")

    legal_name = models.CharField(_("legal name"), max_length=200)
    licence_number = models.CharField(_("unified social credit code"), max_length=18, unique=True,
                                      help_text=_("The 18-character business licence number (GB 32100-2015)."))
    bank_name = models.CharField(_("settlement bank"), max_length=120)
    account_last4 = models.CharField(_("settlement account (last 4 digits)"), max_length=4)
    products = models.ManyToManyField("installments.LoanProduct", related_name="merchants", blank=True,
                                      verbose_name=_("products sold on installments"))
    discount_rate = models.DecimalField(
        _("merchant discount rate (% of the amount financed)"), **RATE, default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))])
    pays_interest = models.BooleanField(_("merchant pays the interest (0% promotion)"), default=False)
    promo_max_term_months = models.PositiveSmallIntegerField(_("0% promotion: longest term (months)"), default=0)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE)
    api_secret_encrypted = models.TextField(_("API secret (encrypted)"), blank=True, editable=False)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", verbose_name=_("onboarded by"))

    class Meta:
        verbose_name = _("merchant")
        verbose_name_plural = _("merchants")
        ordering = ["legal_name", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(discount_rate__gte=0) & Q(discount_rate__lte=100),
                                   name="merchant_discount_rate_range"),
            models.CheckConstraint(condition=Q(pays_interest=False) | Q(promo_max_term_months__gt=0),
                                   name="merchant_promotion_has_term"),
        ]

    def __str__(self) -> str:
        return self.legal_name

    @property
    def account_masked(self) -> str:
        return f"**** {self.account_last4}"


class MerchantUser(models.Model):
    """A user (role merchant) who works for a merchant: one merchant per user."""

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="users",
                                 verbose_name=_("merchant"))
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="merchant_link",
                                verbose_name=_("user"))

    class Meta:
        verbose_name = _("merchant user")
        verbose_name_plural = _("merchant users")

    def __str__(self) -> str:
        return f"{self.user} @ {self.merchant}"


class Good(models.Model):
    """One article of a merchant's catalogue; its category is an application purpose."""

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="goods", verbose_name=_("merchant"))
    name = models.CharField(_("name"), max_length=200)
    category = models.CharField(_("category"), max_length=20)  # installments.Application.Purpose
    price = models.DecimalField(_("price"), **MONEY)
    is_active = models.BooleanField(_("active"), default=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("good")
        verbose_name_plural = _("goods")
        ordering = ["name", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(price__gt=0), name="merchant_good_price_positive"),
            models.UniqueConstraint(fields=["merchant", "name"], name="merchant_good_name_unique"),
        ]

    def __str__(self) -> str:
        return self.name


class Basket(models.Model):
    """What a customer buys at a merchant on installments; opened from a signed link, used once."""

    class State(models.TextChoices):
        OPEN = "open", _("Open")
        SUBMITTED = "submitted", _("Application submitted")
        CANCELLED = "cancelled", _("Cancelled")

    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="baskets",
                                 verbose_name=_("merchant"))
    public_id = models.UUIDField(_("public id"), default=uuid.uuid4, unique=True, editable=False)
    reference = models.CharField(_("order reference"), max_length=64, blank=True)
    total = models.DecimalField(_("total"), **MONEY)
    down_payment = models.DecimalField(_("down payment"), **MONEY, default=Decimal("0"))
    amount_financed = models.DecimalField(_("amount financed"), **MONEY)
    purpose = models.CharField(_("purpose"), max_length=20)
    # The merchant's terms when the basket was made.
    discount_rate = models.DecimalField(_("merchant discount rate (%)"), **RATE, default=Decimal("0"))
    pays_interest = models.BooleanField(_("merchant pays the interest"), default=False)
    promo_max_term_months = models.PositiveSmallIntegerField(_("0% promotion: longest term (months)"), default=0)
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.OPEN)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    expires_at = models.DateTimeField(_("link expires"))
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", verbose_name=_("created by"))
    draft = models.ForeignKey("customers.ApplicationDraft", null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="merchant_baskets", verbose_name=_("application draft"))
    opened_at = models.DateTimeField(_("opened"), null=True, blank=True)
    application = models.OneToOneField("installments.Application", null=True, blank=True,
                                       on_delete=models.PROTECT, related_name="merchant_basket",
                                       verbose_name=_("application"))
    submitted_at = models.DateTimeField(_("application submitted"), null=True, blank=True)

    class Meta:
        verbose_name = _("basket")
        verbose_name_plural = _("baskets")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(total__gt=0), name="merchant_basket_total_positive"),
            models.CheckConstraint(condition=Q(down_payment__gte=0) & Q(down_payment__lt=models.F("total")),
                                   name="merchant_basket_down_payment_below_total"),
            models.CheckConstraint(condition=Q(amount_financed=models.F("total") - models.F("down_payment")),
                                   name="merchant_basket_amount_financed"),
            models.UniqueConstraint(fields=["merchant", "reference"], condition=~Q(reference=""),
                                    name="merchant_basket_reference_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.merchant} #{self.pk}"


class BasketLine(models.Model):
    basket = models.ForeignKey(Basket, on_delete=models.CASCADE, related_name="lines", verbose_name=_("basket"))
    good = models.ForeignKey(Good, on_delete=models.PROTECT, related_name="+", verbose_name=_("good"))
    name = models.CharField(_("name"), max_length=200)
    unit_price = models.DecimalField(_("unit price"), **MONEY)
    quantity = models.PositiveIntegerField(_("quantity"))
    line_total = models.DecimalField(_("line total"), **MONEY)

    class Meta:
        verbose_name = _("basket line")
        verbose_name_plural = _("basket lines")
        ordering = ["pk"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="merchant_basket_line_quantity_positive"),
            models.CheckConstraint(condition=Q(unit_price__gt=0), name="merchant_basket_line_price_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.name}"
