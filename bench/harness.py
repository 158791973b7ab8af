"""``make bench``: every product figure beside a reference from the same run.

Run ``python -m bench.harness`` (``make bench``) against PostgreSQL. It
recreates the benchmark database (``DATABASE_URL``, default
``postgres://postgres@127.0.0.1:5432/perf_bench``), seeds it, and measures
each figure of the product together with what PostgreSQL (``pgbench``,
``COPY``) or a minimal Django view does on the same machine in the same
minute, repeated, interleaved. It writes the results between the markers of
``BENCHMARKS.md`` and as JSON, with the machine, the database settings and
every command, so anyone can repeat them.

``--quick`` runs every figure once on tiny data: it proves the harness works
(CI runs it) and its numbers mean nothing.

Multi-process figures fork real worker processes, each with its own database
connection, started together on a barrier. Only ratios against a reference
measured in the same run are compared with targets: the machine is shared.
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing
import os
import platform
import re
import resource
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/perf_bench"
MARK_START = "<!-- bench:results:start -->"
MARK_END = "<!-- bench:results:end -->"
COPY_TABLE = (
    "CREATE TABLE bench_copy (marketplace text, reseller text, kind text, "
    "number text, issue_date date, due_date date, total numeric, currency text, "
    "description text)"
)
COPY_SQL = "COPY bench_copy FROM STDIN WITH (FORMAT csv, HEADER true)"
# The database's own work for the rows the import posted, with no Python: the
# copied rows inserted again as documents (numbers suffixed, so they are new)
# with their audit entries in one statement, in the import's order (per
# reseller, by line), then the deferred foreign-key checks a commit would
# run; rolled back and vacuumed away. Amounts are stored in thousandths.
IMPORT_FLOOR_SQL = (
    "WITH d AS (INSERT INTO billing_document (reseller_id, marketplace_id, kind, "
    "number, issue_date, due_date, total, open_amount, description, source, "
    "created_at, hold_reason) "
    "SELECT r.id, r.marketplace_id, c.kind, c.number || '-F', c.issue_date, "
    "c.due_date, "
    "c.total * 1000, c.total * 1000, c.description, 'import', now(), '' "
    "FROM bench_copy c JOIN billing_reseller r ON r.id = c.reseller::bigint "
    "ORDER BY r.id, c.number "
    "RETURNING id, reseller_id, kind, number, total) "
    "INSERT INTO billing_auditevent (reseller_id, action, actor_id, source, "
    "reason, document_id, amount, summary, facts, created_at) "
    "SELECT d.reseller_id, 'document_posted', NULL, 'import', '', d.id, d.total, "
    "'Invoice ' || d.number || ' posted', jsonb_build_object('kind', d.kind, "
    "'number', d.number, 'amount', (d.total / 1000.0)::text, 'currency', 'EUR'), "
    "now() FROM d"
)
PG_SETTINGS = (
    "shared_buffers",
    "max_connections",
    "synchronous_commit",
    "fsync",
    "wal_level",
    "work_mem",
    "effective_cache_size",
    "max_wal_size",
    "checkpoint_timeout",
    "random_page_cost",
    "jit",
)
PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "bench-" + "x" * 60,
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
}


# The warm-up selection of the 1,000-document figure: more than
# ``billing.rows.FEW_ROWS``, so that it takes the same many-row writes.
WARM_UP_INVOICES = 40
# Operations each worker of a one-operation figure makes from its share
# before the measured window, as the product's server processes have made
# many: a process's first payment loads what nothing used yet (babel's
# locale data for the audit sentence, ~20 ms of CPU, under the reseller's
# lock) and its second prepares the statements on the server
# (``prepare_threshold``). The 1,000-document figure's one operation is
# its whole share: its worker warms up on a selection of its own instead.
WARM_UP_OPERATIONS = 3
WARMED_BY_OPERATIONS = {"pay", "link", "post"}


@dataclass(frozen=True)
class Size:
    """How much data and time each figure gets."""

    repeats: int
    seconds: float
    workers: int
    resellers: int
    invoices: int
    hot_invoices: int
    selection: int
    selection_credits: int
    import_rows: int
    page_account_docs: int
    page_database_docs: int
    page_requests: int
    pgbench_scale: int
    http_workers: int
    http_users: int
    http_seconds: int
    http_invoices: int


FULL = Size(
    repeats=3,
    seconds=5,
    workers=4,
    resellers=200,
    # Three repetitions of one and four processes paying for 5 s each used
    # up 100 invoices per reseller once a payment took ~2 ms.
    invoices=250,
    hot_invoices=10_000,
    selection=1_000,
    selection_credits=500,
    import_rows=200_000,
    page_account_docs=100_000,
    page_database_docs=1_000_000,
    page_requests=21,
    pgbench_scale=10,
    http_workers=4,
    http_users=8,
    http_seconds=10,
    http_invoices=1_500,
)
QUICK = Size(
    repeats=1,
    seconds=0.5,
    workers=2,
    resellers=4,
    # Enough that one process paying for half a second leaves invoices for
    # the next figure (~300 payments at ~3 ms: 40 each ran out).
    invoices=250,
    hot_invoices=100,
    selection=20,
    selection_credits=10,
    import_rows=100,
    page_account_docs=300,
    page_database_docs=1_000,
    page_requests=1,
    pgbench_scale=1,
    http_workers=2,
    http_users=2,
    http_seconds=4,
    http_invoices=40,
)


@dataclass
class Figure:
    """One product figure and its reference, every repetition kept."""

    name: str
    title: str
    unit: str
    reference_title: str
    reference_unit: str
    target: str
    # "ratio >= x" compares product / reference, "ratio <= x" likewise,
    # "value <= x" compares the product's median alone.
    check: tuple[str, float] | None
    product: list[float] = field(default_factory=list)
    reference: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if not self.product or not self.reference:
            return None
        reference = statistics.median(self.reference)
        return statistics.median(self.product) / reference if reference else None

    @property
    def met(self) -> bool | None:
        if self.check is None or not self.product:
            return None
        kind, bound = self.check
        value = statistics.median(self.product) if kind.startswith("value") else None
        if value is None:
            value = self.ratio
        if value is None:
            return None
        return value >= bound if kind.endswith(">=") else value <= bound


class Harness:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.size = QUICK if args.quick else FULL
        if args.repeats:
            self.size = Size(**{**asdict(self.size), "repeats": args.repeats})
        if args.seconds:
            self.size = Size(**{**asdict(self.size), "seconds": args.seconds})
        if args.import_rows:
            self.size = Size(**{**asdict(self.size), "import_rows": args.import_rows})
        self.url = args.database_url
        self.dbname = urlsplit(self.url).path.lstrip("/")
        self.commands: list[str] = []
        self.figures: list[Figure] = []
        self.run_id = f"{int(time.time()) % 1_000_000}"
        self.tmp = Path(tempfile.mkdtemp(prefix="bench-"))

    # --- plumbing ------------------------------------------------------------

    def log(self, text: str) -> None:
        print(text, flush=True)

    def run(self, argv: list[str], **kwargs) -> subprocess.CompletedProcess:
        """Run an external command, recording it for the report."""
        self.commands.append(shlex.join(str(part) for part in argv))
        return subprocess.run(
            argv, check=True, capture_output=True, text=True, **kwargs
        )

    def pg_env(self) -> dict[str, str]:
        parts = urlsplit(self.url)
        env = dict(os.environ)
        env.update(
            PGHOST=parts.hostname or "127.0.0.1",
            PGPORT=str(parts.port or 5432),
            PGUSER=parts.username or "postgres",
            PGDATABASE=self.dbname,
        )
        if parts.password:
            env["PGPASSWORD"] = parts.password
        return env

    def recreate_database(self) -> None:
        import psycopg

        admin = urlunsplit(urlsplit(self.url)._replace(path="/postgres"))
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.dbname}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{self.dbname}"')
        self.commands.append(f"DROP DATABASE / CREATE DATABASE {self.dbname}")

    def setup_django(self) -> None:
        os.environ["DATABASE_URL"] = self.url
        os.environ.update(PRODUCTION_ENV)
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        self.commands.append(
            f"DATABASE_URL={self.url} DEBUG=false python manage.py migrate"
        )

    def machine(self) -> dict:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            version = cursor.fetchone()[0]
            settings = {}
            for name in PG_SETTINGS:
                cursor.execute(f"SHOW {name}")
                settings[name] = cursor.fetchone()[0]
        meminfo = Path("/proc/meminfo").read_text().split("\n", 1)[0]
        kib = int(re.findall(r"\d+", meminfo)[0])
        return {
            "cores": os.cpu_count(),
            "memory_gib": round(kib / 1024 / 1024, 1),
            "cpu": _cpu_model(),
            "python": platform.python_version(),
            "os": platform.platform(),
            "postgresql": version,
            "postgresql_settings": settings,
            "django_database_options": _database_options(),
            "pgbench": _first_line(["pgbench", "--version"]),
        }

    # --- seeding -------------------------------------------------------------

    def seed(self) -> None:
        from billing.models import (
            CreditPolicy,
            DocumentKind,
            Marketplace,
            PaymentModel,
            Reseller,
        )

        size = self.size
        self.log("seeding …")
        term = Marketplace.objects.create(
            code="BENCH",
            name="Bench",
            currency="EUR",
            term_credit_policy=CreditPolicy.SELF_SERVICE,
        )
        pre = Marketplace.objects.create(code="BENCHP", name="Prepaid", currency="EUR")
        self.term, self.pre = term, pre

        def resellers(market, model, count, prefix):
            return Reseller.objects.bulk_create(
                Reseller(
                    marketplace=market,
                    name=f"{prefix}{i:04d}",
                    currency="EUR",
                    payment_model=model,
                )
                for i in range(count)
            )

        self.spread = resellers(term, PaymentModel.TERM, size.resellers, "spread-")
        (self.hot,) = resellers(term, PaymentModel.TERM, 1, "hot-")
        self.linkers = resellers(term, PaymentModel.TERM, size.workers, "link-")
        self.prepaid = resellers(pre, PaymentModel.PREPAID, size.workers, "pre-")
        self.selectors = resellers(term, PaymentModel.TERM, size.repeats, "big-")
        self.warmers = resellers(term, PaymentModel.TERM, size.repeats, "warm-")
        self.http = resellers(term, PaymentModel.TERM, size.http_users, "http-")
        invoice, memo = DocumentKind.INVOICE, DocumentKind.CREDIT_MEMO
        rows = []
        for reseller in self.spread:
            rows += _docs(reseller, invoice, size.invoices, "10.00")
            rows += _docs(reseller, memo, 1, f"{size.invoices * 10}.00")
        rows += _docs(self.hot, invoice, size.hot_invoices, "10.00")
        rows += _docs(self.hot, memo, 1, f"{size.hot_invoices * 10}.00")
        for reseller in self.linkers:
            rows += _docs(reseller, invoice, 1, "100000.00")
            rows += _docs(reseller, memo, 1, "100000.00")
        for reseller in self.prepaid:
            rows += _docs(reseller, memo, 1, "10000000.00")
        for reseller in self.selectors:
            rows += _docs(reseller, invoice, size.selection, "10.00")
            each = f"{size.selection * 10 // size.selection_credits}.00"
            rows += _docs(reseller, memo, size.selection_credits, each)
        for reseller in self.warmers:
            rows += _docs(reseller, invoice, WARM_UP_INVOICES, "10.00")
            rows += _docs(reseller, memo, WARM_UP_INVOICES // 2, "20.00")
        for reseller in self.http:
            rows += _docs(reseller, invoice, size.http_invoices, "10.00")
            rows += _docs(reseller, memo, 1, f"{size.http_invoices * 10}.00")
        copy_documents(rows)
        self.commands.append(
            "seed: COPY billing_document (marketplaces BENCH/BENCHP, see "
            "bench/harness.py Harness.seed)"
        )

    def settle(self) -> None:
        """Bring the database to the state autovacuum keeps a live one in.

        Run before each group of figures: fresh statistics and visibility map
        for what was seeded or written since (a freshly copied table has
        neither, and its first readers pay for the hint bits), and a
        checkpoint, so no figure shares the machine with writing out the
        previous group's pages.
        """
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
            cursor.execute("CHECKPOINT")

    def open_invoices(self, reseller_ids: list[int]) -> dict[int, list[int]]:
        from billing.models import Document, DocumentKind

        found: dict[int, list[int]] = {pk: [] for pk in reseller_ids}
        rows = (
            Document.objects.filter(
                reseller_id__in=reseller_ids,
                kind=DocumentKind.INVOICE,
                open_amount__gt=0,
            )
            .order_by("id")
            .values_list("reseller_id", "id")
        )
        for reseller_id, pk in rows:
            found[reseller_id].append(pk)
        return found

    # --- references ----------------------------------------------------------

    def pgbench_init(self) -> None:
        self.run(
            ["pgbench", "-i", "-q", "-s", str(self.size.pgbench_scale)],
            env=self.pg_env(),
        )

    def pgbench(self, clients: int, script: str | None = None) -> tuple[float, dict]:
        """Return the transactions per second pgbench reaches, and what the
        run cost the machine (:class:`CpuMeter`, pgbench as the client)."""
        argv = ["pgbench", "-n", "-c", str(clients), "-j", str(clients)]
        argv += ["-T", str(max(1, round(self.size.seconds)))]
        if script:
            argv += ["-f", str(ROOT / "bench" / script)]
        meter = CpuMeter()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        done = self.run(argv, env=self.pg_env())
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        client = sum(
            getattr(after, name) - getattr(before, name)
            for name in ("ru_utime", "ru_stime")
        )
        count = re.search(r"transactions actually processed: (\d+)", done.stdout)
        cpu = meter.stop(client, int(count.group(1)))
        match = re.search(r"tps = ([\d.]+)", done.stdout)
        return float(match.group(1)), cpu

    # --- product figures -----------------------------------------------------

    def workers(self, action: str, shares: list[list], seconds: float) -> dict:
        """Run ``action`` over each share in its own process; return totals."""
        from django.db import connections

        connections.close_all()
        ctx = multiprocessing.get_context("fork")
        # The workers and this process: the machine's CPU is read from the
        # moment all of them are ready.
        barrier = ctx.Barrier(len(shares) + 1)
        queue = ctx.Queue()
        procs = [
            ctx.Process(
                target=_worker, args=(action, share, seconds, barrier, queue, n)
            )
            for n, share in enumerate(shares)
        ]
        for proc in procs:
            proc.start()
        try:
            barrier.wait(timeout=300)
        except threading.BrokenBarrierError:
            pass  # a worker failed: its result says why
        meter = CpuMeter()
        results = [queue.get(timeout=seconds + 600) for _ in procs]
        for proc in procs:
            proc.join()
        errors = [r["error"] for r in results if r["error"]]
        if errors:
            raise RuntimeError(f"{action} failed in a worker: {errors[0]}")
        done = sum(r["done"] for r in results)
        elapsed = max(r["elapsed"] for r in results)
        latencies = [ms for r in results for ms in r["latencies"]]
        return {
            "per_second": done / elapsed if elapsed else 0.0,
            "done": done,
            "latency_ms": statistics.median(latencies) if latencies else None,
            "exhausted": any(r["exhausted"] for r in results),
            "parts": [p for r in results for p in r.get("parts", [])],
            "cpu": meter.stop(sum(r["cpu"] for r in results), done),
        }

    def spread_shares(self, count: int) -> list[list]:
        ids = [r.pk for r in self.spread]
        invoices = self.open_invoices(ids)
        shares = []
        for n in range(count):
            mine = ids[n::count]
            depth = max(len(invoices[pk]) for pk in mine)
            shares.append(
                [
                    (pk, invoices[pk][i])
                    for i in range(depth)
                    for pk in mine
                    if i < len(invoices[pk])
                ]
            )
        return shares

    def figure_payments(self) -> None:
        size = self.size
        one = Figure(
            "pay_1p_spread",
            "pay_documents, 1 process, spread over resellers",
            "payments/s",
            "pgbench tpcb-like, 1 client",
            "tps",
            "(no target; context)",
            None,
        )
        latency = Figure(
            "pay_latency",
            "one payment in one process, median",
            "ms",
            "pgbench tpcb-like, 1 client, mean latency",
            "ms",
            "≤ 3 ms",
            ("value <=", 3.0),
        )
        spread = Figure(
            "pay_4p_spread",
            f"pay_documents, {size.workers} processes, spread",
            "payments/s",
            f"pgbench tpcb-like, {size.workers} clients",
            "tps",
            "≥ 0.25",
            ("ratio >=", 0.25),
        )
        hot = Figure(
            "pay_4p_one_reseller",
            f"pay_documents, {size.workers} processes, one reseller",
            "payments/s",
            f"pgbench lock+update+insert one row, {size.workers} clients",
            "tps",
            "≥ 0.25",
            ("ratio >=", 0.25),
        )
        for rep in range(size.repeats):
            self.log(f"payments, repetition {rep + 1}")
            tps, reference_cpu = self.pgbench(1)
            one.reference.append(tps)
            latency.reference.append(1000 / tps)
            result = self.workers("pay", self.spread_shares(1), size.seconds)
            one.product.append(result["per_second"])
            _note_cpu(one, result["cpu"], reference_cpu)
            if result["latency_ms"] is not None:
                latency.product.append(result["latency_ms"])
            else:
                latency.notes.append(
                    f"repetition {rep + 1} found no invoice left to pay: seed more"
                )
            _note_exhausted(one, result)

            tps, reference_cpu = self.pgbench(size.workers)
            spread.reference.append(tps)
            result = self.workers("pay", self.spread_shares(size.workers), size.seconds)
            spread.product.append(result["per_second"])
            _note_cpu(spread, result["cpu"], reference_cpu)
            _note_exhausted(spread, result)

            tps, reference_cpu = self.pgbench(
                size.workers, "pgbench_lock_update_insert.sql"
            )
            hot.reference.append(tps)
            invoices = self.open_invoices([self.hot.pk])[self.hot.pk]
            shares = [
                [(self.hot.pk, pk) for pk in invoices[n :: size.workers]]
                for n in range(size.workers)
            ]
            result = self.workers("pay", shares, size.seconds)
            hot.product.append(result["per_second"])
            _note_cpu(hot, result["cpu"], reference_cpu)
            _note_exhausted(hot, result)
        self.figures += [one, latency, spread, hot]

    def figure_big_selection(self) -> None:
        size = self.size
        single = [f for f in self.figures if f.name == "pay_latency"]
        figure = Figure(
            "pay_1000_documents",
            f"pay_documents over {size.selection:,} selected documents with "
            f"{size.selection_credits} credits",
            "ms",
            "one payment over 1 document (median of pay_latency)",
            "ms",
            "≤ 20×",
            ("ratio <=", 20.0),
        )
        for rep in range(size.repeats):
            # The worker first pays a smaller selection of another reseller
            # (untimed), so that the figure is a payment of a process that
            # has paid before, as the one-payment figure is: the first
            # payment of a process costs ~50 ms more, once.
            reseller, warmer = self.selectors[rep], self.warmers[rep]
            invoices = self.open_invoices([reseller.pk, warmer.pk])
            share = [
                (reseller.pk, invoices[reseller.pk], warmer.pk, invoices[warmer.pk])
            ]
            result = self.workers("pay_many", [share], 3600)
            figure.product.append(result["latency_ms"])
            for parts in result["parts"]:
                figure.extra.setdefault("where the time went, ms", []).append(parts)
        if single:
            figure.reference = list(single[0].product)
        else:
            figure.notes.append("run with the payments figure for its reference")
        self.figures.append(figure)

    def figure_link_and_post(self) -> None:
        size = self.size
        link = Figure(
            "link_4p",
            f"link_documents, {size.workers} processes, spread",
            "links/s",
            f"pgbench tpcb-like, {size.workers} clients",
            "tps",
            "≥ 0.25",
            ("ratio >=", 0.25),
        )
        post = Figure(
            "post_4p_prepaid",
            f"post_document (prepaid, auto-apply), {size.workers} processes",
            "documents/s",
            f"pgbench tpcb-like, {size.workers} clients",
            "tps",
            "≥ 0.25",
            ("ratio >=", 0.25),
        )
        from billing.models import Document

        pairs = {}
        for doc in Document.objects.filter(reseller__in=self.linkers):
            pairs.setdefault(doc.reseller_id, {})[doc.kind] = doc.pk
        for rep in range(size.repeats):
            self.log(f"link and post, repetition {rep + 1}")
            tps, reference_cpu = self.pgbench(size.workers)
            link.reference.append(tps)
            post.reference.append(tps)
            shares = [
                [(r.pk, pairs[r.pk]["credit_memo"], pairs[r.pk]["invoice"])]
                for r in self.linkers
            ]
            result = self.workers("link", shares, size.seconds)
            link.product.append(result["per_second"])
            _note_cpu(link, result["cpu"], reference_cpu)
            shares = [[(r.pk, f"{self.run_id}-{rep}")] for r in self.prepaid]
            result = self.workers("post", shares, size.seconds)
            post.product.append(result["per_second"])
            _note_cpu(post, result["cpu"], reference_cpu)
        self.figures += [link, post]

    def figure_import(self) -> None:
        size = self.size
        figure = Figure(
            "import_documents",
            f"import_documents of {size.import_rows:,} rows",
            "rows/s",
            "COPY of the same rows into a plain table",
            "rows/s",
            "≥ 0.2; memory < 300 MB",
            ("ratio >=", 0.2),
        )
        env = {**self.pg_env(), "DATABASE_URL": self.url, **PRODUCTION_ENV}
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(COPY_TABLE)
        self.commands += [
            COPY_TABLE,
            f"{COPY_SQL} -- the import's CSV file, timed",
            "BEGIN; <IMPORT_FLOOR_SQL, bench/harness.py>; SET CONSTRAINTS ALL "
            "IMMEDIATE; ROLLBACK -- the import's database floor, timed; then "
            "VACUUM billing_document, billing_auditevent",
        ]
        resellers = [r.pk for r in self.spread]
        for rep in range(size.repeats):
            path = self.tmp / f"import-{rep}.csv"
            with path.open("w", newline="") as stream:
                writer = csv.writer(stream)
                writer.writerow(
                    [
                        "marketplace",
                        "reseller",
                        "kind",
                        "number",
                        "issue_date",
                        "due_date",
                        "total",
                        "currency",
                        "description",
                    ]
                )
                for i in range(size.import_rows):
                    writer.writerow(
                        [
                            "BENCH",
                            resellers[i % len(resellers)],
                            "invoice",
                            f"IMP-{self.run_id}-{rep}-{i:07d}",
                            "2025-01-01",
                            "2025-01-31",
                            "12.34",
                            "EUR",
                            "imported",
                        ]
                    )
            with psycopg.connect(self.url, autocommit=True) as conn:
                conn.execute("TRUNCATE bench_copy")
                start = time.perf_counter()
                with conn.cursor().copy(COPY_SQL) as copy, path.open("rb") as data:
                    while chunk := data.read(1 << 16):
                        copy.write(chunk)
                elapsed = time.perf_counter() - start
            figure.reference.append(size.import_rows / elapsed)
            argv = [
                sys.executable,
                "manage.py",
                "import_documents",
                str(path),
                "--progress-every",
                "0",
            ]
            self.commands.append(shlex.join(argv))
            start = time.perf_counter()
            proc = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            _pid, status, usage = os.wait4(proc.pid, 0)
            elapsed = time.perf_counter() - start
            if os.waitstatus_to_exitcode(status) != 0:
                raise RuntimeError(f"import failed: {proc.stderr.read()[:2000]}")
            proc.stderr.close()
            figure.product.append(size.import_rows / elapsed)
            figure.extra.setdefault("max_rss_mb", []).append(
                round(usage.ru_maxrss / 1024, 1)
            )
            figure.extra.setdefault("database floor, rows/s", []).append(
                round(size.import_rows / self.import_floor())
            )
        self.figures.append(figure)

    def import_floor(self) -> float:
        """Seconds the database takes to post the copied rows, Python aside."""
        import psycopg

        with psycopg.connect(self.url) as conn:
            start = time.perf_counter()
            posted = conn.execute(IMPORT_FLOOR_SQL).rowcount
            conn.execute("SET CONSTRAINTS ALL IMMEDIATE")
            elapsed = time.perf_counter() - start
            conn.rollback()
            if posted != self.size.import_rows:
                raise RuntimeError(f"the import's floor posted {posted} rows")
            conn.autocommit = True
            conn.execute("VACUUM billing_document, billing_auditevent")
        return elapsed

    def figure_http(self) -> None:
        size = self.size
        figure = Figure(
            "http_pay_flow",
            f"panel pay flow over HTTP (preview GET + confirm POST), gunicorn "
            f"{size.http_workers} workers, Locust {size.http_users} users",
            "requests/s",
            "minimal Django view, same server, same users",
            "requests/s",
            "≥ 0.3",
            ("ratio >=", 0.3),
        )
        accounts = self.http_accounts()
        port = _free_port()
        env = {
            **os.environ,
            **PRODUCTION_ENV,
            "DATABASE_URL": self.url,
            "DJANGO_SETTINGS_MODULE": "bench.http_settings",
        }
        gunicorn = [
            str(Path(sys.executable).parent / "gunicorn"),
            "config.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(size.http_workers),
            "--log-level",
            "warning",
        ]
        self.commands.append(
            "DJANGO_SETTINGS_MODULE=bench.http_settings DEBUG=false "
            + shlex.join(gunicorn)
        )
        server = subprocess.Popen(gunicorn, cwd=ROOT, env=env)
        try:
            _wait_for_port(port)
            for rep in range(size.repeats):
                self.log(f"http, repetition {rep + 1}")
                ref = self.locust(server.pid, port, "minimal", accounts, f"min-{rep}")
                figure.reference.append(ref["rps"])
                # The first run's users pay the first invoices, and so on.
                slice_ = [
                    {**a, "invoices": a["invoices"][rep :: size.repeats]}
                    for a in accounts
                ]
                pay = self.locust(server.pid, port, "pay", slice_, f"pay-{rep}")
                figure.product.append(pay["rps"])
                for name in ("pay preview", "pay confirm", "minimal"):
                    stats = (pay if name != "minimal" else ref)["by_name"].get(name)
                    if stats:
                        figure.extra.setdefault(name, []).append(stats)
                for name, run in (("minimal", ref), ("pay flow", pay)):
                    figure.extra.setdefault(f"CPU, {name}", []).append(run["cpu"])
                if pay["failures"]:
                    figure.notes.append(
                        f"repetition {rep + 1}: {pay['failures']} failed requests"
                    )
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
        self.figures.append(figure)

    def http_accounts(self) -> list[dict]:
        from django.conf import settings
        from django.contrib.auth import (
            BACKEND_SESSION_KEY,
            HASH_SESSION_KEY,
            SESSION_KEY,
            get_user_model,
        )
        from django.contrib.sessions.backends.db import SessionStore

        from billing.models import ResellerMembership

        invoices = self.open_invoices([r.pk for r in self.http])
        accounts = []
        for reseller in self.http:
            user = get_user_model().objects.create_user(
                f"bench-{reseller.pk}", password=None
            )
            ResellerMembership.objects.create(user=user, reseller=reseller)
            session = SessionStore()
            session[SESSION_KEY] = str(user.pk)
            # The backend a sign-in with a password records.
            session[BACKEND_SESSION_KEY] = "reseller_panel.backends.MembershipBackend"
            session[HASH_SESSION_KEY] = user.get_session_auth_hash()
            session.create()
            accounts.append(
                {
                    "cookie_name": settings.SESSION_COOKIE_NAME,
                    "session": session.session_key,
                    "invoices": invoices[reseller.pk],
                }
            )
        return accounts

    def locust(
        self, server: int, port: int, mode: str, accounts: list[dict], tag: str
    ) -> dict:
        """Run Locust against the server; return its rates and the CPU used.

        ``cpu`` is the CPU time per request, in ms, of gunicorn (master and
        workers), of Locust and of the local PostgreSQL server, and the cores
        each kept busy: all three share this machine, so a reference whose
        Locust process keeps a whole core busy is bound by Locust, not by the
        server.
        """
        size = self.size
        path = self.tmp / f"accounts-{tag}.json"
        path.write_text(json.dumps(accounts))
        prefix = self.tmp / f"locust-{tag}"
        argv = [
            str(Path(sys.executable).parent / "locust"),
            "-f",
            "bench/locustfile.py",
            "--headless",
            "--host",
            f"http://127.0.0.1:{port}",
            "--users",
            str(size.http_users),
            "--spawn-rate",
            str(size.http_users),
            "--run-time",
            f"{size.http_seconds}s",
            "--stop-timeout",
            "5",
            "--csv",
            str(prefix),
            "--only-summary",
            "--loglevel",
            "WARNING",
        ]
        env = {**os.environ, "BENCH_ACCOUNTS": str(path), "BENCH_MODE": mode}
        self.commands.append(f"BENCH_MODE={mode} " + shlex.join(argv))
        before = (
            _cpu_seconds(_children(server) | {server}),
            _cpu_seconds(_postgres_pids()),
        )
        locust_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
        elapsed = time.perf_counter() - started
        locust_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        after = (
            _cpu_seconds(_children(server) | {server}),
            _cpu_seconds(_postgres_pids()),
        )
        used = {
            "gunicorn": _used(before[0], after[0]),
            "locust": sum(
                getattr(locust_after, f) - getattr(locust_before, f)
                for f in ("ru_utime", "ru_stime")
            ),
            "postgresql": _used(before[1], after[1]),
        }
        by_name = {}
        total = {}
        with open(f"{prefix}_stats.csv", newline="") as stream:
            for row in csv.DictReader(stream):
                entry = {
                    "requests": int(row["Request Count"]),
                    "failures": int(row["Failure Count"]),
                    "rps": _locust_number(row["Requests/s"]),
                    "p50_ms": _locust_number(row["50%"]),
                    "p99_ms": _locust_number(row["99%"]),
                }
                if row["Name"] == "Aggregated":
                    total = entry
                else:
                    by_name[row["Name"]] = entry
        if not total.get("requests"):
            raise RuntimeError(f"Locust made no request ({mode})")
        cpu = {
            f"{name} ms/request": round(seconds * 1000 / total["requests"], 3)
            for name, seconds in used.items()
        } | {
            f"{name} cores": round(seconds / elapsed, 2)
            for name, seconds in used.items()
        }
        return {
            "rps": total["rps"],
            "failures": total["failures"],
            "by_name": by_name,
            "cpu": cpu,
        }

    def figure_pages(self) -> None:
        size = self.size
        self.log("pages: seeding …")
        from django.contrib.auth import get_user_model
        from django.db import connection
        from django.test import Client
        from django.test.utils import CaptureQueriesContext

        from billing.models import Marketplace, PaymentModel, Reseller

        market = Marketplace.objects.create(code="PAGES", name="Pages", currency="EUR")
        small, big = Reseller.objects.bulk_create(
            Reseller(
                marketplace=market,
                name=name,
                currency="EUR",
                payment_model=PaymentModel.TERM,
            )
            for name in ("pages-small", "pages-big")
        )
        filler = Reseller.objects.bulk_create(
            Reseller(
                marketplace=market,
                name=f"pages-filler-{i}",
                currency="EUR",
                payment_model=PaymentModel.TERM,
            )
            for i in range(100)
        )
        from django.db.models import Count

        existing = Reseller.objects.aggregate(n=Count("documents"))["n"]
        others = max(size.page_database_docs - existing - size.page_account_docs, 0)
        with connection.cursor() as cursor:
            # 10 open invoices each, the rest paid off: years of history.
            for reseller, paid in ((small, 0), (big, size.page_account_docs - 10)):
                _generate_documents(cursor, reseller.pk, market.pk, 10, paid)
            per = others // len(filler)
            for reseller in filler:
                _generate_documents(cursor, reseller.pk, market.pk, 10, per - 10)
            # What autovacuum does on a live database: statistics and the
            # visibility map, without which no index-only scan is planned.
            cursor.execute("VACUUM ANALYZE billing_document")
        self.commands.append(
            "pages: INSERT … SELECT generate_series (see _generate_documents)"
        )
        total = Reseller.objects.aggregate(n=Count("documents"))["n"]
        User = get_user_model()
        agent = User.objects.create_user("bench-agent", is_superuser=True)
        market.staff.add(agent)
        from billing.models import ResellerMembership

        clients = {}
        for reseller in (small, big):
            user = User.objects.create_user(f"bench-pages-{reseller.pk}")
            ResellerMembership.objects.create(user=user, reseller=reseller)
            client = Client(HTTP_HOST="127.0.0.1")
            client.force_login(user)
            staff = Client(HTTP_HOST="127.0.0.1")
            staff.force_login(agent)
            clients[reseller.pk] = (client, staff)
        pages = [
            ("home", "/", 0),
            ("unpaid", "/unpaid/", 0),
            ("documents", "/documents/", 0),
            ("classic documents", "/classic/resellers/{pk}/", 1),
        ]
        for name, url, who in pages:
            figure = Figure(
                f"page_{name.replace(' ', '_')}",
                f"{name} page, reseller with {size.page_account_docs:,} documents "
                f"in {total:,}",
                "ms",
                "same page, reseller with 10 documents",
                "ms",
                "≤ 1.5×, same query count",
                ("ratio <=", 1.5),
            )
            counts = {}
            pair = ((big, figure.product), (small, figure.reference))
            for reseller, _series in pair:
                clients[reseller.pk][who].get(url.format(pk=reseller.pk))  # warm
            # Big and small alternate, so a busy moment of the machine falls
            # on both alike.
            for _ in range(size.page_requests):
                for reseller, series in pair:
                    target = url.format(pk=reseller.pk)
                    with CaptureQueriesContext(connection) as queries:
                        start = time.perf_counter()
                        response = clients[reseller.pk][who].get(target)
                        series.append((time.perf_counter() - start) * 1000)
                    if response.status_code != 200:
                        raise RuntimeError(f"{target}: {response.status_code}")
                    counts[reseller.name] = len(queries)
            figure.extra["queries"] = counts
            if len(set(counts.values())) != 1:
                figure.notes.append(f"query counts differ: {counts}")
            self.figures.append(figure)

    # --- report --------------------------------------------------------------

    def report(self, machine: dict, started: str, elapsed: float) -> dict:
        data = {
            "started": started,
            "seconds": round(elapsed, 1),
            "mode": "quick" if self.args.quick else "full",
            "size": asdict(self.size),
            "machine": machine,
            "figures": [_figure_json(f) for f in self.figures],
            "commands": self.commands,
        }
        Path(self.args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(self.args.json).write_text(json.dumps(data, indent=2) + "\n")
        markdown = _markdown(data, self.figures)
        target = Path(self.args.markdown)
        old = target.read_text() if target.exists() else f"{MARK_START}\n{MARK_END}\n"
        if MARK_START not in old:
            old += f"\n{MARK_START}\n{MARK_END}\n"
        head, rest = old.split(MARK_START, 1)
        tail = rest.split(MARK_END, 1)[1]
        target.write_text(f"{head}{MARK_START}\n{markdown}\n{MARK_END}{tail}")
        return data

    def main(self) -> dict:
        started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        clock = time.perf_counter()
        self.commands.append(
            shlex.join(["python", "-m", "bench.harness", *sys.argv[1:]])
        )
        self.recreate_database()
        self.setup_django()
        machine = self.machine()
        self.pgbench_init()
        self.seed()
        only = set(self.args.only or [])

        def wanted(name: str) -> bool:
            return not only or name in only

        steps = [
            ("payments", self.figure_payments),
            ("selection", self.figure_big_selection),
            ("link", self.figure_link_and_post),
            ("import", self.figure_import),
            ("http", self.figure_http),
            ("pages", self.figure_pages),
        ]
        for name, measure in steps:
            if not only or name in only:
                self.settle()
                measure()
                # Written after each figure, so a long run cut short keeps
                # what it measured.
                data = self.report(machine, started, time.perf_counter() - clock)
        return data


# --- worker processes ----------------------------------------------------------


def _worker(action, share, seconds, barrier, queue, number) -> None:
    """Run one action repeatedly until the time is up or the share runs out."""
    from django.db import connections

    from config.startup import settle_startup_objects

    connections.close_all()  # never share the parent's connection
    result = {"done": 0, "elapsed": 0.0, "cpu": 0.0, "latencies": [], "error": ""}
    try:
        step = ACTIONS[action](share, number)
        step(None)  # connect and warm up outside the measured window
        if action in WARMED_BY_OPERATIONS:
            for item in share[:WARM_UP_OPERATIONS]:
                step(item)
            del share[:WARM_UP_OPERATIONS]
        # Then what the product's server processes do once started
        # (config/wsgi.py): what is loaded so far stays out of the
        # collector's full passes.
        settle_startup_objects()
        barrier.wait(timeout=120)
        start, cpu = time.perf_counter(), time.process_time()
        deadline = start + seconds
        exhausted = True
        for item in share:
            if time.perf_counter() >= deadline:
                exhausted = False
                break
            began = time.perf_counter()
            parts = step(item)
            result["latencies"].append((time.perf_counter() - began) * 1000)
            if parts:
                result.setdefault("parts", []).append(parts)
            result["done"] += 1
        result["elapsed"] = time.perf_counter() - start
        result["cpu"] = time.process_time() - cpu
        result["exhausted"] = exhausted and result["done"] > 0
    except Exception as exc:  # reported to the parent, which stops the run
        result["error"] = f"{type(exc).__name__}: {exc}"
        result["exhausted"] = False
        try:
            barrier.abort()
        except Exception:  # noqa: S110 - the barrier may be gone already
            pass
    finally:
        connections.close_all()
    queue.put(result)


def _pay_step(share, number) -> Callable:
    from billing import services
    from billing.models import Reseller

    def step(item):
        if item is None:
            Reseller.objects.exists()
            return
        reseller_id, invoice_id = item
        services.pay_documents(
            reseller=Reseller(pk=reseller_id),
            document_ids=[invoice_id],
            use_credit=True,
            payment_method="bank_transfer",
            idempotency_key=f"bench-{invoice_id}",
            actor=None,
        )

    return step


def _pay_many_step(share, number) -> Callable:
    from billing import services
    from billing.models import Reseller

    def pay(reseller_id, invoice_ids):
        services.pay_documents(
            reseller=Reseller(pk=reseller_id),
            document_ids=invoice_ids,
            use_credit=True,
            payment_method="bank_transfer",
            idempotency_key=f"bench-many-{reseller_id}",
            actor=None,
        )

    def step(item):
        if item is None:  # warm-up: the other reseller's smaller selection
            _big, _ids, warm_id, warm_ids = share[0]
            pay(warm_id, warm_ids)
            return None
        reseller_id, invoice_ids, _warm, _warm_ids = item
        with _timed_statements() as times:
            began = time.perf_counter()
            pay(reseller_id, invoice_ids)
            total = time.perf_counter() - began
        # The payment's statements are the lock with the read (sent
        # together) and the write, in that order; what is neither a
        # statement nor the commit is Python.
        *lock_and_read, write = times["statements"]
        database = sum(times["statements"]) + times["commit"]
        return {
            "lock and read": round(sum(lock_and_read) * 1000, 1),
            "write": round(write * 1000, 1),
            "commit": round(times["commit"] * 1000, 1),
            "python": round((total - database) * 1000, 1),
        }

    return step


@contextmanager
def _timed_statements() -> Iterator[dict]:
    """Time each statement sent, and the commit, on the default connection.

    Statements sent together (``billing.locking.sent_together``: the lock
    and the read after it, pipelined on PostgreSQL) are answered when the
    block ends, so the block is timed as one statement.
    """
    from django.db import connection

    from billing import locking

    times: dict = {"statements": [], "commit": 0.0}
    together = {"depth": 0}
    sent_together = locking.sent_together

    @contextmanager
    def timed_together(connection):
        began = time.perf_counter()
        together["depth"] += 1
        try:
            with sent_together(connection):
                yield
        finally:
            together["depth"] -= 1
            times["statements"].append(time.perf_counter() - began)

    def timed(execute, sql, params, many, context):
        if together["depth"]:
            return execute(sql, params, many, context)
        began = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            times["statements"].append(time.perf_counter() - began)

    commit = connection.commit

    def timed_commit():
        began = time.perf_counter()
        try:
            commit()
        finally:
            times["commit"] += time.perf_counter() - began

    connection.commit = timed_commit
    locking.sent_together = timed_together
    try:
        with connection.execute_wrapper(timed):
            yield times
    finally:
        del connection.commit  # the class's method again
        locking.sent_together = sent_together


def _link_step(share, number) -> Callable:
    from billing import services
    from billing.models import Document

    (reseller_id, credit_id, debit_id) = share[0]
    credit = Document(pk=credit_id, reseller_id=reseller_id)
    debit = Document(pk=debit_id, reseller_id=reseller_id)
    share[:] = [share[0]] * 1_000_000

    def step(item):
        if item is None:
            Document.objects.exists()
            return
        services.link_documents(
            credit=credit, debit=debit, amount="0.01", actor=None, reason="bench"
        )

    return step


def _post_step(share, number) -> Callable:
    from billing import services
    from billing.models import Reseller

    (reseller_id, tag) = share[0]
    reseller = Reseller.objects.get(pk=reseller_id)
    share[:] = [f"POST-{tag}-{reseller_id}-{i:07d}" for i in range(1_000_000)]

    def step(item):
        if item is None:
            return
        services.post_document(
            reseller=reseller,
            kind="invoice",
            number=item,
            total="10.00",
            issue_date=date(2025, 1, 1),
        )

    return step


ACTIONS = {
    "pay": _pay_step,
    "pay_many": _pay_many_step,
    "link": _link_step,
    "post": _post_step,
}


# --- helpers -------------------------------------------------------------------


def _docs(reseller, kind: str, count: int, total: str) -> list[tuple]:
    debit = kind in ("invoice", "debit_memo")
    return [
        (
            reseller.pk,
            reseller.marketplace_id,
            kind,
            f"{kind[:2].upper()}-{reseller.pk}-{i:06d}",
            date(2024, 1, 1 + i % 28).replace(month=1 + (i // 28) % 12),
            date(2024, 12, 31) if debit else None,
            total,
        )
        for i in range(count)
    ]


def copy_documents(rows: list[tuple]) -> None:
    """Insert documents with COPY, open, and count them on their resellers."""
    from collections import Counter

    from django.db import connection

    columns = (
        "reseller_id, marketplace_id, kind, number, issue_date, due_date, total, "
        "open_amount, description, source, created_at"
    )
    others = _other_columns(columns)
    columns = ", ".join([columns, *others])
    now = datetime.now(UTC)
    with connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY billing_document ({columns}) FROM STDIN") as cp:
            for reseller_id, market, kind, number, issued, due, total in rows:
                stored = _stored_amount(total)
                cp.write_row(
                    (
                        reseller_id,
                        market,
                        kind,
                        number,
                        issued,
                        due,
                        stored,
                        stored,
                        "",
                        "import",
                        now,
                        *others.values(),
                    )
                )
        counts = Counter(row[0] for row in rows)
        for reseller_id, count in counts.items():
            cursor.execute(
                "UPDATE billing_reseller SET document_count = document_count + %s "
                "WHERE id = %s",
                [count, reseller_id],
            )


def _stored_amount(total: str) -> int:
    """Return ``total`` as the amount column stores it (whole thousandths)."""
    from decimal import Decimal

    from billing.models import Document

    return Document._meta.get_field("total").get_prep_value(Decimal(total))


def _generate_documents(
    cursor, reseller_id: int, market_id: int, open_: int, paid: int
):
    """Insert ``open_`` open invoices and ``paid`` paid ones in one statement."""
    stored = _stored_amount("10.00")
    others = _other_columns(
        "reseller_id, marketplace_id, kind, number, issue_date, due_date, total, "
        "open_amount, description, source, created_at"
    )
    cursor.execute(
        f"""
        INSERT INTO billing_document (reseller_id, marketplace_id, kind, number,
            issue_date, due_date, total, open_amount, description, source,
            created_at{"".join(", " + name for name in others)})
        SELECT %s, %s, 'invoice', 'PG-' || %s || '-' || lpad(n::text, 7, '0'),
            DATE '2015-01-01' + (n %% 3650), DATE '2015-01-01' + (n %% 3650) + 30,
            %s, CASE WHEN n < %s THEN %s ELSE 0 END, '', 'import', now()
            {", %s" * len(others)}
        FROM generate_series(0, %s - 1) AS n
        """,  # noqa: S608 - column names from the model, values as parameters
        [
            reseller_id,
            market_id,
            reseller_id,
            stored,
            open_,
            stored,
            *others.values(),
            open_ + paid,
        ],
    )
    cursor.execute(
        "UPDATE billing_reseller SET document_count = document_count + %s "
        "WHERE id = %s",
        [open_ + paid, reseller_id],
    )


def _locust_number(text: str) -> float | None:
    """Return a number of Locust's CSV, None where it wrote N/A (no request)."""
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _other_columns(given: str) -> dict:
    """Return the document's other NOT NULL columns with their default values.

    Seeding writes rows directly; columns the ledger gains later (with a
    default in the model) get that default, as the ORM would give them.
    Columns the database computes (``is_open``) are left to it.
    """
    from django.db import connection

    from billing.models import Document

    named = {name.strip() for name in given.split(",")}
    return {
        field.column: field.get_db_prep_save(field.get_default(), connection)
        for field in Document._meta.concrete_fields
        if field.column not in named
        and not (field.null or field.primary_key or field.generated)
    }


