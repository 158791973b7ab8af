"""Locust users for ``make bench``: the panel's pay flow, or the minimal view.

The harness passes, through the environment, a JSON file of accounts (session
cookie and invoice ids). Each simulated user takes one account and pays its
invoices one by one: the preview page (GET), then the confirmation (POST) with
what the page holds — its hidden fields and CSRF token — as a browser sends
it. A user stops when its invoices run out, so a run is bounded in count as
well as in time. Only a preview holding its confirmation form and a
confirmation that sends the browser to its receipt count as answered; anything
else (a sign-in page, a refusal) is a failed request.
"""

import itertools
import json
import os
import re

from locust import HttpUser, task
from locust.exception import StopUser

HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')
RECEIPT = re.compile(r"/payments/[0-9]+/")
ACCOUNTS = json.loads(open(os.environ["BENCH_ACCOUNTS"]).read())  # noqa: SIM115
NEXT_ACCOUNT = itertools.count()
MODE = os.environ.get("BENCH_MODE", "pay")


class PanelUser(HttpUser):
    def on_start(self) -> None:
        account = ACCOUNTS[next(NEXT_ACCOUNT) % len(ACCOUNTS)]
        self.client.cookies.set(account["cookie_name"], account["session"])
        self.invoices = iter(account["invoices"])

    @task
    def act(self) -> None:
        if MODE == "minimal":
            self.client.get("/bench/minimal/", name="minimal")
            return
        invoice = next(self.invoices, None)
        if invoice is None:
            raise StopUser()
        with self.client.get(
            f"/pay/?document={invoice}&use_credit=1",
            name="pay preview",
            allow_redirects=False,
            catch_response=True,
        ) as preview:
            # A redirect (signed out, refused selection) is not a preview.
            if preview.status_code != 200 or 'id="confirm-form"' not in preview.text:
                preview.failure(f"no confirmation form (status {preview.status_code})")
                return
        form = preview.text.split('id="confirm-form"', 1)[-1].split("</form>", 1)[0]
        fields = HIDDEN.findall(form)
        fields.append(("payment_method", "bank_transfer"))
        with self.client.post(
            "/pay/",
            data=fields,
            name="pay confirm",
            allow_redirects=False,
            catch_response=True,
        ) as response:
            # Paid: the answer sends the browser to the payment's receipt.
            location = response.headers.get("Location", "")
            if response.status_code != 302 or not RECEIPT.fullmatch(location):
                response.failure(f"status {response.status_code}, to {location!r}")
