from django.urls import path

from scoring import api

urlpatterns = [
    path("applications/<int:pk>/score/", api.ApplicationScoreApi.as_view(), name="api-application-score"),
]
