"""``make bench`` works: its quick mode measures every figure and reference.

The quick mode runs on tiny data, once; its numbers are not looked at (timing
belongs in ``make bench``, never in a test). What is checked is that each
figure and its reference produced a measurement and that the report names
the machine and every command.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.conftest import require

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432/postgres"

pytestmark = pytest.mark.postgres


def postgres_server() -> str:
    """Return the PostgreSQL server to use: DATABASE_URL's, else the local one."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        url = DEFAULT_SERVER
    return urlunsplit(urlsplit(url)._replace(path="/postgres"))


def reachable(url: str) -> bool:
    import psycopg

    try:
        psycopg.connect(url, connect_timeout=3).close()
    except psycopg.Error:
        return False
    return True


@pytest.fixture
def bench_database():
    """A database of its own, dropped afterwards (the harness recreates it)."""
    import psycopg

    server = postgres_server()
    require(reachable(server), f"no PostgreSQL server at {server}")
    require(shutil.which("pgbench") is not None, "pgbench is not installed")
    name = f"bench_quick_{os.getpid()}"
    yield urlunsplit(urlsplit(server)._replace(path=f"/{name}"))
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_quick_mode_measures_every_figure_beside_its_reference(
    bench_database, tmp_path
):
    markdown = tmp_path / "BENCHMARKS.md"
    markdown.write_text("# Benchmarks\n\nprose kept\n")
    results = tmp_path / "results.json"
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.harness",
            "--quick",
            "--database-url",
            bench_database,
            "--markdown",
            str(markdown),
            "--json",
            str(results),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]

    data = json.loads(results.read_text())
    names = {figure["name"] for figure in data["figures"]}
    assert names >= {
        "pay_1p_spread",
        "pay_latency",
        "pay_4p_spread",
        "pay_4p_one_reseller",
        "pay_1000_documents",
        "link_4p",
        "post_4p_prepaid",
        "import_documents",
        "http_pay_flow",
        "page_home",
        "page_unpaid",
        "page_documents",
        "page_classic_documents",
    }
    for figure in data["figures"]:
        assert figure["product"] and all(v > 0 for v in figure["product"]), figure
        assert figure["reference"] and all(v > 0 for v in figure["reference"])
        assert figure["ratio"] is not None
    http = next(f for f in data["figures"] if f["name"] == "http_pay_flow")
    assert http["notes"] == []  # every confirmation answered with its receipt
    for run in ("minimal", "pay flow"):
        for cpu in http["extra"][f"CPU, {run}"]:
            assert cpu["gunicorn ms/request"] > 0, cpu
            assert cpu["locust ms/request"] > 0, cpu
    # The figures of worker processes against pgbench say what each side
    # cost the machine, the client's share and the whole.
    for name in ("pay_1p_spread", "pay_4p_spread", "pay_4p_one_reseller", "link_4p"):
        figure = next(f for f in data["figures"] if f["name"] == name)
        for side in ("product", "reference"):
            (cpu,) = figure["extra"][f"CPU, {side}"]
            assert 0 < cpu["client ms/operation"] <= cpu["machine ms/operation"], cpu
            assert 0 < cpu["client cores"] <= cpu["machine cores"], cpu
    # The 1,000-document payment says where its time went, the import how
    # fast the database alone posts the same rows.
    big = next(f for f in data["figures"] if f["name"] == "pay_1000_documents")
    for parts in big["extra"]["where the time went, ms"]:
        assert set(parts) == {"lock and read", "write", "commit", "python"}
        assert parts["write"] > 0 and parts["commit"] > 0, parts
    imported = next(f for f in data["figures"] if f["name"] == "import_documents")
    floor = imported["extra"]["database floor, rows/s"]
    assert floor and all(rate > 0 for rate in floor)
    assert data["machine"]["cores"] and data["machine"]["postgresql"]
    assert any(command.startswith("pgbench") for command in data["commands"])

    report = markdown.read_text()
    assert report.startswith("# Benchmarks\n\nprose kept\n")
    assert "| pay_documents, 2 processes, one reseller |" in report
