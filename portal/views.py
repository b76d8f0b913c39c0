"""Customer self-service pages under /me/ (portal.urls): the account centre, the online
application wizard, the assessment and the personalised offers, the contract, satisfaction, the
notifications and the self-service payment and hardship request.

Thin: parse the form, call a service (customers.services, portal.services,
installments, collections_app), render. Every object is looked up through its owner: another
customer's application, offer, contract or plan is a 404, never a 403, so ids reveal nothing.
"""

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from collections_app.forms import fresh_payment_form
from collections_app.selectors import plan_summary
from collections_app.servicing import intents
from collections_app.servicing.intents import provider_test_mode
from collections_app.views import pay_outcome_message
from config.errors import DomainError
from customers import national_id, selectors, services
from customers.models import ConsentKind, DocumentKind, SatisfactionMoment
from customers.ocr import services as ocr_services
from customers.permissions import role_required
from customers.roles import Role
from installments.merchants import services as merchant_services
from installments.models import Application, Contract, Offer, Plan
from installments.origination.applications import CHOOSE_STATES
from installments.origination.applications import offer_choose as choose
from installments.origination.contracts import contract_accept, contract_filename, contract_latest
from installments.origination.contracts import contract_pdf as render_pdf
from installments.origination.decisions import chosen_offer
from installments.origination.selectors import application_declined_by_policy, product_list_public
from portal import services as portal_services
from portal.forms import (
    CheckoutForm,
    ConsentsForm,
    ContractAcceptForm,
    HardshipForm,
    IdCheckForm,
    PersonalForm,
    PortalDocumentForm,
    PortalStatementForm,
    RequestForm,
    ReviewForm,
    SatisfactionForm,
    WorkForm,
    line_form,
)
from portal.services import STEP_TITLES, STEPS

customer_required = role_required(Role.CUSTOMER)
LINE_TYPES_BY_STEP = {"work": ("income",), "finances": ("expense", "debt", "asset")}
STEP_OF_LINE = {"income": "work", "expense": "finances", "debt": "finances", "asset": "finances"}
LINE_RELATION = {"income": "incomes", "expense": "expenses", "debt": "debts", "asset": "assets"}
LINE_TITLES = {"income": gettext_lazy("Monthly income"), "expense": gettext_lazy("Monthly expenses"),
               "debt": gettext_lazy("Existing debts"), "asset": gettext_lazy("Assets")}


def _is_htmx(request) -> bool:
    return request.headers.get("HX-Request") == "true"


def _client_ip(request) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def _form_error(form, error: DomainError) -> None:
    """A service's refusal next to the field it names (or above the form)."""
    form.add_error(error.field if error.field in form.fields else None, error.message)


def _language() -> str:
    return get_language() or "en"


# --- The account centre -----------------------------------------------------------------------------

@customer_required
@require_GET
def account(request):
    """Every application with its stage and timeline, the open draft, active plans with what is due,
    open requests for documents and the ratings we would like."""
    applications = []
    for application in portal_services.applications_for_customer(request.user):
        requests = [r for r in portal_services.document_requests_for(application) if r["open"]]
        applications.append({
            "application": application,
            "stage": portal_services.application_stage(application),
            "timeline": portal_services.application_timeline(application),
            "open_requests": requests,
        })
    return render(request, "portal/account.html", {
        "applications": applications,
        "stages": portal_services.STAGES,
        "draft": portal_services.draft_open(request.user),
        "plans": portal_services.plans_overview(request.user),
        "ratings_due": [{**item, "form": SatisfactionForm(initial={"moment": item["moment"]},
                                                           prefix=f"rate-{item['application'].pk}-{item['moment']}")}
                        for item in portal_services.satisfaction_due(request.user)],
        "profile": selectors.profile_for_user(request.user),
        "step_titles": STEP_TITLES,
        "steps": STEPS,
    })


@customer_required
@require_GET
def notifications(request):
    return render(request, "portal/notifications.html", {
        "items": portal_services.notifications_for(request.user, language=_language()),
    })


# --- The application wizard ----------------------------------------------------------------------------

