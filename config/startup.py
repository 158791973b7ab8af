"""What a long-running process does once it has started.

A server process (gunicorn's workers, an ASGI server) keeps every module,
class and URL pattern it loaded at start-up until it exits. Python's cyclic
collector walks all of them on each of its full passes, and a full pass
comes whenever enough new objects have survived: in a worker that has
loaded the whole site that is a pause of tens of milliseconds in the middle
of whichever request happens to trigger it (a payment of a thousand
documents triggered one, ~55 ms of its time). :func:`settle_startup_objects`
loads what requests would otherwise load lazily and moves it all out of the
collector's sight (``gc.freeze``); the collector still runs, over what
requests make.
"""

import gc


def settle_startup_objects() -> None:
    """Load the site's URLs and views, then freeze every object made so far."""
    from django.urls import get_resolver

    get_resolver().check()  # imports every view module the site routes to
    gc.collect()  # what start-up made and dropped is freed, not frozen
    gc.freeze()
