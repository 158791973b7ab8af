import sqlite3

from django.apps import AppConfig
from django.conf import settings
from django.core import checks

# The ledger's written-out statements use INSERT … RETURNING (SQLite 3.35)
# and UPDATE … FROM (3.33).
SQLITE_NEEDED = (3, 35, 0)


class BillingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "billing"
    verbose_name = "Billing ledger"

    def ready(self) -> None:
        checks.register(sqlite_version_check)


def sqlite_version_check(app_configs=None, *, version=None, engines=None, **kwargs):
    """Refuse an SQLite older than the ledger's statements need."""
    engines = engines or {db["ENGINE"] for db in settings.DATABASES.values()}
    version = version or sqlite3.sqlite_version_info
    if "django.db.backends.sqlite3" not in engines or version >= SQLITE_NEEDED:
        return []
    return [
        checks.Error(
            f"SQLite {_dotted(version)} is too old for the ledger: it needs "
            f"{_dotted(SQLITE_NEEDED)} or newer.",
            hint="Use a newer Python/SQLite build, or PostgreSQL (DATABASE_URL).",
            id="billing.E001",
        )
    ]


def _dotted(version) -> str:
    return ".".join(map(str, version))
