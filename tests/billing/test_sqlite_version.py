from billing.apps import SQLITE_NEEDED, sqlite_version_check

SQLITE = {"django.db.backends.sqlite3"}
POSTGRES = {"django.db.backends.postgresql"}


def test_an_sqlite_too_old_for_the_ledger_is_refused():
    errors = sqlite_version_check(version=(3, 34, 1), engines=SQLITE)
    assert [error.id for error in errors] == ["billing.E001"]
    assert "3.34.1" in errors[0].msg
    assert sqlite_version_check(version=SQLITE_NEEDED, engines=SQLITE) == []


def test_postgresql_does_not_care_about_sqlite():
    assert sqlite_version_check(version=(3, 20, 0), engines=POSTGRES) == []


def test_this_machine_passes():
    assert sqlite_version_check() == []
