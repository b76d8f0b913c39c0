from django.urls import path

from customers import api

urlpatterns = [
    path("me/", api.MeApi.as_view(), name="api-me"),
    path("profile/", api.ProfileApi.as_view(), name="api-profile"),
    path("profile/documents/", api.ProfileDocumentsApi.as_view(), name="api-profile-documents"),
    path("profile/statements/", api.ProfileStatementsApi.as_view(), name="api-profile-statements"),
    path("customers/", api.CustomerListApi.as_view(), name="api-customers"),
    path("customers/find-by-id/", api.CustomerFindByIdApi.as_view(), name="api-customers-find-by-id"),
    path("customers/<int:pk>/", api.CustomerDetailApi.as_view(), name="api-customer-detail"),
]
