"""Running the billing migrations to a given state, for tests of their data."""

from __future__ import annotations

from django.db import connection
from django.db.migrations.executor import MigrationExecutor


def migrate(targets):
    """Migrate to ``targets``; return the apps of that state."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return MigrationExecutor(connection).loader.project_state(targets).apps


def latest():
    """Return every app's latest migration, as targets: going back in billing
    also unapplies the other apps' migrations that depend on it."""
    executor = MigrationExecutor(connection)
    return executor.loader.graph.leaf_nodes()
