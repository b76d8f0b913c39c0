"""The staff workbench pages: the work queue, the application page (the whole picture on one
screen), decisions with four-eyes, contracts and activation, the approvers' queue and officer
productivity. Thin views: parse the form, call a service in installments.origination.decisions /
installments.origination.contracts / customers.services / collections_app.servicing.activation, render.

Only loan officers, approvers, managers and admins open these pages (customers and collectors
get 403); who may take which decision is the services' business (PermissionDenied -> 403).
"""

from datetime import datetime, time, timedelta

from django.contrib import messages
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Avg, Count, DurationField, ExpressionWrapper, F, Q
from django.db.models.functions import TruncDate
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language, ngettext
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from config.errors import DomainError
from config.redirects import safe_next_url
from customers import selectors as customer_selectors
from customers import services as customer_services
from customers.forms import DocumentReviewForm, InterviewNoteForm
from customers.models import AuditEvent, CustomerDocument, CustomerProfile, DocumentKind
from customers.permissions import role_required
from customers.roles import Role
from installments.engine.offers import METHOD_NAMES
from installments.models import Application, Contract, Decision, Offer, Plan
from installments.origination import contracts, decisions, gates
from installments.origination import selectors as installment_selectors
from installments.workbench.forms import (
    DEFAULT_TAB,
    QUEUE_TABS,
    ActivationForm,
    ApproveForm,
    AssignForm,
    ConfirmForm,
    ContractLanguageForm,
    CounterOfferForm,
    DeclineForm,
    DocumentRequestForm,
    QueueFilter,
    assignable_staff,
)

State = Application.State
WORKBENCH_ROLES = (Role.LOAN_OFFICER, Role.APPROVER, Role.MANAGER, Role.ADMIN)
workbench_required = role_required(*WORKBENCH_ROLES)
QUEUE_PAGE_SIZE = 25
TIMELINE_LIMIT = 300


def _is_htmx(request) -> bool:
    return request.headers.get("HX-Request") == "true"


def _client_ip(request) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def _form_error(form, error: DomainError) -> None:
    """Show a service's refusal next to the field it names (or above the form)."""
    field = error.field if error.field in form.fields else None
    form.add_error(field, error.message)


def _application_or_404(pk: int) -> Application:
    return get_object_or_404(
        Application.objects.select_related("product", "customer", "assigned_officer"), pk=pk)


def _with_sla(applications, *, sla_hours: int):
    """Decorate rows with `age` (since submission) and `sla_overdue` (waiting for staff past the limit)."""
    now = timezone.now()
    limit = timedelta(hours=sla_hours)
    for application in applications:
        application.age = now - application.submitted_at if application.submitted_at else None
        application.sla_overdue = bool(application.age and application.state in decisions.SLA_STATES
                                       and application.age > limit)
    return applications


# --- Work queue ------------------------------------------------------------------------------------

# The columns a queue row shows (queue_row.html): the profile's encrypted ID, the score's JSON
# (features, reasons, rule hits) and the rest are not read for 25 rows a page.
QUEUE_ROW_FIELDS = (
    "number", "state", "amount", "submitted_at", "customer_id", "product_id", "assigned_officer_id",
    "customer__email", "customer__full_name", "customer__profile__full_name", "customer__profile__id_number_masked",
    "product__name", "assigned_officer__email", "assigned_officer__full_name", "score_result__grade",
)


def _queue_queryset():
    return (Application.objects.select_related("customer", "customer__profile", "product", "assigned_officer",
                                               "score_result")
            .only(*QUEUE_ROW_FIELDS)
            .order_by(F("submitted_at").asc(nulls_last=True), "pk"))


