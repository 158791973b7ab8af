"""Site-wide protections: sign-in throttling, the content security policy,
cookies and Django's deployment checks."""

import os
import re
import runpy
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


PROXY = ("HTTP_X_FORWARDED_PROTO", "https")
# Every request through the TLS proxy reaches the application from its address.
THROUGH_PROXY = {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_PROTO": "https"}


def sign_in(client, password: str, forwarded_for: str, **meta):
    return client.post(
        reverse("login"),
        {"username": "acme-user", "password": password},
        HTTP_X_FORWARDED_FOR=forwarded_for,
        **meta,
    )


def test_behind_the_proxy_a_lockout_holds_only_for_the_attackers_address(
    client, reseller_user, settings
):
    settings.AXES_FAILURE_LIMIT = 2
    settings.SECURE_PROXY_SSL_HEADER = PROXY
    attacker, owner = "203.0.113.66", "198.51.100.7"
    for _attempt in range(2):
        locked = sign_in(client, "wrong", attacker, **THROUGH_PROXY)
    assert locked.status_code == 429

    # The owner, behind the same proxy but at another address, still gets in.
    owner_signs_in = sign_in(client, factories.PASSWORD, owner, **THROUGH_PROXY)
    assert owner_signs_in.status_code == 302
    client.logout()

    # A forged entry in front of the one the proxy appended changes nothing.
    forged = sign_in(
        client, factories.PASSWORD, f"{owner}, {attacker}", **THROUGH_PROXY
    )
    assert forged.status_code == 429


def test_without_the_proxy_setting_a_forged_forwarded_for_is_ignored(
    client, reseller_user, settings
):
    settings.AXES_FAILURE_LIMIT = 2
    settings.SECURE_PROXY_SSL_HEADER = None
    sign_in(client, "wrong", "203.0.113.1", REMOTE_ADDR="192.0.2.10")
    locked = sign_in(client, "wrong", "203.0.113.2", REMOTE_ADDR="192.0.2.10")
    assert locked.status_code == 429
    still_locked = sign_in(
        client, factories.PASSWORD, "203.0.113.3", REMOTE_ADDR="192.0.2.10"
    )
    assert still_locked.status_code == 429
    # The lock is this username from this address: elsewhere it signs in.
    elsewhere = sign_in(
        client, factories.PASSWORD, "203.0.113.1", REMOTE_ADDR="192.0.2.99"
    )
    assert elsewhere.status_code == 302


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


def deploy_check(*options: str, **overrides: str) -> subprocess.CompletedProcess:
    """Run ``manage.py check --deploy`` with the development environment
    (none of the production variables set) plus ``overrides``."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in PRODUCTION
        and name not in ("CACHE_URL", "DJANGO_ALLOW_ASYNC_UNSAFE")
    }
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", *options],
        cwd=settings.BASE_DIR,
        env={**environment, **overrides},
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_documented_production_settings_pass_djangos_deploy_check():
    result = deploy_check("--fail-level", "WARNING", **PRODUCTION)

    # Only the opt-in to browsers' HSTS preload lists is left: that is the
    # domain owner's decision, not the application's.
    assert result.returncode == 1
    assert re.findall(r"\((\w+\.\w+)\)", result.stderr) == ["security.W021"]

    silenced = deploy_check(
        "--fail-level",
        "WARNING",
        **PRODUCTION,
        DJANGO_SETTINGS_MODULE="tests.deploy_settings",
    )
    assert silenced.returncode == 0, silenced.stderr
    assert "no issues (1 silenced)" in silenced.stdout


def test_the_development_defaults_fail_the_deploy_check():
    result = deploy_check()

    warnings = set(re.findall(r"\((\w+\.\w+)\)", result.stderr))
    assert {"security.W004", "security.W008", "security.W018"} <= warnings


def settings_from_environment(monkeypatch, **environment: str) -> dict:
    """Return the names ``config/settings.py`` defines with ``environment``."""
    for name in [*PRODUCTION, "CACHE_URL", "SENTRY_DSN"]:
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(settings.BASE_DIR / "config" / "settings.py"))


@pytest.mark.parametrize("secure", [True, False])
def test_the_language_cookie_is_secure_when_cookies_are(
    client, settings, monkeypatch, secure
):
    environment = PRODUCTION if secure else {}
    configured = settings_from_environment(monkeypatch, **environment)
    for name in (
        "LANGUAGE_COOKIE_SECURE",
        "LANGUAGE_COOKIE_SAMESITE",
        "LANGUAGE_COOKIE_HTTPONLY",
    ):
        setattr(settings, name, configured[name])

    response = client.post(reverse("set_language"), {"language": "de", "next": "/"})

    cookie = response.cookies[settings.LANGUAGE_COOKIE_NAME]
    assert cookie.value == "de"
    assert bool(cookie["secure"]) is secure
    assert cookie["samesite"] == "Lax"
    assert cookie["httponly"] is True
