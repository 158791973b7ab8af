"""URLs of the reseller panel, mounted at the site root.

``login``, ``logout`` and ``home`` keep their plain names: the settings
(``LOGIN_URL``, ``LOGIN_REDIRECT_URL``) and the shared base layout use them.
"""

from django.contrib.auth import views as auth_views
from django.urls import path

from reseller_panel import api_keys
from reseller_panel.views import browse, pay

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", browse.home, name="home"),
    path("unpaid/", browse.unpaid_documents, name="unpaid_documents"),
    path("pay/", pay.pay, name="pay"),
    path("payments/", browse.payments, name="payments"),
    path("payments/<int:operation_id>/", browse.receipt, name="receipt"),
    path("documents/", browse.documents, name="documents"),
    path("documents/<int:document_id>/", browse.document_detail, name="document"),
    path("help/paying-unpaid-invoices/", browse.help_paying, name="help_paying"),
    path("api-keys/", api_keys.api_keys, name="api_keys"),
    path("api-keys/<int:key_id>/revoke/", api_keys.revoke, name="revoke_api_key"),
]
