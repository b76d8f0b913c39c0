"""Merchant pages under /merchant/ (config.urls): the merchant portal (role merchant), the customer's
checkout page behind a signed link (public), and the staff pages that onboard merchants (managers,
admins). Thin: parse the form, call a service or selector, render."""

import segno
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from config.errors import DomainError
from customers.permissions import role_required
from customers.roles import Role
from installments.merchants import selectors, services
from installments.merchants.forms import (
    BasketForm,
    GoodForm,
    GoodsImportForm,
    MerchantForm,
    MerchantUserForm,
    OnboardForm,
    StatusForm,
)
from installments.merchants.models import Merchant

merchant_role = role_required(Role.MERCHANT)
onboarding_roles = role_required(Role.MANAGER, Role.ADMIN)


def _form_error(form, error: DomainError) -> None:
    form.add_error(error.field if error.field in form.fields else None, error.message)


def _merchant_or_403(request) -> Merchant:
    merchant = selectors.merchant_for_user(request.user)
    if merchant is None:
        raise PermissionDenied
    return merchant


def checkout_url(request, basket) -> str:
    return request.build_absolute_uri(reverse("merchants:checkout", args=[services.basket_token(basket)]))


# --- The merchant portal ----------------------------------------------------------------------------------

@merchant_role
@require_GET
def home(request):
    merchant = _merchant_or_403(request)
    baskets = [selectors.basket_view(b) for b in selectors.baskets_for_merchant(merchant)[:100]]
    return render(request, "installments/merchants/home.html", {"merchant": merchant, "baskets": baskets})


@merchant_role
@require_http_methods(["GET", "POST"])
def basket_new(request):
    merchant = _merchant_or_403(request)
    goods = selectors.goods_for_merchant(merchant, active_only=True)
    form = BasketForm(request.POST or None, goods=goods)
    if request.method == "POST" and form.is_valid():
        try:
            basket = services.basket_create(merchant=merchant, by=request.user, lines=form.lines(),
                                            down_payment=form.cleaned_data.get("down_payment") or 0,
                                            reference=form.cleaned_data.get("reference") or "")
        except DomainError as error:
            _form_error(form, error)
        else:
            messages.success(request, _("Basket made: show the customer the QR code or send them the link."))
            return redirect("merchants:basket", pk=basket.pk)
    return render(request, "installments/merchants/basket_new.html", {"merchant": merchant, "form": form},
                  status=400 if form.errors else 200)


@merchant_role
@require_GET
def basket_detail(request, pk: int):
    merchant = _merchant_or_403(request)
    basket = selectors.basket_for_merchant(merchant, pk)
    if basket is None:
        raise Http404
    view = selectors.basket_view(basket)
    context = {"merchant": merchant, **view, "lines": list(basket.lines.all())}
    if view["status"] == "open":
        url = checkout_url(request, basket)
        context.update(url=url, qr_svg=segno.make(url, error="m").svg_inline(scale=5, title=_("Checkout link")))
    return render(request, "installments/merchants/basket.html", context)


@merchant_role
@require_POST
def basket_cancel(request, pk: int):
    merchant = _merchant_or_403(request)
    basket = selectors.basket_for_merchant(merchant, pk)
    if basket is None:
        raise Http404
    try:
        services.basket_cancel(basket=basket, by=request.user)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("Basket cancelled: its link no longer works."))
    return redirect("merchants:basket", pk=basket.pk)


@merchant_role
@require_http_methods(["GET", "POST"])
def goods(request):
    merchant = _merchant_or_403(request)
    form = GoodForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.good_save(merchant=merchant, by=request.user, **form.cleaned_data)
        except DomainError as error:
            _form_error(form, error)
        else:
            messages.success(request, _("Good added to the catalogue."))
            return redirect("merchants:goods")
    return render(request, "installments/merchants/goods.html", {
        "merchant": merchant, "goods": selectors.goods_for_merchant(merchant), "form": form,
        "import_form": GoodsImportForm()}, status=400 if form.errors else 200)


@merchant_role
@require_http_methods(["GET", "POST"])
def good_edit(request, pk: int):
    merchant = _merchant_or_403(request)
    good = selectors.goods_for_merchant(merchant).filter(pk=pk).first()
    if good is None:
        raise Http404
    initial = {"name": good.name, "category": good.category, "price": good.price, "is_active": good.is_active}
    form = GoodForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.good_save(merchant=merchant, by=request.user, good=good, **form.cleaned_data)
        except DomainError as error:
            _form_error(form, error)
        else:
            messages.success(request, _("Good saved."))
            return redirect("merchants:goods")
    return render(request, "installments/merchants/good_edit.html", {"merchant": merchant, "good": good,
                                                                      "form": form})


