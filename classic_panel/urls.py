"""The classic panel, mounted at ``/classic/``: Billing > Reseller > Documents."""

from django.urls import path

from classic_panel import views

app_name = "classic"

reseller = "resellers/<int:reseller_id>/"

urlpatterns = [
    path("login/", views.login, name="login"),
    path("logout/", views.logout, name="logout"),
    path("", views.home, name="home"),
    path(reseller, views.reseller_documents, name="reseller"),
    path(f"{reseller}documents.csv", views.documents_csv, name="documents_csv"),
    path(
        f"{reseller}documents/<int:document_id>/",
        views.document_detail,
        name="document",
    ),
    path(f"{reseller}operations/", views.operations, name="operations"),
    path(
        f"{reseller}operations/<int:operation_id>/",
        views.operation_detail,
        name="operation",
    ),
    path(
        f"{reseller}operations/<int:operation_id>/revert/",
        views.revert,
        name="revert",
    ),
    path(
        f"{reseller}allocations/<int:allocation_id>/unlink/",
        views.unlink,
        name="unlink",
    ),
    path(f"{reseller}activity/", views.activity, name="activity"),
    path(f"{reseller}link/", views.link, name="link"),
    path(f"{reseller}link/confirm/", views.link_confirm, name="link_confirm"),
    path(f"{reseller}credit-memo/", views.credit_memo, name="credit_memo"),
    path(
        f"{reseller}credit-memo/confirm/",
        views.credit_memo_confirm,
        name="credit_memo_confirm",
    ),
]