@workbench_required
@require_GET
def queue(request):
    """Applications by state tab, filtered, searched, sorted and paginated; SLA age on every row."""
    tab = request.GET.get("tab") or DEFAULT_TAB
    if tab not in QUEUE_TABS:
        tab = DEFAULT_TAB
    policy = decisions.decision_policy_in_force()
    base = _queue_queryset().filter(state__in=QUEUE_TABS[tab][1])
    queue_filter = QueueFilter(request.GET or None, queryset=base, request_user=request.user,
                               sla_hours=policy.review_sla_hours)
    page = Paginator(queue_filter.qs, QUEUE_PAGE_SIZE).get_page(request.GET.get("page"))
    page.object_list = _with_sla(list(page.object_list), sla_hours=policy.review_sla_hours)
    counts = dict(Application.objects.values_list("state").annotate(n=Count("pk")).order_by())
    tabs = [(key, label, sum(counts.get(s, 0) for s in states)) for key, (label, states) in QUEUE_TABS.items()]
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "tab": tab, "tabs": tabs, "filter": queue_filter, "page": page, "query": query.urlencode(),
        "policy": policy, "colleagues": list(assignable_staff()), "next_path": request.get_full_path(),
        "can_assign": request.user.has_role(*decisions.ASSIGN_ROLES),
    }
    if _is_htmx(request) and request.headers.get("HX-Target") == "queue-results":
        return render(request, "installments/workbench/_partials/queue_results.html", context)
    return render(request, "installments/workbench/queue.html", context)


@workbench_required
@require_POST
def assign(request, pk: int):
    """Assign to me / to a colleague; htmx swaps the queue row or the page's assignment block."""
    application = _application_or_404(pk)
    error = None
    if request.POST.get("officer") == "me":
        officer = request.user
    else:
        form = AssignForm(request.POST)
        officer = form.cleaned_data["officer"] if form.is_valid() else None
        if not form.is_valid():
            error = _("Choose a colleague from the list.")
    if error is None:
        try:
            application = decisions.application_assign(application=application, officer=officer, by=request.user)
        except DomainError as refusal:
            error = refusal.message
    application = _application_or_404(pk)
    if _is_htmx(request):
        policy = decisions.decision_policy_in_force()
        if request.POST.get("context") == "queue":
            application = _queue_queryset().get(pk=pk)
            _with_sla([application], sla_hours=policy.review_sla_hours)
            return render(request, "installments/workbench/_partials/queue_row.html", {
                "application": application, "colleagues": list(assignable_staff()), "can_assign": True,
                "assign_error": error, "next_path": request.POST.get("next", "")})
        return render(request, "installments/workbench/_partials/assignment.html", {
            "application": application, "colleagues": list(assignable_staff()), "can_assign": True,
            "assign_error": error})
    if error:
        messages.error(request, error)
    else:
        messages.success(request, _("The assignment is saved."))
    back = reverse("workbench_application", kwargs={"pk": pk})
    if request.POST.get("context") == "queue":
        back = safe_next_url(request, request.POST.get("next"), back)
    return redirect(back)


# --- The application page --------------------------------------------------------------------------

def _statement_chart(statement) -> dict | None:
    if statement is None:
        return None
    monthly = (statement.summary or {}).get("monthly") or []
    return {
        "labels": [row.get("month") for row in monthly],
        "inflow": [str(row.get("inflow")) for row in monthly],
        "outflow": [str(row.get("outflow")) for row in monthly],
        "inflow_label": _("Money in"), "outflow_label": _("Money out"),
    }


def _document_requests(application: Application, documents: list[CustomerDocument]) -> list[dict]:
    """Each request with its checklist: per kind, whether a document of that kind came in after it."""
    rows = []
    labels = dict(DocumentKind.choices)
    for request in application.document_requests.select_related("requested_by", "resolved_by"):
        checklist = []
        for kind in request.kinds:
            received = [d for d in documents if d.kind == kind and d.uploaded_at >= request.requested_at]
            checklist.append({"kind": kind, "label": labels.get(kind, kind), "received": bool(received),
                              "verified": any(d.review_state == "verified" for d in received)})
        rows.append({"request": request, "checklist": checklist})
    return rows


def _timeline(application: Application, profile: CustomerProfile | None):
    """Every audited action on the application, its contracts and plan, and its customer's documents."""
    types = ContentType.objects.get_for_models(Application, Contract, Plan, CustomerDocument)
    condition = Q(target_type=types[Application], target_id=str(application.pk))
    contract_ids = [str(pk) for pk in application.contracts.values_list("pk", flat=True)]
    if contract_ids:
        condition |= Q(target_type=types[Contract], target_id__in=contract_ids)
    plan_ids = [str(pk) for pk in Plan.objects.filter(application=application).values_list("pk", flat=True)]
    if plan_ids:
        condition |= Q(target_type=types[Plan], target_id__in=plan_ids)
    if profile is not None:
        document_ids = [str(pk) for pk in profile.documents.values_list("pk", flat=True)]
        if document_ids:
            condition |= Q(target_type=types[CustomerDocument], target_id__in=document_ids)
    return AuditEvent.objects.filter(condition).select_related("actor").order_by("-created_at", "-pk")[:TIMELINE_LIMIT]


