"""The servicing API: plans, their payments (idempotent by the Idempotency-Key header), reversals,
payoff quotes and requests. Customers pay only through the payment provider (payment intents, with
the provider's signed callback); staff post money received elsewhere with its reference. Thin
views: validate, call a service or selector, shape the answer; DomainErrors become 400s naming the
field in config.api.exception_handler."""

from datetime import date

from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.parsers import JSONParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from collections_app import selectors
from collections_app.models import Payment, PaymentIntent
from collections_app.serializers import (
    PaymentInputSerializer,
    PaymentIntentInputSerializer,
    PaymentIntentOutputSerializer,
    PaymentOutputSerializer,
    PayoffQuoteOutputSerializer,
    PlanDetailOutputSerializer,
    PlanOutputSerializer,
    ProviderCallbackInputSerializer,
    ProviderCallbackOutputSerializer,
    RequestInputSerializer,
    RequestOutputSerializer,
)
from collections_app.servicing import intents, payments, policy, providers, quotes, requests
from customers.roles import Role
from installments.models import Plan

IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key", OpenApiTypes.STR, OpenApiParameter.HEADER, required=True,
    description="A key you generate per payment (a UUID). Sending the same key again returns the first "
                "payment (200, header Idempotent-Replayed: true) instead of paying twice.")


def _is_staff(user) -> bool:
    return user.has_role(*policy.STAFF_PAYMENT_ROLES)


def _require_servicing_role(user) -> None:
    if not user.has_role(Role.CUSTOMER, *selectors.PLAN_STAFF_ROLES):
        raise PermissionDenied("Your role does not allow this.")


def plan_for_api(request, pk: int, *, act: bool = False) -> Plan:
    """A plan the user sees (or, with `act`, may act on): the same rule as the pages
    (selectors.plans_visible_to / plans_actionable_by); any other plan is a 404."""
    _require_servicing_role(request.user)
    return selectors.plan_actionable(request.user, pk) if act else selectors.plan_visible(request.user, pk)