def _wizard_context(request, draft, step: str, **extra) -> dict:
    index = STEPS.index(step)
    return {
        "draft": draft,
        "step": step,
        "step_index": index,
        "step_number": index + 1,
        "step_count": len(STEPS),
        "percent": round(100 * (index + 1) / len(STEPS)),
        # Shown twice (narrow and wide screens): each title translated and each link made once here.
        "steps": [{"code": code, "title": str(STEP_TITLES[code]), "number": i + 1,
                   "url": reverse("portal:apply_step", args=[code]) if i <= draft.furthest_step else "",
                   "reachable": i <= draft.furthest_step, "done": i < draft.furthest_step, "current": code == step}
                  for i, code in enumerate(STEPS)],
        "title": STEP_TITLES[step],
        "previous_step": STEPS[index - 1] if index else None,
        **extra,
    }


def _render_step(request, draft, step: str, *, status: int = 200, **extra):
    context = _wizard_context(request, draft, step, **extra)
    context["required_inputs"] = portal_services.required_inputs()  # optional inputs the credit policy requires
    return render(request, f"portal/apply_{step}.html", context, status=status)


def _to_step(step: str):
    return redirect("portal:apply_step", step=step)


def _kept_or_bound(draft, step: str, request, form_class, **kwargs):
    """The form bound to the input kept from an earlier visit (shown again with its errors), else unbound."""
    kept = portal_services.draft_kept_input(draft, step)
    if kept and request.method == "GET":
        from django.http import QueryDict

        data = QueryDict(mutable=True)
        for key, values in kept.items():
            data.setlist(key, values)
        form = form_class(data, **kwargs)
        form.is_valid()
        return form
    return form_class(**kwargs)


def _line_sections(profile, *, bound: dict | None = None, step: str) -> list[dict]:
    sections = []
    for line_type in LINE_TYPES_BY_STEP.get(step, ()):
        form = (bound or {}).get(line_type) or line_form(line_type)(prefix=line_type)
        lines = list(getattr(profile, LINE_RELATION[line_type]).all()) if profile else []
        sections.append({"type": line_type, "title": LINE_TITLES[line_type], "lines": lines, "form": form})
    return sections


def _finish_step(request, draft, step: str, *, going_back: bool, requirement_errors: list | None = None):
    """After a step's input is saved: back to the previous step, or on to the next one once the
    step's requirements are met."""
    index = STEPS.index(step)
    if going_back:
        draft.pending_input.pop(step, None)
        draft.save(update_fields=["pending_input", "updated_at"])
        return _to_step(STEPS[max(index - 1, 0)])
    if requirement_errors:
        return None
    return _to_step(portal_services.draft_step_done(draft=draft, step=step))


def _requirements(request, draft, step: str) -> list:
    return portal_services.application_missing(user=request.user, draft=draft, steps=(step,))


@customer_required
@require_GET
def apply_start(request):
    """Start an application, or resume the open one where the customer left it. With `?basket=<token>`
    (a merchant's checkout link) the request step starts from the basket (installments.merchants)."""
    draft = portal_services.draft_start(user=request.user)
    if request.GET.get("basket"):
        try:
            basket = merchant_services.basket_open(token=request.GET["basket"], user=request.user, draft=draft)
        except DomainError as error:
            messages.error(request, error.message)
        else:
            messages.info(request, _("Your basket at %(merchant)s is filled in at the step \"%(step)s\".")
                          % {"merchant": basket.merchant.legal_name, "step": STEP_TITLES["request"]})
    step = draft.current_step if draft.current_step in STEPS else STEPS[0]
    if STEPS.index(step) > draft.furthest_step:
        step = STEPS[draft.furthest_step]
    return _to_step(step)


@customer_required
@require_http_methods(["GET", "POST"])
def apply_step(request, step: str):
    if step not in STEPS:
        raise Http404
    submitting = step == "review" and request.method == "POST"  # the submission reads the application locked
    draft = portal_services.draft_start(user=request.user, with_application=not submitting)
    if STEPS.index(step) > draft.furthest_step:
        return _to_step(STEPS[draft.furthest_step])
    if step == "review":
        return _step_review(request, draft)  # reads what it shows, and the submission what it checks
    profile = selectors.profile_for_user(request.user)
    if step != "personal" and profile is None:
        messages.info(request, _("Please start with your personal details."))
        return _to_step("personal")
    if request.method == "GET":
        portal_services.draft_show_step(draft=draft, step=step)
    return STEP_VIEWS[step](request, draft, profile)