@merchant_role
@require_POST
def goods_import(request):
    merchant = _merchant_or_403(request)
    form = GoodsImportForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            result = services.goods_import_csv(merchant=merchant, by=request.user, text=form.cleaned_data["file"])
        except DomainError as error:
            _form_error(form, error)
        else:
            messages.success(request, _("Catalogue imported: %(created)s added, %(updated)s updated.")
                             % {"created": result.created, "updated": result.updated})
            return redirect("merchants:goods")
    return render(request, "installments/merchants/goods.html", {
        "merchant": merchant, "goods": selectors.goods_for_merchant(merchant), "form": GoodForm(),
        "import_form": form}, status=400)


# --- The customer's checkout page (public, behind the signed link) -----------------------------------------

@require_GET
def checkout(request, token: str):
    try:
        basket = services.basket_for_token(token)
    except DomainError as error:
        return render(request, "installments/merchants/checkout.html", {"error": error.message}, status=410)
    return render(request, "installments/merchants/checkout.html", {
        "basket": basket, "merchant": basket.merchant, "lines": list(basket.lines.all()),
        "apply_url": reverse("portal:apply") + "?basket=" + token,
        "products": services.products_of(basket.merchant)})


# --- Staff: onboarding ----------------------------------------------------------------------------------

@onboarding_roles
@require_GET
def staff_list(request):
    return render(request, "installments/merchants/staff_list.html", {"merchants": selectors.merchant_list()})


@onboarding_roles
@require_http_methods(["GET", "POST"])
def staff_new(request):
    form = OnboardForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            merchant = services.merchant_onboard(by=request.user, **form.service_fields())
        except DomainError as error:
            _form_error(form, error)
        else:
            messages.success(request, _("Merchant onboarded."))
            return redirect("merchants:staff_detail", pk=merchant.pk)
    return render(request, "installments/merchants/staff_form.html", {"form": form},
                  status=400 if form.errors else 200)


def _staff_merchant(pk: int) -> Merchant:
    merchant = selectors.merchant_list().filter(pk=pk).first()
    if merchant is None:
        raise Http404
    return merchant


def _staff_detail_context(merchant, **forms) -> dict:
    return {
        "merchant": merchant,
        "edit_form": forms.get("edit_form") or MerchantForm(initial=MerchantForm.initial_from(merchant), editing=True),
        "status_form": forms.get("status_form") or StatusForm(initial={"status": merchant.status}),
        "user_form": forms.get("user_form") or MerchantUserForm(),
        "users": [link.user for link in merchant.users.select_related("user")],
        "secret": forms.get("secret"),
        "basket_count": merchant.baskets.count(),
    }


@onboarding_roles
@require_GET
def staff_detail(request, pk: int):
    return render(request, "installments/merchants/staff_detail.html", _staff_detail_context(_staff_merchant(pk)))


def _staff_detail_post(request, pk: int, form_class, form_key: str, action, done: str, form_kwargs=None):
    """A form posted on the merchant's staff page: `action(merchant, form)` runs the service; a refusal
    shows the form again with the error on its field (400), success goes back to the page. `form_kwargs`,
    when given, builds the form's extra arguments from the merchant."""
    merchant = _staff_merchant(pk)
    form = form_class(request.POST, **(form_kwargs(merchant) if form_kwargs else {}))
    if form.is_valid():
        try:
            action(merchant, form)
        except DomainError as error:
            _form_error(form, error)
        else:
            messages.success(request, done)
            return redirect("merchants:staff_detail", pk=merchant.pk)
    return render(request, "installments/merchants/staff_detail.html",
                  _staff_detail_context(merchant, **{form_key: form}), status=400)


@onboarding_roles
@require_POST
def staff_edit(request, pk: int):
    return _staff_detail_post(
        request, pk, MerchantForm, "edit_form",
        lambda merchant, form: services.merchant_update(merchant=merchant, by=request.user, **form.service_fields()),
        _("Merchant saved."),
        form_kwargs=lambda merchant: {"initial": MerchantForm.initial_from(merchant), "editing": True})


@onboarding_roles
@require_POST
def staff_status(request, pk: int):
    return _staff_detail_post(
        request, pk, StatusForm, "status_form",
        lambda merchant, form: services.merchant_set_status(merchant=merchant, by=request.user, **form.cleaned_data),
        _("Status saved."))


@onboarding_roles
@require_POST
def staff_user_add(request, pk: int):
    return _staff_detail_post(
        request, pk, MerchantUserForm, "user_form",
        lambda merchant, form: services.merchant_user_add(
            merchant=merchant, by=request.user, email=form.cleaned_data["user_email"],
            full_name=form.cleaned_data["user_full_name"]),
        _("Merchant user added."))


@onboarding_roles
@require_POST
def staff_secret(request, pk: int):
    """A new API secret, shown on this answer only."""
    merchant = _staff_merchant(pk)
    secret = services.merchant_api_secret_rotate(merchant=merchant, by=request.user)
    response = render(request, "installments/merchants/staff_detail.html",
                      _staff_detail_context(merchant, secret=secret))
    response["Cache-Control"] = "no-store"
    return response

