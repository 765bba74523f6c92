from django.urls import path

from tests.testapp import views

urlpatterns = [
    path("folders/", views.CreateFolderView.as_view()),
    path("folders-conflict/", views.CreateThenConflictView.as_view()),
    path("whoami/", views.whoami),
    path("context/", views.context_echo),
    path("replica-label/", views.replica_label),
]
