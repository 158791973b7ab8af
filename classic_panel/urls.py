"""The classic panel, mounted at ``/classic/``: Billing > Reseller > Documents."""

from django.urls import path

from classic_panel.views import actions, bank, browse, holds

app_name = "classic"

reseller = "resellers/<int:reseller_id>/"

urlpatterns = [
    path("login/", browse.login, name="login"),
    path("logout/", browse.logout, name="logout"),
    path("", browse.home, name="home"),
    path(reseller, browse.reseller_documents, name="reseller"),
    path(f"{reseller}documents.csv", browse.documents_csv, name="documents_csv"),
    path(
        f"{reseller}documents/<int:document_id>/",
        browse.document_detail,
        name="document",
    ),
    path(f"{reseller}operations/", browse.operations, name="operations"),
    path(
        f"{reseller}operations/<int:operation_id>/",
        browse.operation_detail,
        name="operation",
    ),
    path(
        f"{reseller}operations/<int:operation_id>/revert/",
        actions.revert,
        name="revert",
    ),
    path(
        f"{reseller}allocations/<int:allocation_id>/unlink/",
        actions.unlink,
        name="unlink",
    ),
    path(f"{reseller}activity/", browse.activity, name="activity"),
    path(f"{reseller}link/", actions.link, name="link"),
    path(f"{reseller}link/confirm/", actions.link_confirm, name="link_confirm"),
    path(f"{reseller}credit-memo/", actions.credit_memo, name="credit_memo"),
    path(
        f"{reseller}credit-memo/confirm/",
        actions.credit_memo_confirm,
        name="credit_memo_confirm",
    ),
    path(f"{reseller}documents/<int:document_id>/hold/", holds.hold, name="hold"),
    path(
        f"{reseller}documents/<int:document_id>/release/",
        holds.release,
        name="release_hold",
    ),
]

urlpatterns += [
    path("bank/", bank.queue, name="bank_queue"),
    path("bank/statements/", bank.statements, name="bank_statements"),
    path("bank/statements/upload/", bank.upload, name="bank_upload"),
    path("bank/lines/<int:line_id>/", bank.line_detail, name="bank_line"),
    path("bank/lines/<int:line_id>/assign/", bank.line_assign, name="bank_assign"),
    path("bank/lines/<int:line_id>/return/", bank.line_return, name="bank_return"),
]
