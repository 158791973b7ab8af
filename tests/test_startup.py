"""Server processes keep what they loaded at start-up out of the collector's
full passes (config/startup.py)."""

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings

PROBE = """
import gc, json, sys
import config.{entry} as entry
print(json.dumps({{
    "frozen": gc.get_freeze_count(),
    "views_loaded": "reseller_panel.views" in sys.modules,
    "application": callable(entry.application),
}}))
"""


def start(entry: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(entry=entry)],
        cwd=settings.BASE_DIR,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(result.stdout)


@pytest.mark.parametrize("entry", ["wsgi", "asgi"])
def test_a_server_process_freezes_the_site_it_loaded(entry):
    started = start(entry)
    assert started["application"]
    # The views are loaded before the freeze, not by the first request.
    assert started["views_loaded"]
    # Django, the project's modules and the URLconf: tens of thousands.
    assert started["frozen"] > 10_000


def test_settling_leaves_the_collector_running_over_new_objects():
    import gc

    from config.startup import settle_startup_objects

    try:
        settle_startup_objects()
        assert gc.isenabled()
        frozen = gc.get_freeze_count()
        assert frozen > 10_000

        class Cycle:
            pass

        made = Cycle()
        made.me = made
        del made
        assert gc.collect() >= 1  # a cycle made after start-up is collected
    finally:
        gc.unfreeze()
