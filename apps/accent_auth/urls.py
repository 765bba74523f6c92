from django.urls import path

from apps.accent_auth.views import TokenRevokeView

app_name = "accent_auth"
urlpatterns = [path("token", TokenRevokeView.as_view(), name="token-revoke")]
