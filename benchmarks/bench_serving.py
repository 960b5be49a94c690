"""Serving benchmark: real HTTP against uvicorn on 127.0.0.1 (never another address).

Measures, for one 1,500-pupil school:

* upload + re-score of one school-week (15,000 marks, long CSV): p50 and p95 (target ≤ 1 s);
* ``GET /v1/schools/{urn}/risk`` with 16 concurrent clients: p50/p95 (target p95 ≤ 100 ms) —
  a mix of the requests a school's staff make (first pages, later pages, filters by tier,
  year group and emerging, each first rendered from the database and then cached until the
  next upload), driven by a Python client (httpx) and, where installed, by ``wrk`` (a C client
  that leaves more of the two cores to the server); and the whole list in one response;
* ``GET /v1/schools/{urn}/overview`` and the overview page (``/schools/{urn}/overview``, signed
  in) with 16 concurrent clients: p50/p95 (target p95 ≤ 150 ms), and the first (uncached)
  overview after an upload;
* resident memory of the serving process with the model loaded.

The model is the champion of an MLflow store (default: ``data/mlflow.db``, as ``ews demo``
leaves it; ``--mlflow-uri`` for another). The benchmark's own school lives in a temporary
database (``--database-url`` for PostgreSQL). Load is bounded in count and time. Prints a
table and writes ``benchmarks/results/serving.json``.

    .venv/bin/python benchmarks/bench_serving.py [--data-dir data] [--weeks 12]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from features.upn import make_upns  # noqa: E402

URN = 199999
PUPILS = 1500
FIRST_MONDAY = dt.date(2024, 9, 2)
CODES_ABSENT = np.array(["I", "I", "I", "O", "M", "G", "N", "C"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def roster_csv(upns: np.ndarray, rng: np.random.Generator) -> bytes:
    n = len(upns)
    frame = pd.DataFrame(
        {
            "upn": upns,
            "forename": rng.choice(["Amira", "Ben", "Chloe", "Dev", "Ella"], n),
            "surname": rng.choice(["Khan", "Smith", "Jones", "Patel", "Evans"], n),
            "date_of_birth": "2011-05-01",
            "sex": rng.choice(["F", "M"], n),
            "year_group": rng.integers(7, 12, n),
            "fsm": rng.integers(0, 2, n),
            "sen": rng.choice(["N", "K", "E"], n, p=[0.8, 0.15, 0.05]),
            "eal": rng.integers(0, 2, n),
            "ethnicity": "White",
            "entry_date": "2020-09-01",
            "leaving_date": "",
        }
    )
    return frame.to_csv(index=False).encode()


def week_csv(
    upns: np.ndarray, propensity: np.ndarray, week: int, rng: np.random.Generator
) -> bytes:
    """One school week of long-form marks, vectorised (pupils × 10 sessions)."""
    monday = FIRST_MONDAY + dt.timedelta(weeks=week - 1)
    n = len(upns)
    dates = np.array([(monday + dt.timedelta(days=d)).isoformat() for d in range(5)])
    absent = rng.random((n, 10)) < propensity[:, None]
    present = np.tile(np.array(["/", "\\"] * 5), (n, 1))
    codes = np.where(absent, CODES_ABSENT[rng.integers(0, len(CODES_ABSENT), (n, 10))], present)
    frame = pd.DataFrame(
        {
            "upn": np.repeat(upns, 10),
            "date": np.tile(np.repeat(dates, 2), n),
            "session": np.tile(["AM", "PM"], n * 5),
            "mark": codes.ravel(),
        }
    )
    return frame.to_csv(index=False).encode()


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def risk_list_mix(urn: int) -> list[str]:
    """The requests of the benchmark's mix: paths of ``/v1/schools/{urn}/risk``."""
    base = f"/v1/schools/{urn}/risk"
    return [
        base,
        f"{base}?offset=50",
        f"{base}?offset=100",
        f"{base}?tier=high",
        f"{base}?tier=high&tier=medium",
        f"{base}?emerging=true",
        f"{base}?year_group=7",
        f"{base}?year_group=10&emerging=true",
    ]


