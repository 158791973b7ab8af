"""Production settings plus one minimal view: the HTTP reference of ``make bench``.

Gunicorn serves the product and ``/bench/minimal/`` from the same process, so
the pay flow's requests per second can be set beside those of a view that
does nothing but pass the same middleware.
"""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.http_urls"
