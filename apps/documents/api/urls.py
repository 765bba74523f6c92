from django.urls import path

from apps.documents.api import views

app_name = "documents"
urlpatterns = [
    path("", views.DocumentCollectionApi.as_view(), name="collection"),
    path("bulk-upsert/", views.DocumentBulkUpsertApi.as_view(), name="bulk-upsert"),
    path("<uuid:pk>/", views.DocumentDetailApi.as_view(), name="detail"),
    path("<uuid:pk>/restore/", views.DocumentRestoreApi.as_view(), name="restore"),
]
