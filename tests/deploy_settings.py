"""The settings as configured by the environment, with the one deploy check
the application leaves open silenced: opting in to browsers' HSTS preload
lists (security.W021) is the domain owner's decision."""

from config.settings import *  # noqa: F403

SILENCED_SYSTEM_CHECKS = [*SILENCED_SYSTEM_CHECKS, "security.W021"]  # noqa: F405