def _offer_rows(application: Application) -> list[dict]:
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    chinese = (get_language() or "").startswith("zh")
    rows = []
    customer_offers = 0
    for offer in installment_selectors.offers_for_application(application).order_by("is_counter_offer", "rank", "pk"):
        if offer.is_counter_offer:
            name = _("Counter-offer")
        else:
            name = _("Plan %(letter)s") % {"letter": letters[customer_offers % len(letters)]}
            customer_offers += 1
        schedule = offer.schedule or {}
        names = METHOD_NAMES.get(offer.method, (offer.method, offer.method))
        rows.append({"offer": offer, "name": name, "rows": schedule.get("installments") or [],
                     "method_name": names[1] if chinese else names[0],
                     "explanation": offer.explanation_zh if chinese and offer.explanation_zh else offer.explanation_en})
    return rows


def _decision_forms(application: Application, limits, data=None, which: str | None = None, **bound):
    """The four decision forms (one of them possibly bound with errors)."""
    chosen = decisions.chosen_offer(application)
    counter_initial = {"amount": chosen.amount if chosen else application.amount,
                       "term_months": chosen.term_months if chosen else application.term_months}
    if limits is not None:
        counter_initial["annual_rate"] = limits.priced_rate
        counter_initial["amount"] = min(counter_initial["amount"], limits.max_amount)
    forms = {
        "approve_form": ApproveForm(),
        "counter_form": CounterOfferForm(initial=counter_initial, methods=limits.methods if limits else None),
        "decline_form": DeclineForm(),
        "documents_form": DocumentRequestForm(),
        "confirm_form": ConfirmForm(),
    }
    forms.update({key: value for key, value in bound.items() if value is not None})
    return forms


def _gate_warnings(application: Application, *, chosen: Offer | None, pending: Decision | None) -> dict:
    """What the officer and the approver are warned of, read now: the chosen offer's and the pending
    decision's gates (unaffordable, arrears), the arrears alone (for a counter-offer), the largest
    affordable installment and the document requests a decision would close."""
    decidable = application.state in decisions.DECIDABLE_STATES
    chosen_gates, pending_gates, affordable = (), (), None
    try:
        if decidable:
            chosen_gates = decisions.decision_gates(application, offer=chosen)
            affordable = gates.affordable_installment(application)
        if pending is not None and pending.kind != Decision.Kind.DECLINE:
            pending_gates = decisions.decision_gates(application, offer=pending.offer)
    except (DomainError, ValueError):  # a product set up wrongly: the services refuse with the reason
        chosen_gates, pending_gates, affordable = (), (), None
    return {
        "chosen_gates": [g for g in chosen_gates if g.code != decisions.FOUR_EYES_ARREARS],
        "arrears_gates": [g for g in chosen_gates if g.code == decisions.FOUR_EYES_ARREARS],
        "pending_gates": pending_gates,
        "pending_reasons": decisions.four_eyes_labels(pending.four_eyes_reasons) if pending else [],
        "affordable_installment": affordable,
        # Only resuming the review closes requests: that happens to one waiting for documents.
        "open_document_requests": (decisions.document_requests_open(application)
                                   if application.state == State.DOCUMENTS_REQUESTED else 0),
    }


