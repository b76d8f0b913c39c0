"""Questions about merchants for their portal, the staff pages and the API. A merchant sees its
baskets and each application's status, never the customer's finances, score or documents."""

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from customers.models import User
from installments.merchants.models import Basket, Good, Merchant
from installments.models import Application

S = Application.State
# What the merchant is told about the application submitted from a basket.
APPLICATION_STATUS = {
    S.DRAFT: "pending", S.SUBMITTED: "pending", S.SCORED: "pending", S.IN_REVIEW: "pending",
    S.DOCUMENTS_REQUESTED: "pending", S.AWAITING_APPROVAL: "pending",
    S.APPROVED: "approved", S.CONTRACTED: "approved",
    S.DECLINED: "declined",
    S.WITHDRAWN: "cancelled", S.EXPIRED: "cancelled",
    S.ACTIVE: "active", S.CLOSED: "active",
}
STATUS_LABELS = {
    "open": _("Waiting for the customer"), "expired": _("Link expired"), "cancelled": _("Cancelled"),
    "pending": _("Pending"), "approved": _("Approved"), "declined": _("Declined"), "active": _("Active"),
}
STATUS_BADGES = {"open": "secondary", "expired": "light", "cancelled": "dark", "pending": "warning",
                 "approved": "success", "declined": "danger", "active": "primary"}


def merchant_for_user(user: User) -> Merchant | None:
    """The merchant the user works for (None: not a merchant user)."""
    if not getattr(user, "is_authenticated", False):
        return None
    return Merchant.objects.filter(users__user=user).first()


def merchant_list() -> QuerySet[Merchant]:
    return Merchant.objects.prefetch_related("products").order_by("legal_name", "pk")


def goods_for_merchant(merchant: Merchant, *, active_only: bool = False) -> QuerySet[Good]:
    goods = Good.objects.filter(merchant=merchant)
    return goods.filter(is_active=True) if active_only else goods


def baskets_for_merchant(merchant: Merchant) -> QuerySet[Basket]:
    """The merchant's baskets with what the portal shows (only the application's number and state)."""
    return (Basket.objects.filter(merchant=merchant).select_related("application").prefetch_related("lines")
            .order_by("-created_at", "-pk"))


def basket_for_merchant(merchant: Merchant, pk: int) -> Basket | None:
    return baskets_for_merchant(merchant).filter(pk=pk).first()


def basket_status(basket: Basket, *, now=None) -> str:
    """open, expired, cancelled (the basket) or pending, approved, declined, cancelled, active (its application)."""
    if basket.application_id:
        return APPLICATION_STATUS.get(basket.application.state, "pending")
    if basket.state == Basket.State.CANCELLED:
        return "cancelled"
    if basket.expires_at <= (now or timezone.now()):
        return "expired"
    return "open"


def basket_view(basket: Basket) -> dict:
    """The basket as the merchant (page or API) sees it."""
    status = basket_status(basket)
    return {
        "basket": basket, "status": status, "status_label": STATUS_LABELS[status], "badge": STATUS_BADGES[status],
        "application_number": basket.application.number if basket.application_id else "",
    }
