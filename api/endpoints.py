"""The reseller API, version 1: what the reseller panel does, by program.

Each operation reads through ``billing.selectors`` or writes through
``billing.services`` exactly as the panel's views do; nothing here decides how
credit is applied. A key reaches only its own reseller: another reseller's
document or payment answers 404, like one that does not exist.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated

from django.http import Http404, HttpRequest
from django.utils import timezone
from ninja import Field, Header, NinjaAPI, Path, Query, Schema, Status
from ninja.openapi.docs import Swagger
from pydantic import BeforeValidator

from api import cursors, problems
from api.auth import ApiKeyAuth
from api.schemas import (
    AccountOut,
    DocumentDetailOut,
    DocumentId,
    DocumentPage,
    IdempotencyKey,
    IsoDate,
    Kind,
    PaymentDetailOut,
    PaymentIn,
    PaymentPage,
    PlanOut,
    Problem,
    QueryBool,
    ResellerStatus,
    SelectionIn,
    account_out,
    allocation_out,
    document_out,
    payment_out,
    plan_out,
    whole_number_text,
)
from billing import selectors
from billing.models import DocumentKind, Operation, Reseller, Source
from billing.services import credit_allowed, pay_documents, preview_payment
from panelkit.payee import payee_rows

# The operations a reseller gets a receipt for, as in the panel: its own
# payments and the automatic applications of a prepaid account's credit.
RECEIPT_KINDS = (Operation.Kind.PAYMENT, Operation.Kind.AUTO_APPLY)
DEFAULT_PAGE = 50
MAX_PAGE = 200

DESCRIPTION = """
What the reseller panel does, for the reseller's own systems: read what is
owed, preview a payment and pay it.

* Authenticate with an API key from the panel's *API keys* page:
  `Authorization: Bearer arl_…`.
* Money is a decimal string with the currency's minor units (`"1234.50"`).
* Errors are RFC 9457 problem details (`application/problem+json`); `code` is
  the ledger's stable error code, `detail` follows `Accept-Language`.
* `POST /payments` needs an `Idempotency-Key` header: a replay returns the
  first result; the same key with another body answers 422.
"""


# Where the ids in a response lead (OpenAPI links, followed by stateful tests).
LINKS = {
    ("listDocuments", "200"): {"getDocument": {"document_id": "items/0/id"}},
    ("getPayment", "200"): {"getDocument": {"document_id": "document_ids/0"}},
    ("listPayments", "200"): {"getPayment": {"payment_id": "items/0/id"}},
    ("createPayment", "201"): {"getPayment": {"payment_id": "id"}},
}


class ResellerApi(NinjaAPI):
    def get_openapi_schema(self, **kwargs):
        schema = problems.problem_media_types(super().get_openapi_schema(**kwargs))
        for operations in schema["paths"].values():
            for operation in operations.values():
                for status, response in operation["responses"].items():
                    targets = LINKS.get((operation["operationId"], str(status)))
                    if targets:
                        response["links"] = {
                            target[0].upper() + target[1:]: {
                                "operationId": target,
                                "parameters": {
                                    name: f"$response.body#/{pointer}"
                                    for name, pointer in parameters.items()
                                },
                            }
                            for target, parameters in targets.items()
                        }
        return schema


api = ResellerApi(
    title="AR ledger reseller API",
    version="1",
    description=DESCRIPTION,
    auth=ApiKeyAuth(),
    urls_namespace="api-v1",
    docs=Swagger(settings={"persistAuthorization": False}),
)
problems.install(api)

AUTH = {401: Problem, 429: Problem}
CHECKED = {**AUTH, 400: Problem}
IDEMPOTENCY_KEY_HEADER = Header(..., alias="Idempotency-Key")


def _reseller(request: HttpRequest) -> Reseller:
    return request.reseller


@api.get("/account", response={200: AccountOut, **AUTH}, operation_id="getAccount")
def get_account(request: HttpRequest):
    """What the reseller owes and its credit balance, as on the panel's Home."""
    reseller = _reseller(request)
    summary = selectors.account_summary(reseller, today=timezone.localdate())
    return account_out(reseller, summary, credit_allowed(reseller))


Cursor = Annotated[str, Field(max_length=500, description="A page's next_cursor.")]
PageSize = Annotated[int, BeforeValidator(whole_number_text)]


class DocumentQuery(Schema):
    kind: Kind | None = None
    status: ResellerStatus | None = None
    issued_from: IsoDate | None = None
    issued_to: IsoDate | None = None
    due_from: IsoDate | None = None
    due_to: IsoDate | None = None
    overdue: QueryBool = False
    cursor: Cursor | None = None
    limit: PageSize = Field(DEFAULT_PAGE, ge=1, le=MAX_PAGE)


@api.get(
    "/documents",
    response={200: DocumentPage, **CHECKED},
    operation_id="listDocuments",
)
def list_documents(request: HttpRequest, filters: Query[DocumentQuery]):
    """The reseller's documents, oldest first, a page at a time.

    Follow ``next_cursor`` for the next page: pages are read by keyset, so they
    stay stable while documents are posted.
    """
    reseller = _reseller(request)
    today = timezone.localdate()
    limit = filters.limit
    after = cursors.decode_document(filters.cursor) if filters.cursor else None
    rows = selectors.documents_page_for_reseller(
        reseller,
        limit=limit + 1,
        after=after,
        kind=filters.kind,
        status=filters.status,
        issued_from=filters.issued_from,
        issued_to=filters.issued_to,
        due_from=filters.due_from,
        due_to=filters.due_to,
        overdue_on=today if filters.overdue else None,
    )
    page = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        last = page[-1]
        next_cursor = cursors.encode("documents", last.issue_date, last.number, last.pk)
    return {
        "items": [document_out(doc, reseller.currency, today) for doc in page],
        "next_cursor": next_cursor,
    }