class CpuMeter:
    """What a run cost the machine: its client's CPU and everything else's.

    Started when the run starts; :meth:`stop` is given the client's own CPU
    seconds (the workers', or pgbench's) and the operations done, and reads
    the machine's busy time from ``/proc/stat`` (user, nice, system, irq and
    softirq; idle, I/O wait and time stolen by the hypervisor left out).
    What is not the client's is the database server's, give or take the
    little else running: both sides of a figure share the machine, so a
    client that costs more leaves the server less.
    """

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.busy = _machine_busy_seconds()

    def stop(self, client_seconds: float, operations: int) -> dict:
        elapsed = time.perf_counter() - self.started
        machine = _machine_busy_seconds() - self.busy
        per = 1000 / operations if operations else 0.0
        return {
            "client ms/operation": round(client_seconds * per, 3),
            "machine ms/operation": round(machine * per, 3),
            "client cores": round(client_seconds / elapsed, 2) if elapsed else 0.0,
            "machine cores": round(machine / elapsed, 2) if elapsed else 0.0,
        }


def _machine_busy_seconds() -> float:
    """Return the CPU time the machine has spent busy since it started."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq = map(int, fields[:7])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def _note_cpu(figure: Figure, product: dict, reference: dict) -> None:
    """Keep what one repetition of the product and of its reference cost."""
    figure.extra.setdefault("CPU, product", []).append(product)
    figure.extra.setdefault("CPU, reference", []).append(reference)


def _note_exhausted(figure: Figure, result: dict) -> None:
    if result["exhausted"]:
        figure.notes.append(
            f"a repetition ran out of seeded work after {result['done']} "
            "operations (rate still measured over the time it ran)"
        )


def _children(pid: int) -> set[int]:
    """Return the ids of ``pid``'s child processes (Linux ``/proc``)."""
    found = set()
    for entry in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = entry.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(entry.parent.name))
    return found


