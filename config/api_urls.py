"""Every app's API under /api/v1/. Each app adds its routes in its own `api_urls.py`."""

from django.urls import include, path

from customers import two_factor

urlpatterns = [
    # Expiring, revocable tokens (django-rest-knox); the TOTP code is checked for two-factor roles.
    path("auth/token/", two_factor.obtain_auth_token, name="api-token"),
    path("auth/logout/", two_factor.logout, name="api-token-logout"),
    path("auth/logoutall/", two_factor.logout_all, name="api-token-logout-all"),
    path("", include("customers.api_urls")),
    path("", include("installments.assessment.api_urls")),
    path("", include("installments.api_urls")),
    path("", include("collections_app.api_urls")),
]
