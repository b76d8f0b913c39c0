"""Role checks for pages (decorator and mixin) and for the API (DRF permission)."""

from functools import wraps

from django.contrib.auth.mixins import AccessMixin
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission

from customers.roles import STAFF_ROLES


def _check(request, roles) -> None:
    if not request.user.has_role(*roles):
        raise PermissionDenied


def role_required(*roles: str):
    """Page decorator: anonymous users go to the login page, users without one of `roles` get 403."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            _check(request, roles)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


staff_required = role_required(*STAFF_ROLES)


class RoleRequiredMixin(AccessMixin):
    required_roles: tuple[str, ...] = STAFF_ROLES

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        _check(request, self.required_roles)
        return super().dispatch(request, *args, **kwargs)


def HasRole(*roles: str) -> type[BasePermission]:  # noqa: N802 - reads like a class in permission_classes
    """DRF permission class allowing authenticated users holding one of `roles`."""

    class _HasRole(BasePermission):
        message = "Your role does not allow this."

        def has_permission(self, request, view) -> bool:
            return bool(request.user and request.user.is_authenticated and request.user.has_role(*roles))

    _HasRole.__name__ = "HasRole_" + "_".join(roles)
    return _HasRole


IsStaffMember = HasRole(*STAFF_ROLES)
