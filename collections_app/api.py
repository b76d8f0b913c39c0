"""The servicing API: plans, their payments (idempotent by the Idempotency-Key header), reversals,
payoff quotes and requests. Thin views: validate, call a service or selector, shape the answer;
DomainErrors become 400s naming the field in config.api.exception_handler."""

from datetime import date

from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from collections_app import selectors, services
from collections_app.models import Payment
from collections_app.serializers import (
    PaymentInputSerializer,
    PaymentOutputSerializer,
    PayoffQuoteOutputSerializer,
    PlanDetailOutputSerializer,
    PlanOutputSerializer,
    RequestInputSerializer,
    RequestOutputSerializer,
)
from customers.roles import Role
from installments.models import Plan

IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key", OpenApiTypes.STR, OpenApiParameter.HEADER, required=True,
    description="A key you generate per payment (a UUID). Sending the same key again returns the first "
                "payment (200, header Idempotent-Replayed: true) instead of paying twice.")


def _is_staff(user) -> bool:
    return user.has_role(*services.STAFF_PAYMENT_ROLES)


def plan_for_api(request, pk: int) -> Plan:
    """Customers reach their own plans (others are 404); staff who take payments reach every plan."""
    user = request.user
    if _is_staff(user):
        return get_object_or_404(Plan.objects.select_related("product", "customer"), pk=pk)
    if user.has_role(Role.CUSTOMER):
        return selectors.plan_for_customer(user, pk)
    raise PermissionDenied("Your role does not allow this.")


class PlanListApi(ListAPIView):
    """Plans: a customer's own; every plan for staff (filter by state, bucket)."""

    serializer_class = PlanOutputSerializer
    filterset_fields = ["state", "bucket"]
    ordering_fields = ["created_at", "days_past_due"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no user
            return Plan.objects.none()
        user = self.request.user
        if _is_staff(user):
            return Plan.objects.select_related("product").order_by("-created_at", "-id")
        if user.has_role(Role.CUSTOMER):
            return selectors.plans_for_customer(user)
        raise PermissionDenied("Your role does not allow this.")


class PlanDetailApi(APIView):
    @extend_schema(responses=PlanDetailOutputSerializer)
    def get(self, request, pk: int):
        plan = plan_for_api(request, pk)
        plan.schedule = selectors.plan_schedule(plan)
        return Response(PlanDetailOutputSerializer(plan).data)


class PlanPaymentsApi(ListAPIView):
    """GET: the plan's payments. POST: pay (customers for their own plan, staff for any), once per
    Idempotency-Key."""

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
        400: OpenApiResponse(description="Invalid input or a refused payment; the body names the field")})
    def post(self, request, pk: int):
        plan = plan_for_api(request, pk)
        key = (request.headers.get("Idempotency-Key") or "").strip()
        if not key:
            raise ValidationError({"idempotency_key": ["Send an Idempotency-Key header (a UUID per payment)."]})
        data = PaymentInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        staff = _is_staff(request.user) and request.user.pk != plan.customer_id
        if not staff and values.get("received_on") not in (None, timezone.localdate()):
            raise ValidationError({"received_on": ["A payment you make is dated today."]})
        payment = services.payment_record(
            plan=plan, amount=values["amount"], received_on=values.get("received_on"),
            channel=Payment.Channel.OFFICER if staff else Payment.Channel.SELF_SERVICE, idempotency_key=key,
            by=request.user, reference=values.get("reference", ""), overpayment=values["overpayment"],
        )
        replayed = getattr(payment, "replayed", False)
        if replayed:  # a new payment comes back with its plan and allocations in hand
            payment = Payment.objects.prefetch_related("allocations__installment").select_related("plan").get(
                pk=payment.pk)
        response = Response(PaymentOutputSerializer(payment).data,
                            status=status.HTTP_200_OK if replayed else status.HTTP_201_CREATED)
        response["Idempotent-Replayed"] = "true" if replayed else "false"
        return response


class PaymentReverseApi(APIView):
    """Reverse a payment (officers, approvers, managers) with a reason; what it paid is owed again."""

    @extend_schema(request={"application/json": {"type": "object", "properties": {"reason": {"type": "string"}},
                                                 "required": ["reason"]}},
                   responses=PaymentOutputSerializer)
    def post(self, request, pk: int):
        if not request.user.has_role(*services.REVERSAL_ROLES):
            raise PermissionDenied("Your role cannot reverse payments.")
        payment = get_object_or_404(Payment, pk=pk)
        reason = str(request.data.get("reason", "")).strip()
        if not reason:
            raise ValidationError({"reason": ["Say why the payment is reversed."]})
        payment = services.payment_reverse(payment=payment, by=request.user, reason=reason)
        return Response(PaymentOutputSerializer(payment).data)


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
        quote = services.plan_payoff_quote(plan=plan, on_date=on_date)
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
        plan = plan_for_api(request, pk)
        if request.user.has_role(Role.COLLECTOR) and not request.user.has_role(*selectors.CASE_ALL_ROLES):
            if not plan.collection_cases.filter(assigned_to=request.user).exists():
                raise Http404
        data = RequestInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        made = services.request_create(plan=plan, kind=data.validated_data["kind"], by=request.user,
                                       reason=data.validated_data["reason"], params=data.validated_data["params"])
        return Response(RequestOutputSerializer(made).data, status=status.HTTP_201_CREATED)