def _application_context(request, application: Application, **bound) -> dict:
    profile = customer_selectors.profile_queryset().filter(user_id=application.customer_id).first()
    documents = list(customer_selectors.documents_for_profile(profile)) if profile else []
    statement = customer_selectors.statement_latest(profile) if profile else None
    score = installment_selectors.application_score(application)
    policy = decisions.decision_policy_in_force()
    try:
        limits = decisions.counter_offer_limits(application)
    except (DomainError, ValueError):
        limits = None
    pending = decisions.pending_decision(application)
    chosen = decisions.chosen_offer(application)
    _with_sla([application], sla_hours=policy.review_sla_hours)
    user = request.user
    context = {
        "decision_error": bound.pop("decision_error", None),
        "application": application,
        "profile": profile,
        "summary": customer_selectors.profile_summary(profile) if profile else None,
        "finances": customer_selectors.profile_finances(profile) if profile else None,
        "statement": statement,
        "statement_chart": _statement_chart(statement),
        "documents": documents,
        "document_requests": _document_requests(application, documents),
        "score": score,
        "recommendation": decisions.recommendation_for(application),
        "offers": _offer_rows(application),
        "decisions": application.decisions.select_related("offer", "decided_by", "confirmed_by")
        .prefetch_related("closed_document_requests"),
        "pending": pending,
        "chosen": chosen,
        "chosen_needs_four_eyes": bool(chosen and chosen.amount > policy.four_eyes_amount),
        **_gate_warnings(application, chosen=chosen, pending=pending),
        "policy": policy,
        "limits": limits,
        "can_decide": application.state in decisions.DECIDABLE_STATES and decisions.can_decide(user, application),
        "can_start_review": application.state in (State.SCORED, State.DOCUMENTS_REQUESTED)
        and decisions.can_decide(user, application),
        "can_confirm": application.state == State.AWAITING_APPROVAL and decisions.can_confirm(user, pending, application),
        "can_choose": application.state in (State.SCORED, State.IN_REVIEW) and user.has_role(Role.LOAN_OFFICER, Role.ADMIN),
        "can_assign": user.has_role(*decisions.ASSIGN_ROLES),
        "can_review_documents": customer_selectors.can_open_customer_file(user),
        "colleagues": list(assignable_staff()),
        "note_form": bound.pop("note_form", None) or InterviewNoteForm(),
        "notes": profile.interview_notes.select_related("author") if profile else [],
        "previous_applications": (Application.objects.filter(customer_id=application.customer_id)
                                  .exclude(pk=application.pk).select_related("product", "score_result")
                                  .order_by("-created_at")),
        "plans": Plan.objects.filter(customer_id=application.customer_id).select_related("product"),
        "contracts": application.contracts.order_by("-version"),
        "timeline": _timeline(application, profile),
        "profile_history": customer_selectors.profile_history(profile)[:20] if profile else [],
        **_decision_forms(application, limits, **bound),
    }
    return context


def _render_application(request, application: Application, *, status: int = 200, **bound) -> HttpResponse:
    return render(request, "installments/workbench/application.html",
                  _application_context(request, application, **bound), status=status)


@workbench_required
@require_GET
def application_detail(request, pk: int):
    return _render_application(request, _application_or_404(pk))


def _decide(request, pk: int, form_class, form_key: str, action, success: str, **form_kwargs):
    """Run a decision verb from a posted form: redirect with a message, or the page with the errors."""
    application = _application_or_404(pk)
    form = form_class(request.POST, **form_kwargs)
    decision_error = None
    if form.is_valid():
        try:
            action(application, form.cleaned_data)
        except DomainError as error:
            if error.field in form.fields:
                form.add_error(error.field, error.message)
            else:  # about the application, not an input: shown at the top of the decision card
                decision_error = error.message
        else:
            messages.success(request, success)
            return redirect(reverse("workbench_application", args=[pk]) + "#decision")
    return _render_application(request, _application_or_404(pk), status=400, decision_error=decision_error,
                               **{form_key: form})


@workbench_required
@require_POST
def start_review(request, pk: int):
    application = _application_or_404(pk)
    try:
        decisions.application_start_review(application=application, by=request.user)
        messages.success(request, _("The review has started; the application is assigned to you if it was not."))
    except DomainError as error:
        messages.error(request, error.message)
    return redirect("workbench_application", pk=pk)


@workbench_required
@require_POST
def request_documents(request, pk: int):
    return _decide(request, pk, DocumentRequestForm, "documents_form",
                   lambda app, data: decisions.application_request_documents(
                       application=app, by=request.user, message=data["message"], kinds=data["kinds"]),
                   _("The request for documents is sent to the customer."))