class PlanListApi(ListAPIView):
    """The plans the user sees (selectors.plans_visible_to): a customer's own, a collector's assigned,
    every plan for other staff (filter by state, bucket)."""

    serializer_class = PlanOutputSerializer
    filterset_fields = ["state", "bucket"]
    ordering_fields = ["created_at", "days_past_due"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no user
            return Plan.objects.none()
        _require_servicing_role(self.request.user)
        return selectors.plans_visible_to(self.request.user).select_related("product").order_by("-created_at", "-id")


class PlanDetailApi(APIView):
    @extend_schema(responses=PlanDetailOutputSerializer)
    def get(self, request, pk: int):
        plan = plan_for_api(request, pk)
        plan.schedule = selectors.plan_schedule(plan)
        return Response(PlanDetailOutputSerializer(plan).data)


class PlanPaymentsApi(ListAPIView):
    """GET: the plan's payments. POST (staff): post money received elsewhere (channel officer) with
    its external reference, once per Idempotency-Key. Customers pay through payment-intents/."""

    serializer_class = PaymentOutputSerializer
    filterset_fields = ["state", "channel"]
    ordering_fields = ["received_on", "created_at"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no plan
            return Payment.objects.none()
        plan = plan_for_api(self.request, self.kwargs["pk"])
        return plan.payments.prefetch_related("allocations__installment").select_related("plan")

    @extend_schema(request=PaymentInputSerializer, parameters=[IDEMPOTENCY_HEADER], responses={
        201: PaymentOutputSerializer, 200: OpenApiResponse(PaymentOutputSerializer, "A replay of the first answer"),
        400: OpenApiResponse(description="Invalid input or a refused payment; the body names the field "
                                         "(`reference` is required)"),
        403: OpenApiResponse(description="Customers pay through POST /api/v1/plans/{id}/payment-intents/")})
    def post(self, request, pk: int):
        plan = plan_for_api(request, pk, act=True)
        if not _is_staff(request.user) or request.user.pk == plan.customer_id:
            raise PermissionDenied({"detail": _("Customers pay through the payment provider: create a payment "
                                                "intent instead."),
                                    "payment_intents": reverse("api-plan-payment-intents", args=[plan.pk])})
        key = (request.headers.get("Idempotency-Key") or "").strip()
        if not key:
            raise ValidationError({"idempotency_key": ["Send an Idempotency-Key header (a UUID per payment)."]})
        data = PaymentInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        reference = values.get("reference", "").strip()
        if not reference:
            raise ValidationError({"reference": [_("Give the external reference of the money (receipt, transfer "
                                                   "or slip number).")]})
        payment = payments.payment_record(
            plan=plan, amount=values["amount"], received_on=values.get("received_on"),
            channel=Payment.Channel.OFFICER, idempotency_key=key, by=request.user, reference=reference,
            overpayment=values["overpayment"],
        )
        replayed = getattr(payment, "replayed", False)
        if replayed:  # a new payment comes back with its plan and allocations in hand
            payment = Payment.objects.prefetch_related("allocations__installment").select_related("plan").get(
                pk=payment.pk)
        response = Response(PaymentOutputSerializer(payment).data,
                            status=status.HTTP_200_OK if replayed else status.HTTP_201_CREATED)
        response["Idempotent-Replayed"] = "true" if replayed else "false"
        return response


PAYMENT_INTENT_KEY_HEADER = OpenApiParameter(
    "Idempotency-Key", OpenApiTypes.STR, OpenApiParameter.HEADER, required=True,
    description="A key you generate per payment (a UUID). Sending the same key again returns the first intent "
                "(200, header Idempotent-Replayed: true); the provider is never asked twice.")


class PlanPaymentIntentsApi(ListAPIView):
    """GET: the plan's payment intents. POST (the plan's customer): pay through the payment provider.

    The answer says the intent's status: `authorised` with the posted `payment`, or `pending` (the
    provider confirms later by its callback; nothing is posted until then). A declined card is a 400
    naming `card_number`. `test_mode` is true while payments go through the simulated provider."""

    serializer_class = PaymentIntentOutputSerializer
    filterset_fields = ["status"]
    ordering_fields = ["created_at"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no plan
            return PaymentIntent.objects.none()
        plan = plan_for_api(self.request, self.kwargs["pk"])
        return plan.payment_intents.select_related("plan", "payment", "payment__plan").prefetch_related(
            "payment__allocations__installment")

    @extend_schema(request=PaymentIntentInputSerializer, parameters=[PAYMENT_INTENT_KEY_HEADER], responses={
        201: PaymentIntentOutputSerializer,
        200: OpenApiResponse(PaymentIntentOutputSerializer, "A replay of the first answer"),
        400: OpenApiResponse(description="Invalid input, a declined card (`card_number`) or a refused amount "
                                         "(`amount`); the body names the field and nothing is posted"),
        403: OpenApiResponse(description="Only the plan's customer pays through the provider")})
    def post(self, request, pk: int):
        plan = plan_for_api(request, pk, act=True)
        if request.user.pk != plan.customer_id:
            raise PermissionDenied(_("Only the plan's customer pays through the payment provider; staff post money "
                                     "received elsewhere on payments/ with its reference."))
        key = (request.headers.get("Idempotency-Key") or "").strip()
        if not key:
            raise ValidationError({"idempotency_key": [_("Send an Idempotency-Key header (a UUID per payment).")]})
        data = PaymentIntentInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        intent = intents.payment_intent_create(
            plan=plan, by=request.user, amount=values["amount"], overpayment=values["overpayment"],
            idempotency_key=key, card_number=values["card_number"])
        replayed = getattr(intent, "replayed", False)
        if replayed:
            intent = selectors.payment_intent_for(request.user, intent.pk)
        response = Response(PaymentIntentOutputSerializer(intent).data,
                            status=status.HTTP_200_OK if replayed else status.HTTP_201_CREATED)
        response["Idempotent-Replayed"] = "true" if replayed else "false"
        return response


class PaymentIntentDetailApi(APIView):
    """One payment intent: the customer's own, or any for staff who see its plan."""

    @extend_schema(responses=PaymentIntentOutputSerializer)
    def get(self, request, pk: int):
        return Response(PaymentIntentOutputSerializer(selectors.payment_intent_for(request.user, pk)).data)


class ProviderCallbackApi(APIView):
    """The payment provider's asynchronous answer for a pending intent (no session or token: the
    signature is the authentication; CSRF does not apply)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    parser_classes = [JSONParser]  # the raw body is verified; JSON is what the provider sends

    @extend_schema(
        request=ProviderCallbackInputSerializer, auth=[],
        parameters=[OpenApiParameter("X-Signature", OpenApiTypes.STR, OpenApiParameter.HEADER, required=True,
                                     description="hex(HMAC-SHA256(PAYMENT_PROVIDER_SECRET, raw body))")],
        responses={200: ProviderCallbackOutputSerializer,
                   400: OpenApiResponse(description="Stale timestamp, replayed nonce, unknown transaction, amount "
                                                    "or currency mismatch; the body names the field"),
                   401: OpenApiResponse(description="The signature does not match (`signature`)")})
    def post(self, request):
        try:
            intent = intents.payment_intent_callback(body=request.body, headers=request.headers)
        except providers.CallbackRejected as error:
            return Response(error.as_dict(), status=error.status)
        return Response(ProviderCallbackOutputSerializer(intent).data)


class PaymentReverseApi(APIView):
    """Reverse a payment (officers, approvers, managers) with a reason; what it paid is owed again."""

    @extend_schema(request={"application/json": {"type": "object", "properties": {"reason": {"type": "string"}},
                                                 "required": ["reason"]}},
                   responses={200: PaymentOutputSerializer,
                              202: OpenApiResponse(PaymentOutputSerializer, "Above the money threshold: the payment "
                                                   "stays posted and `reversal_request` waits for a second person")})
    def post(self, request, pk: int):
        if not request.user.has_role(*policy.REVERSAL_ROLES):
            raise PermissionDenied("Your role cannot reverse payments.")
        payment = selectors.payment_for_reversal(request.user, pk)
        reason = str(request.data.get("reason", "")).strip()
        if not reason:
            raise ValidationError({"reason": ["Say why the payment is reversed."]})
        payment = requests.payment_reverse(payment=payment, by=request.user, reason=reason)
        body = PaymentOutputSerializer(payment).data
        waiting = payment.state == Payment.State.POSTED
        body["reversal_request"] = {"id": payment.reversal_request.pk, "status": payment.reversal_request.status}
        return Response(body, status=status.HTTP_202_ACCEPTED if waiting else status.HTTP_200_OK)


class PayoffQuoteApi(APIView):
    @extend_schema(parameters=[OpenApiParameter("on_date", OpenApiTypes.DATE, description="Default today")],
                   responses=PayoffQuoteOutputSerializer)
    def get(self, request, pk: int):
        plan = plan_for_api(request, pk)
        raw = request.query_params.get("on_date")
        try:
            on_date = date.fromisoformat(raw) if raw else timezone.localdate()
        except ValueError:
            raise ValidationError({"on_date": ["Use YYYY-MM-DD."]})
        quote = quotes.plan_payoff_quote(plan=plan, on_date=on_date)
        return Response(PayoffQuoteOutputSerializer(quote).data)


class PlanRequestsApi(APIView):
    """GET: the plan's requests. POST: ask for a payment holiday or early payoff (customers), or a
    hardship measure (staff)."""

    @extend_schema(responses=RequestOutputSerializer(many=True))
    def get(self, request, pk: int):
        plan = plan_for_api(request, pk)
        return Response(RequestOutputSerializer(selectors.plan_requests(plan), many=True).data)

    @extend_schema(request=RequestInputSerializer, responses={201: RequestOutputSerializer})
    def post(self, request, pk: int):
        plan = plan_for_api(request, pk, act=True)
        data = RequestInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        made = requests.request_create(plan=plan, kind=data.validated_data["kind"], by=request.user,
                                       reason=data.validated_data["reason"], params=data.validated_data["params"])
        return Response(RequestOutputSerializer(made).data, status=status.HTTP_201_CREATED)