def _action(request) -> str:
    return request.POST.get("action", "next")


def _step_personal(request, draft, profile):
    if request.method == "GET":
        # "Use these details" on the documents step: the values read from the ID card, for the customer to confirm.
        from_card = ocr_services.id_card_prefill(profile=profile, reading_id=int(request.GET["id_card"]),
                                                 user=request.user) if request.GET.get("id_card", "").isdigit() else {}
        if from_card:
            initial = {**(PersonalForm(instance=profile).initial if profile else {}), **from_card}
            form = PersonalForm(instance=profile, initial=initial)
            messages.info(request, _("We filled in what we read from your ID card. Please check every value, "
                                     "correct what is wrong and save."))
        else:
            form = _kept_or_bound(draft, "personal", request, PersonalForm, instance=profile)
        return _render_step(request, draft, "personal", form=form, profile=profile)
    form = PersonalForm(request.POST, instance=profile)
    going_back = _action(request) == "back"
    if form.is_valid():
        try:
            if profile is None:
                services.profile_create(user=request.user, data=form.cleaned_data)
            else:
                data = {k: v for k, v in form.cleaned_data.items() if k != "id_number" or v}
                services.profile_update(profile=profile, data=data, by=request.user)
        except DomainError as error:
            _form_error(form, error)
        else:
            return _finish_step(request, draft, "personal", going_back=going_back)
    return _render_step(request, draft, "personal", form=form, profile=profile, status=200)


def _step_work(request, draft, profile, *, line_forms: dict | None = None):
    requirement_errors = []
    if request.method == "GET" or line_forms:
        form = _kept_or_bound(draft, "work", request, WorkForm, instance=profile)
    else:
        form = WorkForm(request.POST, instance=profile)
        going_back = _action(request) == "back"
        saved = False
        if form.is_valid():
            try:
                services.profile_update(profile=profile, data=form.cleaned_data, by=request.user)
            except DomainError as error:
                _form_error(form, error)
            else:
                saved = True
                requirement_errors = [m for m in _requirements(request, draft, "work") if m.code == "income"]
                response = _finish_step(request, draft, "work", going_back=going_back,
                                        requirement_errors=requirement_errors)
                if response is not None:
                    return response
        if going_back and not saved:
            portal_services.draft_keep_input(draft=draft, step="work", data=request.POST)
            return _to_step("personal")
    return _render_step(request, draft, "work", form=form, profile=profile, requirement_errors=requirement_errors,
                        sections=_line_sections(selectors.profile_get(profile.pk), bound=line_forms, step="work"))


def _step_finances(request, draft, profile, *, line_forms: dict | None = None):
    requirement_errors = []
    if request.method == "POST" and not line_forms:
        requirement_errors = _requirements(request, draft, "finances")
        response = _finish_step(request, draft, "finances", going_back=_action(request) == "back",
                                requirement_errors=requirement_errors)
        if response is not None:
            return response
    profile = selectors.profile_get(profile.pk)
    return _render_step(request, draft, "finances", profile=profile, requirement_errors=requirement_errors,
                        sections=_line_sections(profile, bound=line_forms, step="finances"),
                        finances=selectors.profile_finances(profile))


