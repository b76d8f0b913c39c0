"""The installments API: public quotes and products; personalised offers for a customer (or an
officer on their behalf); choosing an offer. Thin views: validate, call a service or selector, shape."""

from datetime import date
from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.http import Http404
from django.utils.translation import get_language
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.generics import ListAPIView
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from config.errors import DomainError
from customers.models import CustomerProfile
from customers.roles import Role
from customers.selectors import CUSTOMER_FILE_ROLES
from installments.engine.offers import MAX_COUNT
from installments.engine.schedules import DAY_COUNTS, FREQUENCIES, GRACE_MODES
from installments.models import METHOD_CHOICES, Application, Offer
from installments.origination import applications as services
from installments.origination import selectors
from installments.serializers import (
    OfferSerializer,
    OfferSummarySerializer,
    ProductSerializer,
    ScheduleSerializer,
)

MONEY = {"max_digits": 14, "decimal_places": 2}
# A quote's dates stay where a whole schedule (up to 360 months plus grace) fits in the calendar.
QUOTE_DATE_BOUNDS = [MinValueValidator(date(1900, 1, 1)), MaxValueValidator(date(2199, 12, 31))]


class QuoteThrottle(ScopedRateThrottle):
    """The public quote endpoint's own budget (settings: DEFAULT_THROTTLE_RATES["quotes"])."""


class QuoteApi(APIView):
    """A plan's exact schedule and disclosure; no login, throttled, nothing stored.

    `annual_interest_rate` is a percent ("12" = 12 % a year; for `flat` the flat rate). The plan
    type's own parameters: `balloon_amount` (balloon); `step_count`, `step_ratio` (step_up);
    `seasonal_months`, `seasonal_factor` (seasonal; 0 skips those months); `lump_sum_share` or
    `lump_sum_amount` (combination); `custom_payments` (custom: one amount per repaying
    installment, the last may be null). With a weekly or bi-weekly `frequency`, `term_months`
    months make term_months x 52/12 (or 26/12) installments, rounded. Rejected with 400 naming
    the field: a non-positive amount or term, an unknown method, a rate or an APR (fees
    included) above the legal maximum (24 % unless configured), custom amounts that do not repay.
    """

    permission_classes = [AllowAny]
    throttle_classes = [QuoteThrottle]
    throttle_scope = "quotes"

    @extend_schema_serializer(component_name="Quote")
    class InputSerializer(serializers.Serializer):
        amount = serializers.DecimalField(**MONEY, min_value=Decimal("0.01"), help_text="Amount borrowed.")
        annual_interest_rate = serializers.DecimalField(max_digits=8, decimal_places=4, min_value=Decimal(0),
                                                        help_text="Percent a year, e.g. \"12\".")
        term_months = serializers.IntegerField(min_value=1, max_value=360)
        method = serializers.ChoiceField(choices=METHOD_CHOICES)
        disbursement_date = serializers.DateField(validators=QUOTE_DATE_BOUNDS)
        first_due_date = serializers.DateField(required=False, allow_null=True, validators=QUOTE_DATE_BOUNDS,
                                               help_text="Default: one period after the disbursement.")
        day_count = serializers.ChoiceField(choices=DAY_COUNTS, default="30/360")
        upfront_fee = serializers.DecimalField(**MONEY, min_value=Decimal(0), default=0)
        upfront_fee_financed = serializers.BooleanField(default=False,
                                                        help_text="Add the fee to the amount financed "
                                                                  "instead of deducting it.")
        monthly_fee = serializers.DecimalField(**MONEY, min_value=Decimal(0), default=0)
        installment_multiple = serializers.DecimalField(**MONEY, min_value=Decimal("0.01"), required=False, allow_null=True,
                                                        help_text="Round equal installments up to a multiple.")
        frequency = serializers.ChoiceField(choices=list(FREQUENCIES), default="monthly")
        due_day = serializers.IntegerField(min_value=1, max_value=31, required=False, allow_null=True)
        balloon_amount = serializers.DecimalField(**MONEY, min_value=Decimal(0), required=False, allow_null=True)
        step_count = serializers.IntegerField(min_value=1, required=False, allow_null=True)
        step_ratio = serializers.DecimalField(max_digits=8, decimal_places=4, required=False, allow_null=True)
        seasonal_months = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=12),
                                                required=False, allow_empty=True)
        seasonal_factor = serializers.DecimalField(max_digits=8, decimal_places=4, min_value=Decimal(0), required=False,
                                                   allow_null=True)
        lump_sum_share = serializers.DecimalField(max_digits=6, decimal_places=4, required=False, allow_null=True)
        lump_sum_amount = serializers.DecimalField(**MONEY, min_value=Decimal(0), required=False, allow_null=True)
        custom_payments = serializers.ListField(
            child=serializers.DecimalField(**MONEY, min_value=Decimal(0), allow_null=True), required=False, allow_empty=True)
        principal_grace_periods = serializers.IntegerField(min_value=0, default=0)
        interest_grace_periods = serializers.IntegerField(min_value=0, default=0)
        interest_grace_mode = serializers.ChoiceField(choices=GRACE_MODES, default="capitalise")

    @extend_schema(request=InputSerializer, responses={
        200: ScheduleSerializer,
        400: OpenApiResponse(description='Field errors: {"field": ["message"]}.'),
        429: OpenApiResponse(description="Too many quotes from this client; retry later."),
    }, auth=[])
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        if "seasonal_months" in data:
            data["seasonal_months"] = frozenset(data["seasonal_months"])
        if "custom_payments" in data:
            data["custom_payments"] = tuple(data["custom_payments"])
        schedule = services.quote_build(**data)
        return Response(ScheduleSerializer(services.quote_to_dict(schedule)).data)


