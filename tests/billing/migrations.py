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
    """Return the latest billing migration, as a target."""
    executor = MigrationExecutor(connection)
    return executor.loader.graph.leaf_nodes("billing")
