"""API plumbing shared by every app: one exception handler so every error is JSON naming the field."""

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from config.errors import DomainError


def _field_errors(exc) -> dict | None:
    """Map any domain-level error that names a field to DRF's `{field: [message]}` shape."""
    if isinstance(exc, DomainError):
        return exc.as_dict()
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            return {field: [str(m) for e in errors for m in e.messages] for field, errors in exc.error_dict.items()}
        return {"non_field_errors": list(exc.messages)}
    field = getattr(exc, "field", None)
    if isinstance(exc, ValueError) and field:
        return {field: [str(getattr(exc, "message", exc))]}
    return None


def exception_handler(exc, context):
    errors = _field_errors(exc)
    if errors is not None:
        return Response(errors, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, Http404):
        return Response({"detail": "Not found."}, status=status.HTTP_404_NOT_FOUND)
    if isinstance(exc, PermissionDenied):
        return Response({"detail": "You do not have permission to perform this action."}, status=403)
    return drf_exception_handler(exc, context)