def _step_documents(request, draft, profile):
    # Prefixed: the two forms are on one page and both have a `file` field.
    document_form, statement_form = PortalDocumentForm(prefix="document"), PortalStatementForm(prefix="statement")
    requirement_errors = []
    action = _action(request) if request.method == "POST" else ""
    if action == "upload_document":
        document_form = PortalDocumentForm(request.POST, request.FILES, prefix="document")
        if document_form.is_valid():
            try:
                document = services.document_upload(profile=profile, kind=document_form.cleaned_data["kind"],
                                                    file=document_form.cleaned_data["file"], by=request.user)
            except DomainError as error:
                _form_error(document_form, error)
            else:
                ocr_services.id_card_reading_start(document=document)  # an ID card photo is read in the background
                messages.success(request, _("Thank you, the document is uploaded."))
                return _to_step("documents")
    elif action == "import_statement":
        statement_form = PortalStatementForm(request.POST, request.FILES, prefix="statement")
        if statement_form.is_valid():
            try:
                services.statement_import(profile=profile, file=statement_form.cleaned_data["file"], by=request.user)
            except DomainError as error:
                _form_error(statement_form, error)
            else:
                messages.success(request, _("Your statement is imported; the summary is below."))
                return _to_step("documents")
    elif action in ("next", "back"):
        requirement_errors = _requirements(request, draft, "documents")
        response = _finish_step(request, draft, "documents", going_back=action == "back",
                                requirement_errors=requirement_errors)
        if response is not None:
            return response
    return _render_step(request, draft, "documents", profile=profile, document_form=document_form,
                        statement_form=statement_form, requirement_errors=requirement_errors,
                        documents=selectors.documents_for_profile(profile),
                        statement=selectors.statement_latest(profile), id_card=ocr_services.id_card_summary(profile))


@customer_required
@require_GET
def apply_id_card(request):
    """The documents step's ID card panel, polled while the card is being read (htmx)."""
    profile = selectors.profile_for_user(request.user)
    return render(request, "customers/_id_card_reading.html", {
        "id_card": ocr_services.id_card_summary(profile), "poll_url": reverse("portal:apply_id_card"),
        "use_url": reverse("portal:apply_step", args=["personal"])})


def _basket_request_form(basket):
    """The request form offering only the products the basket's merchant sells on installments."""
    product_ids = [p.pk for p in merchant_services.products_of(basket.merchant)]

    class BasketRequestForm(RequestForm):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.fields["product"].queryset = self.fields["product"].queryset.filter(pk__in=product_ids)

    return BasketRequestForm


def _step_request(request, draft, profile):
    application = draft.application
    initial = RequestForm.initial_from(application)
    form_class = RequestForm
    basket = merchant_services.basket_for_draft(draft)  # started from a merchant's checkout link
    if basket is not None:
        initial.update(merchant_services.basket_prefill(basket))
        form_class = _basket_request_form(basket)
    if request.method == "GET":
        form = _kept_or_bound(draft, "request", request, form_class, initial=initial)
        return _render_step(request, draft, "request", form=form)
    form = form_class(request.POST, initial=initial)
    going_back = _action(request) == "back"
    if form.is_valid():
        try:
            portal_services.draft_request_save(draft=draft, by=request.user, **form.application_fields())
        except DomainError as error:
            _form_error(form, error)
        else:
            return _finish_step(request, draft, "request", going_back=going_back)
    if going_back:
        portal_services.draft_keep_input(draft=draft, step="request", data=request.POST)
        return _to_step("documents")
    return _render_step(request, draft, "request", form=form)


def _step_consents(request, draft, profile):
    active = selectors.consents_active(request.user)
    initial = {kind: kind in active for kind in ConsentKind.values}
    if request.method == "GET":
        return _render_step(request, draft, "consents", form=ConsentsForm(initial=initial))
    form = ConsentsForm(request.POST, initial=initial)
    going_back = _action(request) == "back"
    if going_back:
        return _to_step("request")
    if form.is_valid():
        ip = _client_ip(request)
        for kind in (ConsentKind.CREDIT_CHECK, ConsentKind.DATA_PROCESSING):
            services.consent_record(user=request.user, kind=kind, ip_address=ip)
        if form.cleaned_data["marketing"]:
            services.consent_record(user=request.user, kind=ConsentKind.MARKETING, ip_address=ip)
        elif ConsentKind.MARKETING in active:
            services.consent_withdraw(consent=active[ConsentKind.MARKETING], by=request.user, ip_address=ip)
        return _finish_step(request, draft, "consents", going_back=False)
    return _render_step(request, draft, "consents", form=form)


