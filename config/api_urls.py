"""Every app's API under /api/v1/. Each app adds its routes in its own `api_urls.py`."""

from django.urls import include, path
from rest_framework.authtoken.views import obtain_auth_token

urlpatterns = [
    path("auth/token/", obtain_auth_token, name="api-token"),
    path("", include("customers.api_urls")),
    path("", include("installments.assessment.api_urls")),
    path("", include("installments.api_urls")),
    path("", include("collections_app.api_urls")),
]
