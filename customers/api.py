"""The customers API: the signed-in user, the customer's own profile, documents and statements,
and the staff customer list and detail. Thin views: validate, call a service or selector, shape."""

from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from customers import selectors, services
from customers.filters import CustomerProfileFilter, id_number_search_hash
from customers.models import CustomerDocument, CustomerProfile, DocumentKind, StatementSummary
from customers.national_id import normalise as normalise_id_number
from customers.permissions import HasRole
from customers.roles import Role
from customers.serializers import (
    AssetLineSerializer,
    DebtLineSerializer,
    DocumentOutputSerializer,
    ExpenseLineSerializer,
    IncomeLineSerializer,
    ProfileOutputSerializer,
    StatementOutputSerializer,
)

IsCustomer = HasRole(Role.CUSTOMER)
CanOpenCustomerFile = HasRole(*selectors.CUSTOMER_FILE_ROLES)


class MeApi(APIView):
    """The signed-in user and their roles."""

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        email = serializers.EmailField()
        full_name = serializers.CharField()
        preferred_language = serializers.CharField()
        roles = serializers.ListField(child=serializers.CharField())

    @extend_schema(responses=OutputSerializer)
    def get(self, request):
        user = request.user
        data = {
            "id": user.pk, "email": user.email, "full_name": user.full_name,
            "preferred_language": user.preferred_language, "roles": sorted(user.role_names),
        }
        return Response(self.OutputSerializer(data).data)


def _own_profile(request) -> CustomerProfile:
    profile = selectors.profile_for_user(request.user)
    if profile is None:
        raise Http404
    return profile


def _profile_output(profile: CustomerProfile, serializer=ProfileOutputSerializer) -> dict:
    return serializer(selectors.profile_get(profile.pk)).data


