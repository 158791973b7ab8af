"""Site-wide protections: sign-in throttling and the content security policy."""

import os
import re
import subprocess
import sys

import pytest
from django.conf import settings
from django.urls import reverse

from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def reseller_user():
    return factories.reseller_user(factories.ResellerFactory(), "acme-user")


@pytest.mark.parametrize("login_url", ["login", "classic:login"])
def test_repeated_wrong_passwords_lock_the_sign_in(
    client, reseller_user, settings, login_url
):
    settings.AXES_FAILURE_LIMIT = 3
    url = reverse(login_url)
    for _attempt in range(3):
        response = client.post(url, {"username": "acme-user", "password": "wrong"})
    assert response.status_code == 429
    assert "Too many sign-in attempts" in response.content.decode()

    # Even the right password is refused while the lock lasts.
    right = client.post(url, {"username": "acme-user", "password": factories.PASSWORD})
    assert right.status_code == 429
    assert "_auth_user_id" not in client.session


def test_a_successful_sign_in_resets_the_failure_count(client, reseller_user, settings):
    settings.AXES_FAILURE_LIMIT = 3
    url = reverse("login")
    for _attempt in range(2):
        client.post(url, {"username": "acme-user", "password": "wrong"})
    signed_in = client.post(
        url, {"username": "acme-user", "password": factories.PASSWORD}
    )
    assert signed_in.status_code == 302
    client.logout()

    for _attempt in range(2):
        response = client.post(url, {"username": "acme-user", "password": "wrong"})
    assert response.status_code == 200  # a plain "wrong password", not locked


def test_other_users_are_not_locked_by_someone_elses_failures(
    client, reseller_user, settings
):
    settings.AXES_FAILURE_LIMIT = 2
    factories.reseller_user(factories.ResellerFactory(), "other-user")
    url = reverse("login")
    for _attempt in range(2):
        client.post(url, {"username": "acme-user", "password": "wrong"})
    response = client.post(
        url, {"username": "other-user", "password": factories.PASSWORD}
    )
    assert response.status_code == 302


@pytest.mark.parametrize("url", ["/login/", "/classic/login/", "/admin/login/"])
def test_pages_forbid_inline_scripts_and_framing(client, url):
    policy = client.get(url)["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in policy


PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "x7#Kq2!vR9m@Lp4$Wz8^Nc6&Tb1*Yh5(Ud3)Fg0-Js7+Ea2=Oi9~Ml4" * 2,
    "ALLOWED_HOSTS": "billing.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://billing.example.com",
    "SECURE_COOKIES": "true",
    "SECURE_SSL_REDIRECT": "true",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_PROXY_SSL_HEADER": "true",
}


def deploy_check(**overrides: str) -> subprocess.CompletedProcess:
    """Run ``manage.py check --deploy`` with the development environment
    (none of the production variables set) plus ``overrides``."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in PRODUCTION and name != "DJANGO_ALLOW_ASYNC_UNSAFE"
    }
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=settings.BASE_DIR,
        env={**environment, **overrides},
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_documented_production_settings_pass_djangos_deploy_check():
    result = deploy_check(**PRODUCTION)

    assert result.returncode == 0, result.stderr
    # Only the opt-in to browsers' HSTS preload lists is left: that is the
    # domain owner's decision, not the application's.
    assert re.findall(r"\((\w+\.\w+)\)", result.stderr) == ["security.W021"]


def test_the_development_defaults_fail_the_deploy_check():
    result = deploy_check()

    warnings = set(re.findall(r"\((\w+\.\w+)\)", result.stderr))
    assert {"security.W004", "security.W008", "security.W018"} <= warnings