def _step_review(request, draft):
    form = ReviewForm(request.POST if request.method == "POST" else None)
    submit_error = None
    if request.method == "POST":
        if _action(request) == "back":
            return _to_step("consents")
        if form.is_valid():
            try:
                application = portal_services.draft_submit(draft=draft, by=request.user)
            except DomainError as error:
                submit_error = error.message
            else:
                messages.success(request, _("Thank you! Your application %(number)s is submitted.")
                                 % {"number": application.number})
                return redirect("portal:application", pk=application.pk)
    # Not submitted (or only shown): the customer's file once; the missing-items check reads the same.
    read = selectors.profile_for_review(request.user)
    if read is None:
        messages.info(request, _("Please start with your personal details."))
        return _to_step("personal")
    if request.method == "GET":
        portal_services.draft_show_step(draft=draft, step="review")
    return _render_step(
        request, draft, "review", form=form, profile=read.profile, submit_error=submit_error,
        missing=portal_services.application_missing(user=request.user, draft=draft, profile=read.profile),
        finances=read.lines.finances(), documents=read.documents, statement=read.statement,
        application=draft.application, consents=selectors.consents_active(request.user, not_withdrawn=read.consents),
    )


STEP_VIEWS = {
    "personal": _step_personal, "work": _step_work, "finances": _step_finances, "documents": _step_documents,
    "request": _step_request, "consents": _step_consents,
}


def _lines_response(request, profile, line_type: str, *, form=None):
    """htmx: the section of that line type again; without htmx: back to its step (with errors shown there)."""
    step = STEP_OF_LINE[line_type]
    if _is_htmx(request):
        profile = selectors.profile_get(profile.pk)
        section = _line_sections(profile, bound={line_type: form} if form is not None else None, step=step)
        section = next(s for s in section if s["type"] == line_type)
        return render(request, "portal/_lines.html", {"section": section})
    if form is not None:
        draft = portal_services.draft_start(user=request.user)
        view = _step_work if step == "work" else _step_finances
        return view(request, draft, profile, line_forms={line_type: form})
    return redirect(reverse("portal:apply_step", args=[step]) + f"#lines-{line_type}")


@customer_required
@require_POST
def apply_line_add(request, line_type: str):
    if line_type not in STEP_OF_LINE:
        raise Http404
    profile = selectors.profile_for_user(request.user)
    if profile is None:
        raise Http404
    form = line_form(line_type)(request.POST, prefix=line_type)
    if form.is_valid():
        try:
            services.finance_line_add(profile=profile, line_type=line_type, data=form.cleaned_data, by=request.user)
        except DomainError as error:
            _form_error(form, error)
        else:
            return _lines_response(request, profile, line_type)
    return _lines_response(request, profile, line_type, form=form)


@customer_required
@require_POST
def apply_line_remove(request, line_type: str, pk: int):
    if line_type not in STEP_OF_LINE:
        raise Http404
    profile = selectors.profile_for_user(request.user)
    if profile is None:
        raise Http404
    line = getattr(profile, LINE_RELATION[line_type]).filter(pk=pk).first()
    if line is None:
        raise Http404
    services.finance_line_remove(line=line, by=request.user)
    return _lines_response(request, profile, line_type)


@customer_required
@require_POST
def apply_discard(request):
    draft = portal_services.draft_open(request.user)
    if draft is not None:
        portal_services.draft_discard(draft=draft, by=request.user)
        messages.info(request, _("Your unfinished application is discarded. Your profile is kept."))
    return redirect("portal:account")


# --- Inline checks (htmx) -----------------------------------------------------------------------------

@customer_required
@require_POST
def check_id_number(request):
    """The ID number as the customer types it: format, region, birth date and GB 11643 check digit."""
    form = IdCheckForm(request.POST)
    form.is_valid()
    id_type = form.cleaned_data.get("id_type") or "prc_resident_id"
    number = (form.cleaned_data.get("id_number") or "").strip()
    context = {"ok": None, "message": ""}
    if number:
        try:
            value = national_id.validate_id_number(id_type, number, today=timezone.localdate())
        except national_id.NationalIdError as error:
            context = {"ok": False, "message": _(error.template) % error.params}
        else:
            if id_type == "prc_resident_id":
                parsed = national_id.parse_resident_id(value, today=timezone.localdate())
                context = {"ok": True, "message": _("The number is valid: born %(date)s, %(sex)s.") % {
                    "date": parsed.birth_date.isoformat(), "sex": _("female") if parsed.sex == "female" else _("male")}}
            else:
                context = {"ok": True, "message": _("The number looks right.")}
    return render(request, "portal/_check.html", context)