class ProfileApi(APIView):
    """The signed-in customer's own profile. The first PUT creates it (identity and address fields
    required); later PUTs and PATCHes change the fields sent and keep the others.

    The ID number is write-only: send `id_number` in plain text to set or change it (required
    when creating or changing `id_type`); responses only carry `id_number_masked`. For a PRC
    resident ID, `date_of_birth` and `sex` are read from the number (if sent they must agree).
    Each finance collection sent (`incomes`, `expenses`, `debts`, `assets`) replaces the current
    one: items with `id` update that line, items without are added, missing lines are removed.
    """

    permission_classes = [IsCustomer]

    @extend_schema_serializer(component_name="ProfileInput")
    class InputSerializer(serializers.ModelSerializer):
        id_number = serializers.CharField(
            required=False, allow_blank=True, write_only=True, max_length=32,
            help_text="Plain ID number; leave out to keep the one on file.",
        )
        incomes = IncomeLineSerializer(many=True, required=False)
        expenses = ExpenseLineSerializer(many=True, required=False)
        debts = DebtLineSerializer(many=True, required=False)
        assets = AssetLineSerializer(many=True, required=False)

        class Meta:
            model = CustomerProfile
            fields = [*services.PROFILE_FIELDS, *services.LINE_COLLECTIONS]
            extra_kwargs = {
                "date_of_birth": {"required": False, "allow_null": True},
                "email": {"required": False},
            }

    @staticmethod
    def _split(validated: dict) -> tuple[dict, dict | None]:
        lines = {name: [dict(item) for item in validated.pop(name)]
                 for name in services.LINE_COLLECTIONS if name in validated}
        return validated, lines or None

    @extend_schema(responses={200: ProfileOutputSerializer, 404: OpenApiResponse(description="No profile yet.")})
    def get(self, request):
        return Response(_profile_output(_own_profile(request)))

    @extend_schema(request=InputSerializer, responses={200: ProfileOutputSerializer, 201: ProfileOutputSerializer})
    def put(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data, lines = self._split(dict(serializer.validated_data))
        profile = selectors.profile_for_user(request.user)
        if profile is None:
            profile = services.profile_create(user=request.user, data=data, lines=lines)
            return Response(_profile_output(profile), status=status.HTTP_201_CREATED)
        profile = services.profile_update(profile=profile, data=data, by=request.user, lines=lines)
        return Response(_profile_output(profile))

    @extend_schema(request=InputSerializer, responses={200: ProfileOutputSerializer})
    def patch(self, request):
        profile = _own_profile(request)
        serializer = self.InputSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data, lines = self._split(dict(serializer.validated_data))
        profile = services.profile_update(profile=profile, data=data, by=request.user, lines=lines)
        return Response(_profile_output(profile))


class CustomerListApi(ListAPIView):
    """Staff: every customer, paginated; filter by background fields, `q` searches name, phone or
    the exact e-mail. By ID number: `id_hash`, the keyed search hash that
    `POST /api/v1/customers/find-by-id/` answers (the number itself never goes in a URL)."""

    permission_classes = [CanOpenCustomerFile]
    filterset_class = CustomerProfileFilter
    ordering_fields = ["full_name", "created_at", "updated_at", "monthly_income"]
    ordering = ["-updated_at", "-pk"]

    @extend_schema_serializer(component_name="CustomerListItem")
    class OutputSerializer(serializers.ModelSerializer):
        monthly_income = serializers.DecimalField(max_digits=14, decimal_places=2)
        pending_documents = serializers.IntegerField(help_text="Documents awaiting review.")

        class Meta:
            model = CustomerProfile
            fields = ["id", "full_name", "id_number_masked", "phone", "city", "employment_type", "housing",
                      "monthly_income", "pending_documents", "updated_at"]

    serializer_class = OutputSerializer

    def get_queryset(self):
        return selectors.customer_list()


class CustomerFindByIdApi(APIView):
    """Staff: find a customer by the exact ID number, sent in the body so it is in no URL or access
    log. Answers the customers with that number (one at most) and `id_hash`, the keyed search
    hash to filter the customer list with (`GET /api/v1/customers/?id_hash=...`)."""

    permission_classes = [CanOpenCustomerFile]

    @extend_schema_serializer(component_name="CustomerFindByIdInput")
    class InputSerializer(serializers.Serializer):
        id_number = serializers.CharField(max_length=32, help_text="The exact ID number, any ID type.")

        def validate_id_number(self, value: str) -> str:
            number = normalise_id_number(value)
            if not number:
                raise serializers.ValidationError("Enter the exact ID number.")
            return number

    @extend_schema_serializer(component_name="CustomerFindByIdResult")
    class OutputSerializer(serializers.Serializer):
        id_hash = serializers.CharField(help_text="The keyed search hash of the number, for `?id_hash=`.")
        results = CustomerListApi.OutputSerializer(many=True)

    @extend_schema(request=InputSerializer, responses={200: OutputSerializer})
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        id_hash = id_number_search_hash(serializer.validated_data["id_number"])
        results = selectors.customer_list().filter(id_number_hash=id_hash).order_by("pk")
        return Response(self.OutputSerializer({"id_hash": id_hash, "results": results}).data)


class CustomerDetailApi(APIView):
    """Staff: one customer's profile with documents and the latest statement summary."""

    permission_classes = [CanOpenCustomerFile]

    @extend_schema_serializer(component_name="CustomerDetail")
    class OutputSerializer(ProfileOutputSerializer):
        documents = DocumentOutputSerializer(many=True, read_only=True)
        latest_statement = serializers.SerializerMethodField()

        class Meta(ProfileOutputSerializer.Meta):
            fields = [*ProfileOutputSerializer.Meta.fields, "documents", "latest_statement"]

        @extend_schema_field(StatementOutputSerializer(allow_null=True))
        def get_latest_statement(self, profile: CustomerProfile) -> dict | None:
            statement = selectors.statement_latest(profile)
            return StatementOutputSerializer(statement).data if statement else None

    @extend_schema(responses=OutputSerializer)
    def get(self, request, pk: int):
        profile = selectors.profile_get(pk)
        if profile is None:
            raise Http404
        return Response(self.OutputSerializer(profile).data)


class _OwnUploadsApi(ListAPIView):
    """The customer's own uploads of one kind: GET lists them (paginated), POST adds one (multipart)."""

    permission_classes = [IsCustomer]
    parser_classes = [MultiPartParser, FormParser]
    model: type

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return self.model.objects.none()
        return self.model.objects.filter(profile=_own_profile(self.request))


class ProfileDocumentsApi(_OwnUploadsApi):
    """Documents: PDF, JPEG or PNG, checked by content; stored privately; reviewed by an officer."""

    model = CustomerDocument
    serializer_class = DocumentOutputSerializer
    filterset_fields = ["kind", "review_state"]
    ordering = ["-uploaded_at", "-pk"]

    @extend_schema_serializer(component_name="DocumentUpload")
    class InputSerializer(serializers.Serializer):
        kind = serializers.ChoiceField(choices=DocumentKind.choices)
        file = serializers.FileField()

    @extend_schema(request=InputSerializer, responses={201: DocumentOutputSerializer})
    def post(self, request):
        profile = _own_profile(request)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        document = services.document_upload(profile=profile, by=request.user, **serializer.validated_data)
        return Response(DocumentOutputSerializer(document).data, status=status.HTTP_201_CREATED)


class ProfileStatementsApi(_OwnUploadsApi):
    """Bank statements: POST a CSV, get its spending summary (customers.statements) back."""

    model = StatementSummary
    serializer_class = StatementOutputSerializer
    ordering = ["-period_end", "-imported_at", "-pk"]

    @extend_schema_serializer(component_name="StatementUpload")
    class InputSerializer(serializers.Serializer):
        file = serializers.FileField(help_text="CSV: date, description, amount, balance; UTF-8 or GBK.")

    @extend_schema(request=InputSerializer, responses={201: StatementOutputSerializer})
    def post(self, request):
        profile = _own_profile(request)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        summary = services.statement_import(profile=profile, file=serializer.validated_data["file"], by=request.user)
        return Response(StatementOutputSerializer(summary).data, status=status.HTTP_201_CREATED)