def _postgres_pids() -> set[int]:
    """Return the local PostgreSQL server's processes (none if it is remote)."""
    found = set()
    for entry in Path("/proc").glob("[0-9]*/comm"):
        try:
            if entry.read_text().strip() == "postgres":
                found.add(int(entry.parent.name))
        except OSError:
            continue
    return found


def _cpu_seconds(pids: set[int]) -> dict[int, float]:
    """Return the CPU time (user + system) each running process has used."""
    tick = os.sysconf("SC_CLK_TCK")
    used = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        used[pid] = (int(fields[11]) + int(fields[12])) / tick
    return used


def _used(before: dict[int, float], after: dict[int, float]) -> float:
    """Return the CPU time used between two readings (new processes whole)."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, timeout: float = 120) -> None:
    """Wait until gunicorn's workers answer, not just until it listens."""
    from urllib.request import urlopen

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urlopen(f"http://127.0.0.1:{port}/bench/minimal/", timeout=5):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer on {port}")


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def _first_line(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True).stdout.strip()
    except OSError:
        return ""


def _database_options() -> dict:
    from django.conf import settings

    db = settings.DATABASES["default"]
    return {
        "ENGINE": db["ENGINE"],
        "CONN_MAX_AGE": db.get("CONN_MAX_AGE"),
        "CONN_HEALTH_CHECKS": db.get("CONN_HEALTH_CHECKS"),
        "OPTIONS": {k: str(v) for k, v in db.get("OPTIONS", {}).items()},
    }