@customer_required
@require_POST
def check_amount(request):
    """The amount as the customer types it, against the chosen product's range."""
    from decimal import Decimal, InvalidOperation

    product = product_list_public().filter(pk=request.POST.get("product") or 0).first()
    raw = (request.POST.get("amount") or "").strip().replace(",", "")
    context = {"ok": None, "message": ""}
    if product is not None and raw:
        try:
            amount = Decimal(raw)
        except InvalidOperation:
            amount = None
        if amount is None or not amount.is_finite():
            context = {"ok": False, "message": _("Enter a number, such as 20000.")}
        elif not product.min_amount <= amount <= product.max_amount:
            context = {"ok": False, "message": _("For %(product)s the amount must be between %(low)s and %(high)s "
                                                 "%(currency)s.") % {
                "product": product.name, "low": f"{product.min_amount:,}", "high": f"{product.max_amount:,}",
                "currency": product.currency}}
        else:
            context = {"ok": True, "message": _("Within the range of %(product)s (%(low)s to %(high)s %(currency)s).")
                       % {"product": product.name, "low": f"{product.min_amount:,}",
                          "high": f"{product.max_amount:,}", "currency": product.currency}}
    return render(request, "portal/_check.html", context)


# --- An application after submission ------------------------------------------------------------------

def _own_application_or_404(request, pk: int):
    application = portal_services.application_for_customer(request.user, pk)
    if application is None:
        raise Http404
    return application


def _application_context(request, application, **extra) -> dict:
    state = application.state
    context = {
        "application": application,
        "stages": portal_services.STAGES,
        "stage": portal_services.application_stage(application),
        "timeline": portal_services.application_timeline(application),
        "requests": portal_services.document_requests_for(application),
        "assessing": state == Application.State.SUBMITTED,
        "can_choose": state in CHOOSE_STATES,
        "contract": contract_latest(application),
        "plan": getattr(application, "plan", None) if state in ("active", "closed") else None,
    }
    deciding = state in (Application.State.SCORED, Application.State.IN_REVIEW, Application.State.DOCUMENTS_REQUESTED,
                         Application.State.AWAITING_APPROVAL)
    if state == Application.State.DECLINED or (deciding and application_declined_by_policy(application)):
        # A knock-out rule declines before an officer does: the decline and its reasons, never priced plans.
        context["decline"] = portal_services.decline_explanation(application, language=_language())
        context["can_choose"] = False
    elif deciding:
        # Once decided, the contract (with its schedule) is what counts; the comparison is for choosing.
        context["comparison"] = portal_services.offer_comparison(application, language=_language())
    open_kinds = sorted({k for r in context["requests"] if r["open"] for k in r["request"].kinds})
    if open_kinds:
        context["request_upload_form"] = extra.pop("request_upload_form", None) or PortalDocumentForm(kinds=open_kinds)
    rated = set(application.satisfaction_ratings.values_list("moment", flat=True))
    context["rating_forms"] = [
        {"application": application, "moment": item["moment"], "form": SatisfactionForm(initial={"moment": item["moment"]},
                                                            prefix=f"rate-{application.pk}-{item['moment']}")}
        for item in portal_services.satisfaction_due(request.user)
        if item["application"].pk == application.pk and item["moment"] not in rated
    ]
    context.update(extra)
    return context


@customer_required
@require_GET
def application_detail(request, pk: int):
    """One application: while it is assessed the page updates itself; then the offers, the decision,
    the contract and the plan, with the timeline and any request for documents."""
    application = _own_application_or_404(request, pk)
    draft = getattr(application, "draft", None)
    if application.state == "draft" and draft is not None and draft.is_open:
        return redirect("portal:apply")
    return render(request, "portal/application.html", _application_context(request, application))