class ProductListApi(ListAPIView):
    """The active loan products with their price tiers, fees and limits (public)."""

    permission_classes = [AllowAny]
    serializer_class = ProductSerializer
    filterset_fields = ["currency"]
    search_fields = ["code", "name", "name_zh"]
    ordering_fields = ["code", "name", "min_amount", "max_amount"]
    ordering = ["code"]

    def get_queryset(self):
        return selectors.product_list_public()


class OffersApi(APIView):
    """Personalised offers: a customer for themselves, or an officer for a customer (`customer`: the
    customer's profile id). The preference goes in, ranked affordable offers with full disclosure
    come out, with the engine's notes and, when nothing is affordable, the reasons and a
    suggestion. Nothing is stored -- unless `application` is given: then the offers are made from
    that application's own request, replace its earlier un-chosen offers, and are stored. A declined
    application, or one a knock-out rule declines, gets no offers: `summary.declined` is true and
    `summary.reasons` say why in plain words.
    """

    permission_classes = [IsAuthenticated]

    @extend_schema_serializer(component_name="Offers")
    class InputSerializer(serializers.Serializer):
        customer = serializers.IntegerField(required=False, allow_null=True,
                                            help_text="Officers: the customer's profile id. Customers: omit.")
        application = serializers.IntegerField(required=False, allow_null=True,
                                               help_text="Generate and store the offers of this application "
                                                         "(its own request is the preference).")
        product = serializers.SlugRelatedField(slug_field="code", queryset=selectors.product_list_public(),
                                               required=False, allow_null=True, help_text="Product code.")
        amount = serializers.DecimalField(**MONEY, min_value=Decimal("0.01"), required=False, allow_null=True)
        term_months = serializers.IntegerField(min_value=1, required=False, allow_null=True)
        target_monthly_payment = serializers.DecimalField(**MONEY, min_value=Decimal("0.01"), required=False, allow_null=True)
        preferred_method = serializers.ChoiceField(choices=METHOD_CHOICES, required=False, allow_blank=True, default="")
        income_pattern = serializers.ChoiceField(choices=Application.IncomePattern.choices,
                                                 default=Application.IncomePattern.REGULAR)
        low_income_months = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=12),
                                                  required=False, allow_empty=True)
        count = serializers.IntegerField(min_value=1, max_value=MAX_COUNT, default=5)

        def validate(self, data):
            if not data.get("application"):
                errors = {name: ["This field is required without an application."]
                          for name in ("product", "amount") if not data.get(name)}
                if errors:
                    raise serializers.ValidationError(errors)
            return data

    @extend_schema_serializer(component_name="OffersResponse")
    class OutputSerializer(serializers.Serializer):
        stored = serializers.BooleanField(help_text="True when the offers were stored for `application`.")
        application = serializers.IntegerField(allow_null=True)
        offers = OfferSerializer(many=True)
        summary = OfferSummarySerializer()

    @staticmethod
    def _customer_user(request, customer_id):
        """Whose offers: the caller's own (customers) or the named customer's (officers)."""
        user = request.user
        acts_for_others = user.has_role(*CUSTOMER_FILE_ROLES)
        if customer_id is not None:
            if acts_for_others:
                profile = CustomerProfile.objects.select_related("user").filter(pk=customer_id).first()
                if profile is None:
                    raise DomainError("No such customer.", field="customer")
                return profile.user
            own = CustomerProfile.objects.filter(user=user).values_list("pk", flat=True).first()
            if not user.has_role(Role.CUSTOMER) or own != customer_id:
                raise PermissionDenied("You can only ask for your own offers.")
            return user
        if user.has_role(Role.CUSTOMER):
            return user
        if acts_for_others:
            return None  # the application names the customer, or `customer` is required
        raise PermissionDenied("Your role does not allow this.")

    @extend_schema(request=InputSerializer, responses={
        200: OutputSerializer, 201: OutputSerializer,
        400: OpenApiResponse(description='Field errors: {"field": ["message"]}.'),
        403: OpenApiResponse(description="Not your profile or application, or a role that cannot ask for offers."),
    })
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        customer = self._customer_user(request, data.get("customer"))
        if data.get("application"):
            application = selectors.application_for_user(request.user, data["application"])
            if application is None or (customer is not None and application.customer_id != customer.pk):
                raise DomainError("No such application for this customer.", field="application")
            if application.state == Application.State.DECLINED:
                # The decision stands: the decline and its reasons, not an error and not offers.
                summary = {"offered": 0, "declined": True, "reasons": selectors.decline_messages(application)}
                body = {"stored": False, "application": application.pk, "offers": [], "summary": summary}
                return Response(self.OutputSerializer(body).data)
            offers = services.application_offers_generate(application=application)  # knocked out: none
            application.refresh_from_db(fields=["offer_summary"])
            body = {"stored": True, "application": application.pk, "offers": offers,
                    "summary": application.offer_summary}
            return Response(self.OutputSerializer(body).data, status=status.HTTP_201_CREATED)
        if customer is None:
            raise DomainError("Name the customer you are acting for.", field="customer")
        offers, offer_set = services.customer_offers_build(
            customer=customer, product=data["product"], amount=data["amount"], term_months=data.get("term_months"),
            target_monthly_payment=data.get("target_monthly_payment"),
            preferred_method=data.get("preferred_method") or "", income_pattern=data["income_pattern"],
            low_income_months=data.get("low_income_months") or (), count=data["count"],
        )
        body = {"stored": False, "application": None, "offers": offers, "summary": offer_set.summary()}
        return Response(self.OutputSerializer(body).data)


