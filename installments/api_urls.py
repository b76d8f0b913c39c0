from django.urls import path

from installments import api

urlpatterns = [
    path("quotes/", api.QuoteApi.as_view(), name="api-quotes"),
    path("products/", api.ProductListApi.as_view(), name="api-products"),
    path("offers/", api.OffersApi.as_view(), name="api-offers"),
    path("offers/<int:pk>/choose/", api.OfferChooseApi.as_view(), name="api-offer-choose"),
    path("applications/<int:pk>/offers/", api.ApplicationOffersApi.as_view(), name="api-application-offers"),
]