@api.get(
    "/documents/{document_id}",
    response={200: DocumentDetailOut, 404: Problem, **CHECKED},
    operation_id="getDocument",
)
def get_document(request: HttpRequest, document_id: Path[DocumentId]):
    """One document, with the payments and credit applied to it."""
    reseller = _reseller(request)
    document = selectors.documents_for_reseller(reseller).filter(pk=document_id).first()
    if document is None:
        raise Http404
    allocations = []
    if document.kind != DocumentKind.CREDIT_MEMO:
        allocations = selectors.allocations_for_document(document)
    return {
        **document_out(document, reseller.currency, timezone.localdate()),
        "allocations": [allocation_out(a, reseller.currency) for a in allocations],
    }


def _use_credit(reseller: Reseller, body: SelectionIn) -> bool:
    """Prepaid accounts always use their credit; others choose."""
    return bool(body.use_credit) or reseller.is_prepaid


@api.post(
    "/payments/preview",
    response={200: PlanOut, 404: Problem, 409: Problem, **CHECKED},
    operation_id="previewPayment",
)
def preview(request: HttpRequest, body: SelectionIn):
    """What paying the selected documents would do, changing nothing.

    Where policy keeps the credit balance for support, ``contact_support``
    says how much is available and whom to contact.
    """
    reseller = _reseller(request)
    plan = preview_payment(
        reseller=reseller,
        document_ids=body.document_ids,
        use_credit=_use_credit(reseller, body),
    )
    return plan_out(plan)


@api.post(
    "/payments",
    response={
        201: PaymentDetailOut,
        403: Problem,
        404: Problem,
        409: Problem,
        422: Problem,
        503: Problem,
        **CHECKED,
    },
    operation_id="createPayment",
)
def create_payment(
    request: HttpRequest,
    body: PaymentIn,
    idempotency_key: IdempotencyKey = IDEMPOTENCY_KEY_HEADER,
):
    """Pay the previewed plan: credit first where chosen, then the method.

    A stale ``fingerprint`` answers 409 with the new plan and applies nothing.
    A replay with the same ``Idempotency-Key`` returns the first payment; the
    same key with another body answers 422.
    """
    reseller = _reseller(request)
    operation = pay_documents(
        reseller=reseller,
        document_ids=body.document_ids,
        use_credit=_use_credit(reseller, body),
        payment_method=body.payment_method,
        idempotency_key=idempotency_key,
        fingerprint=body.fingerprint,
        card_token=body.card_token,
        actor=request.auth.user,
        # The audit trail knows the API caller by its user and key; the
        # ledger has no separate source for the API yet.
        source=Source.API,
        # A replay repeats the whole body: the same key with another
        # fingerprint or card is refused, under the lock that made the payment.
        request_digest=_body_digest(body),
    )
    return Status(201, _payment_detail(reseller, operation.pk))


def _body_digest(body: PaymentIn) -> str:
    data = body.dict()
    data["document_ids"] = sorted(set(data["document_ids"]))
    if data.get("card_token"):
        data["card_token"] = hashlib.sha256(data["card_token"].encode()).hexdigest()
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


class PaymentQuery(Schema):
    cursor: Cursor | None = None
    limit: PageSize = Field(DEFAULT_PAGE, ge=1, le=MAX_PAGE)


@api.get(
    "/payments", response={200: PaymentPage, **CHECKED}, operation_id="listPayments"
)
def list_payments(request: HttpRequest, page: Query[PaymentQuery]):
    """The reseller's payments and automatic applications, newest first."""
    reseller = _reseller(request)
    limit = page.limit
    after = cursors.decode_payment(page.cursor) if page.cursor else None
    rows = selectors.receipts_page_for_reseller(
        reseller, kinds=RECEIPT_KINDS, limit=limit + 1, after=after
    )
    operations = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        last = operations[-1]
        next_cursor = cursors.encode("payments", last.created_at, last.pk)
    bank = payee_rows(reseller)
    return {
        "items": [payment_out(op, bank) for op in operations],
        "next_cursor": next_cursor,
    }


@api.get(
    "/payments/{payment_id}",
    response={200: PaymentDetailOut, 404: Problem, **CHECKED},
    operation_id="getPayment",
)
def get_payment(request: HttpRequest, payment_id: Path[DocumentId]):
    """One payment with what it applied, and whether support reverted it."""
    return _payment_detail(_reseller(request), payment_id)


def _payment_detail(reseller: Reseller, operation_id: int) -> dict:
    operation = (
        selectors.with_selected_documents(
            selectors.operations_for_reseller(reseller), reseller
        )
        .filter(kind__in=RECEIPT_KINDS, pk=operation_id)
        .first()
    )
    if operation is None:
        raise Http404
    allocations = selectors.allocations_of_operation(operation)
    return {
        **payment_out(operation, payee_rows(reseller)),
        "allocations": [allocation_out(a, reseller.currency) for a in allocations],
    }
