"""A job whose checks (broker reads before its request) outlast the plan's misfire grace
is not sent late: it is skipped and reported late, as a job that started late is.

With the live feed up, a place the plan schedules reads the open orders (its twins)
before it waits for its instant; a broker slow to answer that read (here 4 s, the
simulator's latency fault on ka10075) made the order go out seconds after its instant,
past `misfire_grace: 1s`, reported `done`, exit 0. Real processes over 127.0.0.1.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.loopback import SimProcess, dry_run, run_cli

PLAN = """\
version: 1
name: slowread
policy: {misfire_grace: 1s}
orders:
  entry: {symbol: "005930", side: buy, qty: 10, price: 60000, at: "+3s"}
"""


def test_a_place_whose_twins_read_outlasts_the_grace_is_not_sent_late(tmp_path: Path):
    plan = tmp_path / "slowread.yaml"
    plan.write_text(PLAN, encoding="utf-8")
    with SimProcess() as sim:
        sim.post("faults", {"spec": "latency:api=ka10075,ms=4000,count=20"})
        done = run_cli(*dry_run(plan, sim.url, tmp_path / "s", "--allow-dirty"))
        out = done.stdout + done.stderr
        places = [e for e in sim.get("log")["log"] if e["api_id"] == "kt10000"]
    assert places == [], out  # sent about 4 s after its instant, past the 1 s grace
    assert "skipped (late by" in out, out
    assert done.returncode != 0, out


def test_on_late_fail_stops_the_run_on_a_job_its_checks_made_late(tmp_path: Path):
    plan = tmp_path / "slowread.yaml"
    text = PLAN.replace("{misfire_grace: 1s}", "{misfire_grace: 1s, on_late: fail}")
    plan.write_text(
        text + '  later: {symbol: "005930", side: buy, qty: 1, price: 60000, at: "+9s"}\n'
    )
    with SimProcess() as sim:
        sim.post("faults", {"spec": "latency:api=ka10075,ms=4000,count=20"})
        done = run_cli(*dry_run(plan, sim.url, tmp_path / "s", "--allow-dirty"))
        out = done.stdout + done.stderr
        places = [e for e in sim.get("log")["log"] if e["api_id"] == "kt10000"]
    assert places == [], out  # neither the late one nor the one after it
    assert "on_late: fail" in out and done.returncode != 0, out