class DeclinablePagination(PageNumberPagination):
    """Pages of offers with `declined` and `decline_reasons` beside the results."""

    def get_paginated_response_schema(self, schema):
        schema = super().get_paginated_response_schema(schema)
        schema["properties"]["declined"] = {
            "type": "boolean", "description": "True: the application is declined (or a knock-out rule declines "
                                              "it); no offers are listed."}
        schema["properties"]["decline_reasons"] = {
            "type": "array", "items": {"type": "string"},
            "description": "Why, in plain words in the request's language (empty unless declined)."}
        return schema


class ApplicationOffersApi(ListAPIView):
    """The stored offers of one application (its customer, or staff who open customer files).

    A declined application, or one a knock-out rule declines, lists no offers: `declined` is true and
    `decline_reasons` say why in plain words, in the request's language.
    """

    serializer_class = OfferSerializer
    pagination_class = DeclinablePagination
    ordering_fields = ["rank", "apr", "total_payable", "installment", "term_months"]

    def _application(self) -> tuple[Application, bool]:
        """The application (404 unless the caller may see it) and whether it is declined by policy."""
        if not hasattr(self, "_found"):
            application = selectors.application_for_user(self.request.user, self.kwargs["pk"])
            if application is None:
                raise Http404
            self._found = (application, selectors.application_declined_by_policy(application))
        return self._found

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return Offer.objects.none()
        application, declined = self._application()
        return Offer.objects.none() if declined else selectors.offers_for_application(application)

    def list(self, request, *args, **kwargs):
        response = super().list(request, *args, **kwargs)
        application, declined = self._application()
        response.data["declined"] = declined
        response.data["decline_reasons"] = (
            selectors.customer_decline_reasons(application, language=get_language() or "en") if declined else [])
        return response


class OfferChooseApi(APIView):
    """The customer chooses one of their application's offers (a loan officer may for them).

    Allowed while the application is scored or in review; choosing another offer replaces the
    choice. Audited.
    """

    @extend_schema(request=None, responses={
        200: OfferSerializer,
        400: OpenApiResponse(description="The application is not in a state where an offer can be chosen."),
        404: OpenApiResponse(description="No such offer visible to you."),
    })
    def post(self, request, pk: int):
        offer = selectors.offer_list_for_user(request.user).filter(pk=pk).first()
        if offer is None:
            raise Http404
        chosen = services.offer_choose(application=offer.application, offer=offer, by=request.user)
        return Response(OfferSerializer(chosen).data)