def _spread(values: list[float]) -> str:
    if not values:
        return "–"
    if len(values) == 1:
        return "1 run"
    median = statistics.median(values)
    low, high = min(values), max(values)
    pct = (high - low) / median * 100 if median else 0
    return f"{_num(low)}–{_num(high)} (±{pct / 2:.0f}%)"


def _num(value: float | None) -> str:
    if value is None:
        return "–"
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _figure_json(figure: Figure) -> dict:
    return {
        "name": figure.name,
        "title": figure.title,
        "unit": figure.unit,
        "product": figure.product,
        "product_median": statistics.median(figure.product) if figure.product else None,
        "reference_title": figure.reference_title,
        "reference_unit": figure.reference_unit,
        "reference": figure.reference,
        "reference_median": (
            statistics.median(figure.reference) if figure.reference else None
        ),
        "ratio": figure.ratio,
        "target": figure.target,
        "met": figure.met,
        "notes": figure.notes,
        "extra": figure.extra,
    }


def _markdown(data: dict, figures: list[Figure]) -> str:
    machine = data["machine"]
    lines = [
        f"### Results ({data['mode']} run, {data['started']}, {data['seconds']:.0f} s)",
        "",
        "Median of the repetitions, spread as min–max; the ratio divides the "
        "product's median by the reference's median, both measured in this run.",
        "",
        "| figure | product (median) | spread | reference | reference (median) "
        "| ratio | target | met |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for f in figures:
        median = statistics.median(f.product) if f.product else None
        ref = statistics.median(f.reference) if f.reference else None
        met = {True: "yes", False: "**no**", None: "–"}[f.met]
        ratio = f"{f.ratio:.2f}" if f.ratio is not None else "–"
        lines.append(
            f"| {f.title} | {_num(median)} {f.unit} | {_spread(f.product)} "
            f"| {f.reference_title} | {_num(ref)} {f.reference_unit} | {ratio} "
            f"| {f.target} | {met} |"
        )
    details = []
    for f in figures:
        for key, value in f.extra.items():
            details.append(f"- {f.name}, {key}: `{json.dumps(value)}`")
        for note in f.notes:
            details.append(f"- {f.name}: {note}")
    if details:
        lines += ["", "Details:", "", *details]
    settings = ", ".join(f"{k}={v}" for k, v in machine["postgresql_settings"].items())
    lines += [
        "",
        f"Machine: {machine['cores']} cores ({machine['cpu']}), "
        f"{machine['memory_gib']} GiB, {machine['os']}, Python {machine['python']}; "
        f"PostgreSQL {machine['postgresql']} ({settings}); "
        f"Django database: `{json.dumps(machine['django_database_options'])}`.",
        "",
        "Commands, in order:",
        "",
        "```sh",
        *dict.fromkeys(data["commands"]),
        "```",
    ]
    return "\n".join(lines)


def bench_database_url(url: str) -> str:
    """Return the benchmark's own database beside ``url``'s, never ``url`` itself.

    The harness drops and recreates its database, so it never takes the name
    of a database someone works in: ``…/perf`` becomes ``…/perf_bench``.
    """
    if not url.startswith("postgres"):
        return DEFAULT_URL
    parts = urlsplit(url)
    name = parts.path.lstrip("/") or "postgres"
    if not name.endswith("_bench"):
        name += "_bench"
    return urlunsplit(parts._replace(path=f"/{name}"))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny data, one run")
    parser.add_argument(
        "--database-url",
        default=bench_database_url(os.environ.get("DATABASE_URL", "")),
        help="PostgreSQL database to DROP, recreate and use (default: the "
        "server of DATABASE_URL, its database name + '_bench'; else %(default)s)",
    )
    parser.add_argument("--repeats", type=int, help="repetitions of each figure")
    parser.add_argument("--seconds", type=float, help="seconds per timed run")
    parser.add_argument(
        "--import-rows", type=int, help="rows of the import's file (1,000,000: memory)"
    )
    parser.add_argument(
        "--only",
        nargs="*",
        choices=["payments", "selection", "link", "import", "http", "pages"],
    )
    parser.add_argument("--markdown", default=str(ROOT / "BENCHMARKS.md"))
    parser.add_argument("--json", default=str(ROOT / "bench" / "results.json"))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if not args.database_url.startswith("postgres"):
        raise SystemExit("make bench needs PostgreSQL: set DATABASE_URL=postgres://…")
    data = Harness(args).main()
    print(Path(args.markdown).read_text())
    return data


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    main()
