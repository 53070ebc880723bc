"""Client latency and simulator throughput on loopback, against `planrunner sim`.

    python bench/client.py [--rounds 500] [--orders 4000] [--threads 8] [--no-write]
                            [--summary FILE]

Starts `planrunner sim --port 0` as a subprocess (its first stdout line is the base URL),
then measures:
- place + modify + cancel round trips with our KiwoomClient (one keep-alive pool);
- the same calls made guide-style: a new connection per call (`requests.post`, as the
  guide's KiwoomModifyCancel class does), with the same bodies and token;
- the simulator's throughput: orders placed per second by `--threads` threads, each on
  its own keep-alive `http.client` connection (a load generator light enough that the
  simulator, not the client, is what is measured), and the same through our client.
Prints the figures and rewrites the "Client" section of docs/performance.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
import summary

from planrunner.kiwoom import codes, wire
from planrunner.kiwoom.client import CONTENT_TYPE, KiwoomClient
from planrunner.model import WireRequest
from tests.support.loopback import SimProcess

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "performance.md"
SCENARIO = 'symbols:\n  "005930": {base: 70000, path: [["09:00", 70000]], walk: false}\n'
SYMBOL, PRICE = "005930", 60000  # far below the market: the orders rest, never fill
KEYS = {"appkey": "bench-appkey", "secretkey": "bench-secretkey"}


def pct(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


class Timings:
    def __init__(self) -> None:
        self.call: list[float] = []  # ms per call
        self.round: list[float] = []  # ms per place + modify + cancel

    def timed(self, fn: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        result = fn()
        self.call.append((time.perf_counter() - t0) * 1000)
        return result


def our_round(client: KiwoomClient, t: Timings) -> None:
    t0 = time.perf_counter()
    placed = t.timed(lambda: client.place(SYMBOL, "buy", 1, PRICE, "limit"))
    moved = t.timed(lambda: client.modify(placed.ord_no, SYMBOL, PRICE + 100))
    t.timed(lambda: client.cancel(moved.ord_no, SYMBOL))
    t.round.append((time.perf_counter() - t0) * 1000)


def guide_post(url: str, token: str) -> Callable[[WireRequest], dict[str, Any]]:
    """A new connection per call, like the guide's `requests` class."""

    def post(req: WireRequest) -> dict[str, Any]:
        headers = {
            "Content-Type": CONTENT_TYPE,
            "authorization": f"Bearer {token}",
            "api-id": req.api_id,
        }
        answer = requests.post(url + codes.PATH_OF[req.api_id], headers=headers, json=req.body)
        data: dict[str, Any] = answer.json()
        if data.get("return_code") != 0:
            raise SystemExit(f"guide-style call failed: {data}")
        return data

    return post


def bare_post(url: str, token: str) -> Callable[[WireRequest], dict[str, Any]]:
    """The floor: one keep-alive `http.client` connection and nothing else."""
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port))

    def post(req: WireRequest) -> dict[str, Any]:
        headers = {"Content-Type": CONTENT_TYPE, "authorization": f"Bearer {token}"}
        conn.request(
            "POST",
            codes.PATH_OF[req.api_id],
            json.dumps(req.body),
            headers | {"api-id": req.api_id},
        )
        data: dict[str, Any] = json.loads(conn.getresponse().read())
        return data

    return post


def guide_round(post: Callable[[WireRequest], dict[str, Any]], t: Timings) -> None:
    t0 = time.perf_counter()
    place = wire.place_request(symbol=SYMBOL, side="buy", qty=1, price=PRICE, order_type="limit")
    placed = t.timed(lambda: post(place))
    modify = wire.modify_request(orig_ord_no=placed["ord_no"], symbol=SYMBOL, price=PRICE + 100)
    moved = t.timed(lambda: post(modify))
    cancel = wire.cancel_request(orig_ord_no=moved["ord_no"], symbol=SYMBOL)
    t.timed(lambda: post(cancel))
    t.round.append((time.perf_counter() - t0) * 1000)


def in_threads(threads: int, each: int, work: Callable[[int], None]) -> float:
    """Calls per second of `threads` threads each running work(each)."""
    pool = [threading.Thread(target=work, args=(each,)) for _ in range(threads)]
    t0 = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return each * threads / (time.perf_counter() - t0)