@workbench_required
@require_POST
def approve(request, pk: int):
    def action(app, data):
        decision = decisions.application_approve(application=app, by=request.user, note=data["note"],
                                                 override_reason=data["override_reason"])
        request.decision = decision

    response = _decide(request, pk, ApproveForm, "approve_form", action, _("The decision is recorded."))
    return _after_decision(request, response)


@workbench_required
@require_POST
def counter_offer(request, pk: int):
    def action(app, data):
        request.decision = decisions.application_counter_offer(
            application=app, by=request.user, amount=data["amount"], term_months=data["term_months"],
            annual_rate=data["annual_rate"], method=data["method"], note=data["note"],
            override_reason=data["override_reason"])

    response = _decide(request, pk, CounterOfferForm, "counter_form", action, _("The counter-offer is recorded."))
    return _after_decision(request, response)


@workbench_required
@require_POST
def decline(request, pk: int):
    def action(app, data):
        request.decision = decisions.application_decline(
            application=app, by=request.user, reason_codes=data["reason_codes"], note=data["note"],
            override_reason=data["override_reason"])

    response = _decide(request, pk, DeclineForm, "decline_form", action, _("The decision is recorded."))
    return _after_decision(request, response)


def _after_decision(request, response):
    decision = getattr(request, "decision", None)
    if decision is not None and decision.status == Decision.Status.PENDING:
        messages.info(request, _("It now waits for a second approver's confirmation."))
    return response


@workbench_required
@require_POST
def confirm(request, pk: int):
    def action(app, data):
        decisions.application_confirm(application=app, by=request.user, approve=data["action"] == ConfirmForm.CONFIRM,
                                      note=data["note"])

    return _decide(request, pk, ConfirmForm, "confirm_form", action, _("Your second approval is recorded."))


@workbench_required
@require_POST
def offer_choose(request, pk: int, offer_pk: int):
    """A loan officer chooses an offer for the customer (on the phone); the service audits it."""
    from installments.origination.applications import offer_choose as choose

    application = _application_or_404(pk)
    offer = get_object_or_404(Offer, pk=offer_pk, application=application)
    try:
        choose(application=application, offer=offer, by=request.user)
        messages.success(request, _("The offer is chosen for the customer."))
    except DomainError as error:
        messages.error(request, error.message)
    return redirect(reverse("workbench_application", args=[pk]) + "#offers")


# --- Documents and interview notes on the application page -----------------------------------------

def _document_for_application(application: Application, document_pk: int) -> CustomerDocument:
    return get_object_or_404(CustomerDocument.objects.select_related("profile", "reviewed_by"),
                             pk=document_pk, profile__user_id=application.customer_id)


@workbench_required
@require_POST
def document_review(request, pk: int, document_pk: int):
    """Verify or reject a document (customers.services.document_review); htmx swaps the row."""
    application = _application_or_404(pk)
    document = _document_for_application(application, document_pk)
    form = DocumentReviewForm(request.POST)
    error = None
    if form.is_valid():
        try:
            document = customer_services.document_review(document=document, to=form.cleaned_data["to"],
                                                         by=request.user, reason=form.cleaned_data["reason"])
        except DomainError as refusal:
            error = refusal.message
    else:
        error = _("Choose verify or reject.")
    if _is_htmx(request):
        return render(request, "installments/workbench/_partials/document_row.html", {
            "application": application, "document": document, "review_error": error, "can_review_documents": True})
    if error:
        messages.error(request, error)
    else:
        messages.success(request, _("The document review is saved."))
    return redirect(reverse("workbench_application", args=[pk]) + "#documents")


@workbench_required
@require_GET
def document_inline(request, pk: int, document_pk: int):
    """A document shown inside the application page (iframe / img): same permission check and audit
    as the customers' download view, served inline and frameable by our own pages only."""
    application = _application_or_404(pk)
    document = customer_selectors.document_get_for_download(user=request.user, pk=document_pk)
    if document is None or document.profile.user_id != application.customer_id:
        raise Http404
    response = FileResponse(customer_services.document_open(document=document, by=request.user),
                            content_type=document.content_type, as_attachment=False,
                            filename=document.original_filename)
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; object-src 'self'; frame-ancestors 'self'")
    return response