@customer_required
@require_GET
def application_status(request, pk: int):
    """Polled by htmx every 2 s while the application is assessed: the same "assessing" panel until
    scoring has finished, then a redirect (HX-Redirect) to the application page with the outcome."""
    application = _own_application_or_404(request, pk)
    target = reverse("portal:application", args=[application.pk])
    if application.state != "submitted":
        if _is_htmx(request):
            response = HttpResponse(status=200)
            response["HX-Redirect"] = target
            return response
        return redirect(target)
    if not _is_htmx(request):
        return redirect(target)
    return render(request, "portal/_assessing.html", {"application": application})


def _own_offer_or_404(request, pk: int):
    offer = Offer.objects.select_related("application").filter(pk=pk, application__customer=request.user).first()
    if offer is None:
        raise Http404
    return offer


@customer_required
@require_GET
def offer_schedule(request, pk: int):
    """An offer's full schedule (htmx swaps it under the comparison; without htmx, a page)."""
    offer = _own_offer_or_404(request, pk)
    rows, totals = portal_services.schedule_rows(offer)
    context = {"offer": offer, "rows": rows, "totals": totals,
               "letter": chr(ord("A") + (max(offer.rank, 1) - 1) % 26)}
    template = "portal/_offer_schedule.html" if _is_htmx(request) else "portal/offer_schedule.html"
    return render(request, template, context)


@customer_required
@require_POST
def offer_choose(request, pk: int):
    offer = _own_offer_or_404(request, pk)
    try:
        choose(application=offer.application, offer=offer, by=request.user)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("You chose plan %(letter)s. A loan officer will now review your application; "
                                    "we will let you know the decision.")
                         % {"letter": chr(ord("A") + (max(offer.rank, 1) - 1) % 26)})
    return redirect(reverse("portal:application", args=[offer.application_id]) + "#offers")


@customer_required
@require_POST
def application_documents(request, pk: int):
    """Upload a document the officer asked for, right from the application page."""
    application = _own_application_or_404(request, pk)
    profile = selectors.profile_for_user(request.user)
    requests = [r for r in portal_services.document_requests_for(application) if r["open"]]
    kinds = sorted({k for r in requests for k in r["request"].kinds}) or list(DocumentKind.values)
    form = PortalDocumentForm(request.POST, request.FILES, kinds=kinds)
    if profile is not None and form.is_valid():
        try:
            services.document_upload(profile=profile, kind=form.cleaned_data["kind"], file=form.cleaned_data["file"],
                                     by=request.user)
        except DomainError as error:
            _form_error(form, error)
        else:
            messages.success(request, _("Thank you, the document is uploaded. Your loan officer will look at it."))
            return redirect(reverse("portal:application", args=[application.pk]) + "#requests")
    return render(request, "portal/application.html",
                  _application_context(request, application, request_upload_form=form), status=400)


# --- The contract -----------------------------------------------------------------------------------------

def _contract_context(request, application, contract, **extra) -> dict:
    chosen = None
    if contract is not None and contract.offer.is_counter_offer:
        chosen = (application.offers.filter(is_counter_offer=False, chosen_at__isnull=False).first()
                  or chosen_offer(application))
        if chosen is not None and chosen.pk == contract.offer_id:
            chosen = None
    return {
        "application": application,
        "contract": contract,
        "counter_offer": contract.offer if contract and contract.offer.is_counter_offer else None,
        "original_offer": chosen,
        "can_accept": contract is not None and contract.accepted_at is None and application.state == "approved",
        "form": extra.pop("form", None) or (ContractAcceptForm(initial={
            "version": contract.version, "fingerprint": contract.content_sha256}) if contract else None),
        **extra,
    }


@customer_required
@require_http_methods(["GET", "POST"])
def contract_page(request, pk: int):
    """The contract of an approved application with its full disclosure; the customer accepts this
    exact version (recorded with the time and IP address) and can download it as a PDF."""
    application = _own_application_or_404(request, pk)
    contract = contract_latest(application)
    if contract is None:
        raise Http404
    if request.method == "GET":
        return render(request, "portal/contract.html", _contract_context(request, application, contract))
    form = ContractAcceptForm(request.POST)
    if form.is_valid():
        if form.cleaned_data["version"] != contract.version or form.cleaned_data["fingerprint"] != contract.content_sha256:
            form.add_error(None, _("The contract has changed since you opened it. Please read this version and "
                                   "accept it."))
        else:
            try:
                contract_accept(contract=contract, by=request.user, ip_address=_client_ip(request))
            except DomainError as error:
                form.add_error(None, error.message)
            else:
                messages.success(request, _("Thank you: you accepted contract version %(version)s. We will pay out "
                                            "the money and your plan will start.") % {"version": contract.version})
                return redirect(reverse("portal:application", args=[application.pk]))
    return render(request, "portal/contract.html",
                  _contract_context(request, application, contract, form=form), status=400)