WRK_SCRIPT = r"""
local paths = {}
local i = 0
init = function(args) for _, p in ipairs(args) do table.insert(paths, p) end end
request = function() i = (i % #paths) + 1; return wrk.format("GET", paths[i]) end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{"requests": %d, "errors": %d, "non_2xx": %d, "p50_ms": %.2f, '
    .. '"p95_ms": %.2f, "p99_ms": %.2f}\n', summary.requests,
    e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000))
end
"""


def wrk_mix(base: str, paths: list[str], headers: dict[str, str], clients: int) -> dict | None:
    """The mix driven by ``wrk`` for 10 s (None where wrk is not installed)."""
    import shutil

    if shutil.which("wrk") is None:
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT)
    header = [f"{k}: {v}" for k, v in headers.items()]
    out = subprocess.run(
        ["wrk", "-t", "2", "-c", str(clients), "-d", "10s", "-s", script.name,
         *[a for h in header for a in ("-H", h)], base, "--", *paths],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    result = json.loads(out.strip().splitlines()[-1])
    if result["errors"] or result["non_2xx"]:
        raise RuntimeError(f"wrk saw failed requests: {result}")
    return result


def hammer(
    urls: str | list[str], headers: dict[str, str], clients: int, per_client: int
) -> list[float]:
    """``clients`` concurrent clients (each its own connection), each sending ``per_client``
    GETs back to back, cycling through ``urls``; latencies in seconds. One asyncio loop drives
    them all, so the load generator's own overhead stays small on a 2-core machine it shares
    with the server."""
    import asyncio

    urls = [urls] if isinstance(urls, str) else urls

    async def client_loop(start: int, latencies: list[float], errors: list[int]) -> None:
        async with httpx.AsyncClient(timeout=30) as client:
            for i in range(per_client):
                url = urls[(start + i) % len(urls)]
                t0 = time.perf_counter()
                response = await client.get(url, headers=headers)
                latencies.append(time.perf_counter() - t0)
                if response.status_code != 200:
                    errors.append(response.status_code)

    async def run_all() -> tuple[list[float], list[int]]:
        latencies: list[float] = []
        errors: list[int] = []
        await asyncio.wait_for(
            asyncio.gather(*(client_loop(c, latencies, errors) for c in range(clients))), 300
        )
        return latencies, errors

    latencies, errors = asyncio.run(run_all())
    if errors:
        raise RuntimeError(f"{len(errors)} failed requests, e.g. {errors[:5]}")
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data")
    parser.add_argument("--mlflow-uri", default=None)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--weeks", type=int, default=20)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests-per-client", type=int, default=60)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/serving.json")
    args = parser.parse_args()

    import psutil

    load_before = os.getloadavg()[0]

    from serving.auth import create_key
    from serving.db import Database, upgrade
    from serving.models import School

    mlflow_uri = args.mlflow_uri or f"sqlite:///{(args.data_dir / 'mlflow.db').resolve()}"
    tmp = Path(tempfile.mkdtemp(prefix="ews-bench-"))
    database_url = args.database_url or f"sqlite:///{tmp / 'ews.db'}"
    upgrade(database_url)
    db = Database(database_url)
    with db.write() as session:
        if session.get(School, URN) is None:
            session.add(School(urn=URN, name="Benchmark High School", phase="secondary"))
        key = create_key(session, role="school", schools=[URN], name="benchmark").key
    db.dispose()
    headers = {"Authorization": f"Bearer {key}"}

    port = free_port()
    env = {
        **os.environ,
        "EWS_DATA_DIR": str(tmp),
        "EWS_DATABASE_URL": database_url,
        "MLFLOW_TRACKING_URI": mlflow_uri,
        "EWS_MODEL_POLL_SECONDS": "0",
        "EWS_MAX_UPLOAD_BYTES": str(64 * 1024 * 1024),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "ews.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                ready = httpx.get(f"{base}/ready", timeout=2)
                if ready.status_code == 200:
                    break
                if time.monotonic() > deadline:
                    raise SystemExit(f"service not ready: {ready.text}")
            except httpx.TransportError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the server did not start") from None
            time.sleep(0.5)
        model = ready.json()["model"]
        rss_start = psutil.Process(server.pid).memory_info().rss

        rng = np.random.default_rng(7)
        upns = make_upns(991, 9999, 2019, np.arange(PUPILS) % 1000) if PUPILS <= 1000 else None
        if upns is None:
            upns = np.concatenate(
                [
                    make_upns(991, 9999, 2019, np.arange(1000)),
                    make_upns(991, 9998, 2019, np.arange(PUPILS - 1000)),
                ]
            )
        propensity = np.clip(rng.lognormal(np.log(0.05), 0.8, PUPILS), 0, 0.9)
        with httpx.Client(timeout=120) as client:
            response = client.post(
                f"{base}/v1/schools/{URN}/roster",
                content=roster_csv(upns, rng),
                params={"filename": "roster.csv"},
                headers={**headers, "Content-Type": "text/csv"},
            )
            response.raise_for_status()
            files = [week_csv(upns, propensity, w, rng) for w in range(1, args.weeks + 1)]
            upload_seconds = []
            for week, data in enumerate(files, start=1):
                t0 = time.perf_counter()
                response = client.post(
                    f"{base}/v1/schools/{URN}/registers",
                    content=data,
                    params={"filename": f"week{week}.csv"},
                    headers={**headers, "Content-Type": "text/csv"},
                )
                upload_seconds.append(time.perf_counter() - t0)
                response.raise_for_status()
                assert response.json()["scoring"]["scored"], response.json()["scoring"]
        rss_loaded = psutil.Process(server.pid).memory_info().rss

        risk_url = f"{base}/v1/schools/{URN}/risk"
        cold = []  # first reads of distinct pages: rendered from the database, not cached
        with httpx.Client(timeout=30) as client:
            for offset in range(0, PUPILS, 25):
                t0 = time.perf_counter()
                client.get(risk_url, params={"offset": offset, "limit": 50}, headers=headers)
                cold.append(time.perf_counter() - t0)
        mix = risk_list_mix(URN)
        hammer(risk_url, headers, 4, 5)  # warm-up (the process, not the pages of the mix)
        page = hammer([base + p for p in mix], headers, args.clients, args.requests_per_client)
        page_wrk = wrk_mix(base, mix, headers, args.clients)
        full = hammer(
            f"{risk_url}?limit={PUPILS}",
            headers,
            args.clients,
            max(5, args.requests_per_client // 6),
        )
        overview_url = f"{base}/v1/schools/{URN}/overview"
        with httpx.Client(timeout=60) as client:
            t0 = time.perf_counter()
            client.get(overview_url, headers=headers).raise_for_status()
            overview_first = time.perf_counter() - t0
            login = client.post(f"{base}/login", data={"key": key}, follow_redirects=False)
            cookie = {"Cookie": f"ews_session={login.cookies['ews_session']}"}
        overview_api = hammer(overview_url, headers, args.clients, args.requests_per_client)
        overview_page = hammer(
            f"{base}/schools/{URN}/overview", cookie, args.clients, args.requests_per_client
        )
        rss_end = psutil.Process(server.pid).memory_info().rss
    finally:
        server.terminate()
        server.wait(timeout=30)

    result = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            # The machine is shared: other processes' load inflates every figure.
            "load_average_1m_before": load_before,
            "load_average_1m_after": os.getloadavg()[0],
        },
        "database": "postgresql" if database_url.startswith("postgresql") else "sqlite",
        "model": model,
        "pupils": PUPILS,
        "marks_per_week": PUPILS * 10,
        "upload_rescore_seconds": {
            "weeks": len(upload_seconds),
            "p50": statistics.median(upload_seconds),
            "p95": percentile(upload_seconds, 95),
            "max": max(upload_seconds),
        },
        "risk_list_mix": {
            "clients": args.clients,
            "requests": len(page),
            "distinct_requests": len(mix),
            "p50_ms": percentile(page, 50) * 1000,
            "p95_ms": percentile(page, 95) * 1000,
        },
        "risk_list_mix_wrk": page_wrk,
        "risk_list_uncached_page_1_client": {
            "requests": len(cold),
            "p50_ms": percentile(cold, 50) * 1000,
            "p95_ms": percentile(cold, 95) * 1000,
        },
        "risk_list_full_1500": {
            "clients": args.clients,
            "requests": len(full),
            "p50_ms": percentile(full, 50) * 1000,
            "p95_ms": percentile(full, 95) * 1000,
        },
        "overview_first_read_ms": overview_first * 1000,
        "overview_api": {
            "clients": args.clients,
            "requests": len(overview_api),
            "p50_ms": percentile(overview_api, 50) * 1000,
            "p95_ms": percentile(overview_api, 95) * 1000,
        },
        "overview_page": {
            "clients": args.clients,
            "requests": len(overview_page),
            "p50_ms": percentile(overview_page, 50) * 1000,
            "p95_ms": percentile(overview_page, 95) * 1000,
        },
        "server_rss_mb": {
            "model_loaded_idle": rss_start / 2**20,
            "after_uploads": rss_loaded / 2**20,
            "after_load_test": rss_end / 2**20,
        },
    }
    c = result["risk_list_uncached_page_1_client"]
    u, p, f, m = (
        result["upload_rescore_seconds"],
        result["risk_list_mix"],
        result["risk_list_full_1500"],
        result["server_rss_mb"],
    )
    rows = [
        (
            f"upload + re-score, one school-week (15,000 marks), weeks 1-{u['weeks']}",
            f"p50 {u['p50']:.2f} s",
            f"p95 {u['p95']:.2f} s",
            "≤ 1 s",
        ),
        (
            f"GET risk list, mix of {len(mix)} requests, {p['clients']} clients (httpx)",
            f"p50 {p['p50_ms']:.0f} ms",
            f"p95 {p['p95_ms']:.0f} ms",
            "p95 ≤ 100 ms",
        ),
        (
            "GET risk list, first read of a page (not cached), 1 client",
            f"p50 {c['p50_ms']:.0f} ms",
            f"p95 {c['p95_ms']:.0f} ms",
            "-",
        ),
        (
            f"GET risk list, all 1,500, {f['clients']} clients",
            f"p50 {f['p50_ms']:.0f} ms",
            f"p95 {f['p95_ms']:.0f} ms",
            "-",
        ),
        (
            f"GET overview (API), {args.clients} clients",
            f"p50 {result['overview_api']['p50_ms']:.0f} ms",
            f"p95 {result['overview_api']['p95_ms']:.0f} ms",
            "p95 ≤ 150 ms",
        ),
        (
            f"GET overview page (signed in), {args.clients} clients",
            f"p50 {result['overview_page']['p50_ms']:.0f} ms",
            f"p95 {result['overview_page']['p95_ms']:.0f} ms",
            "p95 ≤ 150 ms",
        ),
        (
            "GET overview, first read after the uploads (not cached), 1 client",
            f"{result['overview_first_read_ms']:.0f} ms",
            "-",
            "-",
        ),
        (
            "server RSS, model loaded (idle / after test)",
            f"{m['model_loaded_idle']:.0f} MB",
            f"{m['after_load_test']:.0f} MB",
            "-",
        ),
    ]
    if page_wrk is not None:
        rows.insert(
            2,
            (
                f"GET risk list, same mix, {args.clients} connections (wrk, 10 s)",
                f"p50 {page_wrk['p50_ms']:.0f} ms",
                f"p95 {page_wrk['p95_ms']:.0f} ms",
                "p95 ≤ 100 ms",
            ),
        )
    title = f"measure ({result['database']}, model {model.get('name')} v{model.get('version')})"
    print(
        f"machine load average (1 min) before/after: {load_before:.1f} / {os.getloadavg()[0]:.1f}"
    )
    print(f"| {title} | p50 / value | p95 / value | target |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