@workbench_required
@require_POST
def interview_note_add(request, pk: int):
    application = _application_or_404(pk)
    profile = customer_selectors.profile_for_user(application.customer)
    if profile is None:
        raise Http404
    form = InterviewNoteForm(request.POST)
    if form.is_valid():
        try:
            customer_services.interview_note_add(profile=profile, author=request.user, **form.cleaned_data)
            form = InterviewNoteForm()
            if not _is_htmx(request):
                messages.success(request, _("The interview note is saved."))
                return redirect(reverse("workbench_application", args=[pk]) + "#notes")
        except DomainError as error:
            _form_error(form, error)
    if _is_htmx(request):
        return render(request, "installments/workbench/_partials/interview_notes.html", {
            "application": application, "notes": profile.interview_notes.select_related("author"), "note_form": form})
    return _render_application(request, application, status=400, note_form=form)


# --- Contracts and activation ----------------------------------------------------------------------

def _contract_page(request, application: Application, *, status: int = 200, **forms) -> HttpResponse:
    versions = list(application.contracts.select_related("offer", "created_by").order_by("-version"))
    if not versions:
        raise Http404
    wanted = request.GET.get("version")
    contract = next((c for c in versions if str(c.version) == wanted), versions[0])
    context = {
        "application": application, "contract": contract, "versions": versions,
        "plan": Plan.objects.filter(application=application).first(),
        "is_latest": contract.pk == versions[0].pk,
        "fingerprint_ok": contracts.fingerprint(contract.content_html) == contract.content_sha256,
        "can_activate": application.state == State.CONTRACTED and request.user.has_role(*decisions.DECIDE_ROLES),
        "can_regenerate": application.state == State.APPROVED and request.user.has_role(*decisions.DECIDE_ROLES),
        "activation_form": forms.get("activation_form") or ActivationForm(),
        "language_form": ContractLanguageForm(initial={"language": contract.language}),
    }
    return render(request, "installments/workbench/contract.html", context, status=status)


@workbench_required
@require_GET
def contract_detail(request, pk: int):
    """The application's contract (latest version, or ?version=N) as HTML, with its versions, the
    PDF link, regeneration while not accepted, and activation once accepted."""
    return _contract_page(request, _application_or_404(pk))