@customer_required
@require_GET
def contract_pdf(request, pk: int):
    contract = (Contract.objects.select_related("application").filter(pk=pk, application__customer=request.user)
                .first())
    if contract is None:
        raise Http404
    response = HttpResponse(render_pdf(contract), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{contract_filename(contract)}"'
    response["Cache-Control"] = "private, no-store"
    return response


# --- Satisfaction ---------------------------------------------------------------------------------------------

@customer_required
@require_POST
def rate(request, pk: int, moment: str):
    application = _own_application_or_404(request, pk)
    if moment not in SatisfactionMoment.values:
        raise Http404
    form = SatisfactionForm(request.POST, prefix=f"rate-{application.pk}-{moment}")
    if form.is_valid():
        try:
            portal_services.satisfaction_record(user=request.user, application=application, moment=moment,
                                                rating=form.cleaned_data["rating"],
                                                comment=form.cleaned_data["comment"])
        except DomainError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, _("Thank you for your feedback."))
    else:
        messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
    target = request.POST.get("next") or ""
    if target not in ("account", "application"):
        target = "account"
    if target == "application":
        return redirect("portal:application", pk=application.pk)
    return redirect("portal:account")


# --- Self-service on a plan: pay through the provider, ask for hardship help --------------------------

def _own_plan_or_404(request, pk: int):
    plan = Plan.objects.select_related("product", "application").filter(pk=pk, customer=request.user).first()
    if plan is None:
        raise Http404
    return plan


def _checkout_context(request, plan, **forms) -> dict:
    summary = plan_summary(plan)
    return {
        "plan": plan, "summary": summary,
        "form": forms.get("form") or CheckoutForm(initial={"amount": summary.next_due_amount or None}),
        "hardship_form": forms.get("hardship_form") or HardshipForm(), "payment_test_mode": provider_test_mode(),
    }


@customer_required
@require_http_methods(["GET", "POST"])
def plan_checkout(request, pk: int):
    """Pay on a plan through the payment provider (collections_app.servicing.intents, as the plan page does);
    money beyond what is due can prepay part of the plan (shorter term or lower installment) or stay
    as credit."""
    plan = _own_plan_or_404(request, pk)
    if request.method == "GET":
        return render(request, "portal/checkout.html", _checkout_context(request, plan))
    form = CheckoutForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            intent = intents.payment_intent_create(
                plan=plan, by=request.user, amount=data["amount"], overpayment=data["overpayment"],
                idempotency_key=data["idempotency_key"], card_number=data["card_number"])
        except intents.PaymentDeclined as error:
            form = fresh_payment_form(form)
            _form_error(form, error)
        except DomainError as error:
            _form_error(form, error)
        else:
            pay_outcome_message(request, intent)
            return redirect("collections:my_plan", pk=plan.pk)
    return render(request, "portal/checkout.html", _checkout_context(request, plan, form=form), status=400)


@customer_required
@require_POST
def plan_hardship(request, pk: int):
    """Ask for hardship restructuring; staff decide (collections_app servicing requests)."""
    plan = _own_plan_or_404(request, pk)
    form = HardshipForm(request.POST)
    if form.is_valid():
        try:
            portal_services.hardship_request(plan=plan, by=request.user, months=form.cleaned_data["months"],
                                             reason=form.cleaned_data["reason"])
        except DomainError as error:
            _form_error(form, error)
        else:
            messages.success(request, _("Your request was sent. A member of staff will contact you and decide it."))
            return redirect("collections:my_plan", pk=plan.pk)
    return render(request, "portal/checkout.html", _checkout_context(request, plan, hardship_form=form),
                  status=400)
