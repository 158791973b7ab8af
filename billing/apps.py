import sqlite3

from django.apps import AppConfig
from django.conf import settings
from django.core import checks
from django.db.backends.signals import connection_created

# The ledger's written-out statements use INSERT … RETURNING (SQLite 3.35)
# and UPDATE … FROM (3.33).
SQLITE_NEEDED = (3, 35, 0)


class BillingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "billing"
    verbose_name = "Billing ledger"

    def ready(self) -> None:
        checks.register(sqlite_version_check)
        connection_created.connect(register_sqlite_functions)


def register_sqlite_functions(sender, connection, **kwargs) -> None:
    """Give an SQLite connection the functions the ledger's SQL calls.

    ``ledger_number_key`` is a document number as bank lines are matched
    against it (``billing.models.NumberKey``); an index is built on it, so it
    must exist wherever documents are written. PostgreSQL computes it in SQL.
    """
    if connection.vendor != "sqlite":
        return
    from billing.models import SQLITE_NUMBER_KEY
    from billing.references import normalize

    connection.connection.create_function(
        SQLITE_NUMBER_KEY, 1, _none_or(normalize), deterministic=True
    )


def _none_or(function):
    def call(value):
        return None if value is None else function(value)

    return call


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