@workbench_required
@require_GET
def contract_pdf(request, pk: int, contract_pk: int):
    contract = get_object_or_404(Contract.objects.select_related("application"), pk=contract_pk, application_id=pk)
    response = HttpResponse(contracts.contract_pdf(contract), content_type="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="{contracts.contract_filename(contract)}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


@workbench_required
@require_POST
def contract_regenerate(request, pk: int):
    """A new contract version (e.g. in the other language) while the customer has not accepted one."""
    application = _application_or_404(pk)
    form = ContractLanguageForm(request.POST)
    if form.is_valid():
        try:
            contract = contracts.contract_generate(application=application, by=request.user,
                                                   language=form.cleaned_data["language"])
            messages.success(request, _("Contract version %(version)s is ready.") % {"version": contract.version})
        except DomainError as error:
            messages.error(request, error.message)
    return redirect("workbench_contract", pk=pk)


@workbench_required
@require_POST
def activate(request, pk: int):
    """Record the disbursement: the accepted contract becomes an active plan (collections_app)."""
    from collections_app.servicing.activation import plan_activate

    application = _application_or_404(pk)
    if not request.user.has_role(*decisions.DECIDE_ROLES):
        raise PermissionDenied
    form = ActivationForm(request.POST)
    contract = application.contracts.order_by("-version").first()
    if contract is None:
        raise Http404
    if form.is_valid():
        try:
            plan = plan_activate(contract=contract, by=request.user,
                                 disbursement_date=form.cleaned_data["disbursement_date"])
        except DomainError as error:
            _form_error(form, error)
        else:
            messages.success(request, _("Plan %(number)s is active.") % {"number": plan.number})
            return redirect("workbench_application", pk=pk)
    return _contract_page(request, _application_or_404(pk), status=400, activation_form=form)


# --- Four-eyes queue and productivity ---------------------------------------------------------------

@workbench_required
@require_GET
def approvals(request):
    """Decisions waiting for a second approver, oldest first; the ones this user may confirm marked."""
    pending = list(Decision.objects.filter(status=Decision.Status.PENDING)
                   .select_related("application", "application__product", "application__customer",
                                   "application__assigned_officer", "application__score_result", "offer",
                                   "decided_by")
                   .order_by("decided_at", "pk"))
    for decision in pending:
        decision.user_may_confirm = decisions.can_confirm(request.user, decision, decision.application)
        decision.four_eyes_labels = decisions.four_eyes_labels(decision.four_eyes_reasons)
    return render(request, "installments/workbench/approvals.html", {"pending": pending})


def _week_start():
    today = timezone.localdate()
    monday = today - timedelta(days=today.weekday())
    return timezone.make_aware(datetime.combine(monday, time.min))


def _average_time_to_decision(decisions_qs) -> timedelta | None:
    """Average submitted -> decided of the applications these decisions decided (None without any)."""
    duration = ExpressionWrapper(F("application__decided_at") - F("application__submitted_at"),
                                 output_field=DurationField())
    return (decisions_qs.filter(status__in=(Decision.Status.FINAL, Decision.Status.CONFIRMED),
                                application__decided_at__isnull=False, application__submitted_at__isnull=False)
            .aggregate(avg=Avg(duration))["avg"])


def duration_text(value: timedelta | None) -> str:
    """`1 day 3 h 20 min` (translated); empty for None."""
    if value is None:
        return ""
    minutes = int(value.total_seconds() // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    parts = []
    if days:
        parts.append(ngettext("%(n)d day", "%(n)d days", days) % {"n": days})
    if hours or days:
        parts.append(_("%(n)d h") % {"n": hours})
    parts.append(_("%(n)d min") % {"n": minutes})
    return " ".join(parts)


@workbench_required
@require_GET
def productivity(request):
    """My queue, my decisions this week, my average time to decision; the team's for approvers,
    managers and admins; decisions per day over two weeks (chart)."""
    user = request.user
    week_start = _week_start()
    my_queue = (Application.objects.filter(assigned_officer=user, state__in=Application.OPEN_STATES)
                .values_list("state").annotate(n=Count("pk")).order_by())
    state_labels = dict(State.choices)
    mine = Decision.objects.filter(decided_by=user)
    week = mine.filter(decided_at__gte=week_start)
    since = timezone.localdate() - timedelta(days=13)
    per_day = dict(Decision.objects.filter(decided_by=user, decided_at__date__gte=since)
                   .annotate(day=TruncDate("decided_at")).values_list("day").annotate(n=Count("pk")).order_by())
    days = [since + timedelta(days=i) for i in range(14)]
    context = {
        "my_queue": [(state_labels.get(state, state), n) for state, n in my_queue],
        "my_queue_total": sum(n for _state, n in my_queue),
        "week_start": week_start,
        "week_decisions": week.count(),
        "week_by_kind": [(str(Decision.Kind(kind).label), n) for kind, n in
                         week.values_list("kind").annotate(n=Count("pk")).order_by()],
        "week_confirmations": Decision.objects.filter(confirmed_by=user, confirmed_at__gte=week_start).count(),
        "average_time": duration_text(_average_time_to_decision(mine)),
        "chart": {"labels": [d.isoformat() for d in days], "values": [per_day.get(d, 0) for d in days],
                  "label": _("My decisions")},
        "team": None,
    }
    if user.has_role(Role.APPROVER, Role.MANAGER, Role.ADMIN):
        queue_counts = dict(Application.objects.filter(state__in=Application.OPEN_STATES, assigned_officer__isnull=False)
                            .values_list("assigned_officer").annotate(n=Count("pk")).order_by())
        week_counts = dict(Decision.objects.filter(decided_at__gte=week_start).values_list("decided_by")
                           .annotate(n=Count("pk")).order_by())
        context["team"] = [
            {"user": member, "queue": queue_counts.get(member.pk, 0), "week": week_counts.get(member.pk, 0),
             "average_time": duration_text(_average_time_to_decision(Decision.objects.filter(decided_by=member)))}
            for member in assignable_staff()
        ]
    return render(request, "installments/workbench/productivity.html", context)