def sim_throughput(url: str, token: str, orders: int, threads: int) -> float:
    host, port = url.removeprefix("http://").split(":")
    req = wire.place_request(symbol=SYMBOL, side="buy", qty=1, price=PRICE, order_type="limit")
    body = json.dumps(req.body)
    headers = {
        "Content-Type": CONTENT_TYPE,
        "authorization": f"Bearer {token}",
        "api-id": req.api_id,
    }

    def work(n: int) -> None:
        conn = http.client.HTTPConnection(host, int(port))
        for _ in range(n):
            conn.request("POST", codes.ORDER_PATH, body, headers)
            answer = conn.getresponse().read()
            if b'"return_code": 0' not in answer and b'"return_code":0' not in answer:
                raise SystemExit(f"place failed: {answer!r}")
        conn.close()

    return in_threads(threads, orders // threads, work)


def client_throughput(client: KiwoomClient, orders: int, threads: int) -> float:
    def work(n: int) -> None:
        for _ in range(n):
            client.place(SYMBOL, "buy", 1, PRICE, "limit")

    return in_threads(threads, orders // threads, work)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=500)
    ap.add_argument("--orders", type=int, default=4000)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--no-write", action="store_true", help="print only")
    summary.add_option(ap)
    args = ap.parse_args()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    with tempfile.TemporaryDirectory() as tmp:
        scenario = Path(tmp) / "scenario.yaml"
        scenario.write_text(SCENARIO, encoding="utf-8")
        sim = SimProcess("--scenario", str(scenario), stderr=None)
        url = sim.url
        try:
            with KiwoomClient(env="sim", base_url=url, **KEYS) as client:
                post = guide_post(url, client.token().value)
                bare = bare_post(url, client.token().value)
                for _ in range(30):  # warm-up: connections, code paths
                    our_round(client, Timings())
                    guide_round(post, Timings())
                    guide_round(bare, Timings())
                mine, guide, floor = Timings(), Timings(), Timings()
                for _ in range(args.rounds):  # interleaved: all see the same machine load
                    our_round(client, mine)
                    guide_round(post, guide)
                    guide_round(bare, floor)
                rate = sim_throughput(url, client.token().value, args.orders, args.threads)
                via_client = client_throughput(client, args.orders, args.threads)
        finally:
            sim.close()
    ratio = statistics.median(guide.call) / statistics.median(mine.call)
    rows = [
        ("our client, per call", mine.call),
        ("our client, place+modify+cancel", mine.round),
        ("guide-style (new connection per call), per call", guide.call),
        ("guide-style, place+modify+cancel", guide.round),
        ("floor: bare `http.client` keep-alive, per call", floor.call),
    ]
    lines = [
        f"Measured {time.strftime('%Y-%m-%d')} on loopback against `planrunner sim` "
        f"(separate process), Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
        f"{args.rounds} interleaved rounds each, load average before the run {load:.2f}. "
        "Command: `python bench/client.py`.",
        "",
        "| what | p50 ms | p99 ms |",
        "|---|---|---|",
        *(f"| {name} | {pct(s, 50):.2f} | {pct(s, 99):.2f} |" for name, s in rows),
        "",
        f"- Guide-style / our client, per call (p50): **{ratio:.1f}×** (goal ≥ 2×).",
        f"- Our client p50 per call: **{pct(mine.call, 50):.2f} ms** (goal < 2 ms), of which "
        f"~{pct(mine.call, 50) - pct(floor.call, 50):.2f} ms is the client itself (p50 over the "
        "floor); the rest is the simulator's HTTP server and the loopback.",
        f"- Simulator throughput: **{rate:,.0f} orders/s** ({args.orders} kt10000 places from "
        f"{args.threads} threads on keep-alive `http.client` connections; goal ≥ 2,000). "
        f"Through our client ({args.threads} threads, one client): {via_client:,.0f} orders/s "
        "— client and simulator then share this machine's CPUs.",
        "- The client posts through its httpx transport directly, not an `httpx.Client`: the "
        "cookie jar, redirect and URL-merge layers were ~60% of its own CPU per call "
        "(0.36 → 0.15 ms against an in-memory transport). A shared, thread-safe keep-alive "
        "pool is what makes it faster than a connection per call.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        summary.write_doc_section("Client", text)
        print(f"written to {DOC.relative_to(ROOT)}")
    p50 = pct(mine.call, 50)
    summary.write(
        args.summary,
        [
            summary.figure("client: p50 per call", "< 2 ms", f"{p50:.2f} ms", p50 < 2),
            summary.figure(
                "client: guide-style / ours, p50 per call", "≥ 2×", f"{ratio:.1f}×", ratio >= 2
            ),
            summary.figure(
                "simulator throughput",
                "≥ 2,000 orders/s",
                f"{rate:,.0f} orders/s",
                rate >= 2000,
            ),
        ],
    )


if __name__ == "__main__":
    main()
