"""Several plans in one process on one app key, within the key's rate limit; and one
process per key. Real processes: `planrunner sim --rate-limit mock` (it refuses a key's
excess with 1700/1701, as Kiwoom does) and `planrunner run` over 127.0.0.1."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.loopback import RUNNER, SimProcess, ending, run_cli, runner_env, start_planrunner
from tests.support.plan_text import reprice_then_cancel

WATCH = """\
triggers:
  - id: stop
    when: {price: {symbol: "005930", below: 50000}}
    between: ["00:00", "23:59"]
    market: {order: entry}
"""


def _plan(name: str, *, cancel_at: str = "+3s") -> str:
    """Place, modify and cancel a buy far below the market, a second apart, while a price
    trigger on the same symbol polls ka10001 all day (its window spans any hour)."""
    return reprice_then_cancel(name, price=60000, cancel=cancel_at, more=WATCH)


def _plans(tmp_path: Path, *names: str, **kw: str) -> list[str]:
    out = []
    for name in names:
        p = tmp_path / f"{name}.yaml"
        p.write_text(_plan(name, **kw), encoding="utf-8")
        out.append(str(p))
    return out


@pytest.fixture
def sim():
    s = SimProcess("--rate-limit", "mock")
    yield s
    s.close()


def _exits(out: str) -> tuple[dict[str, int], int]:
    """Each plan's exit code from the board that ends a run's text, and the process's
    (its last line, `exit N: why`)."""
    lines = out.splitlines()
    start = max(i for i, x in enumerate(lines) if x.endswith(" plans"))
    rows = [x.split() for x in lines[start + 2 : -1]]
    assert lines[-1].startswith("exit "), lines[-1]
    return {r[0]: int(r[-1]) for r in rows}, int(lines[-1].split()[1].rstrip(":"))


def _refusals(sim: SimProcess) -> list[str]:
    log = sim.get("log")["log"]
    return [f"{e['api_id']} {e['return_msg']}" for e in log if e["return_code"] == 5]


def test_three_plans_in_one_process_keep_the_key_budget_and_their_schedules(sim, tmp_path):
    plans = _plans(tmp_path, "alpha", "beta", "gamma")
    # --no-feed: the triggers poll their prices, the heaviest use of the key's budget
    args = ["--dry-run", "--base-url", sim.url, "--rate-limit", "mock", "--no-feed"]
    done = run_cli("run", *plans, *args, "--state-dir", str(tmp_path / "s"), "--format", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    board = lines[-1]
    assert board["exit_code"] == 0
    assert [p["plan"] for p in board["plans"]] == ["alpha", "beta", "gamma"]
    for p in board["plans"]:
        assert p["exit_code"] == 0 and not p["summary"]["attention"], p
        assert set(p["summary"]["jobs"].values()) == {"done"}, p  # every job at its time
    assert {e["plan"] for e in lines[:-1]} == {"alpha", "beta", "gamma"}  # lines name it
    assert _refusals(sim) == []
    log = sim.get("log")["log"]
    kinds = [e["api_id"] for e in log]
    # Three of each order at the same instants, on one token; the trigger polls read prices.
    assert [kinds.count(a) for a in ("kt10000", "kt10002", "kt10003")] == [3, 3, 3]
    assert kinds.count("au10001") == 1 and kinds.count("ka10001") >= 3
    committed = [e for e in log if e["api_id"].startswith("kt") and e["committed"]]
    assert len(committed) == 9
    shown = run_cli("status", *plans, "--state-dir", str(tmp_path / "s"), "--format", "json")
    assert shown.returncode == 0, shown.stdout + shown.stderr
    each = json.loads(shown.stdout)["plans"]
    assert [d["file"] for d in each] == plans and all(d["attention"] == [] for d in each)
    text = run_cli("status", str(tmp_path / "*.yaml"), "--state-dir", str(tmp_path / "s"))
    assert text.returncode == 0 and text.stdout.count("== ") == 3, text.stdout + text.stderr


def test_the_same_plans_without_the_budget_are_refused_by_the_simulator(sim, tmp_path):
    """The control: the simulator does enforce the key's limit, so the test above can
    fail; without the client's budget the same three plans overrun it."""
    plans = _plans(tmp_path, "alpha", "beta", "gamma")
    # --no-feed: the triggers poll. A run refused its reads may not learn that its orders
    # closed, so it is stopped once the simulator has refused something (or after 90 s).
    args = ["--dry-run", "--base-url", sim.url, "--rate-limit", "off", "--no-feed"]
    proc = subprocess.Popen(
        [*RUNNER, "run", *plans, *args, "--state-dir", str(tmp_path / "s")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=runner_env(),
    )
    try:
        deadline = time.monotonic() + 90
        while proc.poll() is None and time.monotonic() < deadline:
            if any("[1700:" in r or "[1701:" in r for r in _refusals(sim)):
                break
            time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert any("[1700:" in r or "[1701:" in r for r in _refusals(sim))


def test_a_second_process_on_the_same_key_is_refused_and_pointed_to_one_process(sim, tmp_path):
    (first,) = _plans(tmp_path, "alpha", cancel_at="+6s")
    (second,) = _plans(tmp_path, "beta")
    state = str(tmp_path / "s")
    args = ["--dry-run", "--base-url", sim.url, "--rate-limit", "mock", "--state-dir", state]
    with ending(start_planrunner("run", first, *args, seams=True)) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:  # the lock is taken before the run prints anything
            if "scheduled" in line:
                break
        refused = run_cli("run", second, *args)
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert f"another runner (pid {proc.pid}) is using this app key" in refused.stderr
        assert f"planrunner run {Path(first).resolve()} {second}" in refused.stderr
        assert "loopback-appkey" not in refused.stderr  # the key itself is never shown
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, out + err
    again = run_cli("run", second, *args)  # the first one ended: its lock went with it
    assert again.returncode == 0, again.stdout + again.stderr
    assert _refusals(sim) == []
    kept = [f.read_bytes() for f in Path(state).rglob("*") if f.is_file()]
    assert kept and not any(b"loopback-appkey" in b for b in kept)  # nor in the key's lock


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["alpha", "alpha"], "the same plan is given twice"),
        (["alpha", "twin"], "both have name: alpha"),
        (["alpha", "beta", "--adopt", "entry=139"], "say which plan: --adopt NAME:entry=0000139"),
        (
            ["alpha", "beta", "--adopt", "alpha:entry=139", "--adopt", "beta:entry=0000139"],
            "order 0000139 would be adopted twice",
        ),
        (["alpha", "--adopt", "alpha:entry=139"], "is for several plans"),
        (["nothing-*.yaml"], "no plan file matches"),
    ],
)
def test_what_cannot_be_combined_is_refused_before_anything_is_sent(tmp_path, extra, says):
    _plans(tmp_path, "alpha", "beta")
    (tmp_path / "twin.yaml").write_text(_plan("alpha"), encoding="utf-8")
    args = [str(tmp_path / f"{a}.yaml") if a.isalpha() else a for a in extra]
    args = [str(tmp_path / a) if a.startswith("nothing") else a for a in args]
    done = run_cli(
        "run", *args, "--dry-run", "--base-url", "http://127.0.0.1:9", "--state-dir",
        str(tmp_path / "s"),
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert says in done.stderr


def test_several_plans_do_not_rehearse_on_separate_simulators(tmp_path):
    plans = _plans(tmp_path, "alpha", "beta")
    done = run_cli("run", *plans, "--state-dir", str(tmp_path / "s"))
    assert done.returncode == 1
    assert "start `planrunner sim` and run them with --dry-run --base-url" in done.stderr


def test_a_plan_that_cannot_resume_ends_alone_and_the_others_run(sim, tmp_path):
    """Each plan keeps its identity check: alpha's file changed since its journal was
    started, so alpha is refused (exit 2, its name on the line) while beta runs."""
    alpha, beta = _plans(tmp_path, "alpha", "beta")
    args = ["--dry-run", "--base-url", sim.url, "--state-dir", str(tmp_path / "s")]
    args += ["--rate-limit", "mock"]
    first = run_cli("run", alpha, *args)
    assert first.returncode == 0, first.stdout + first.stderr
    Path(alpha).write_text(_plan("alpha").replace("60100", "60200"), encoding="utf-8")
    both = run_cli("run", alpha, beta, *args)
    assert both.returncode == 2, both.stdout + both.stderr
    assert "[alpha] error: " in both.stderr and "changed since its journal" in both.stderr
    assert "3 plans" not in both.stdout and _exits(both.stdout) == ({"alpha": 2, "beta": 0}, 2)
    assert "[beta] " in both.stdout and "== beta" in both.stdout
    # alpha's orders are in its journal, not in this run: its row says nothing of them
    # (not "0 orders, 0/0, 0 open")
    (alpha_row,) = [x.split() for x in both.stdout.splitlines() if x.strip().startswith("alpha ")]
    assert alpha_row[1:5] == ["-", "-", "-", "-"], alpha_row
    assert len(sim.order_requests()) == 6  # alpha's three the first time, beta's three now


def test_cancel_all_stops_one_plan_of_a_process_and_the_others_go_on(sim, tmp_path):
    (alpha,) = _plans(tmp_path, "alpha", cancel_at="+120s")
    (beta,) = _plans(tmp_path, "beta", cancel_at="+8s")
    args = ["--dry-run", "--base-url", sim.url, "--state-dir", str(tmp_path / "s")]
    both = ["run", alpha, beta, *args, "--rate-limit", "mock"]
    with ending(start_planrunner(*both, seams=True)) as proc:
        assert len(sim.wait_requests(4, timeout=60)) == 4  # both placed and modified
        killed = run_cli("cancel-all", alpha, *args)
        assert killed.returncode == 0, killed.stdout + killed.stderr
        assert f"stopped runner pid {proc.pid}" in killed.stdout
        assert "entry: cancelled" in killed.stdout
        out, err = proc.communicate(timeout=120)  # beta goes on to its own cancel
    assert proc.returncode == 130, out + err  # alpha was stopped: the worst of the two
    assert _exits(out) == ({"alpha": 130, "beta": 0}, 130), out
    assert "[beta] " in out and "entry.cancel@+8s done" in " ".join(out.split())
    cancels = [e for e in sim.order_requests() if e["api_id"] == "kt10003"]
    assert len(cancels) == 2 and not list(tmp_path.rglob("stop-request.*"))
    assert [o for o in sim.get("orders")["orders"] if o["remaining"] > 0] == []


def test_ctrl_c_stops_every_plan_of_the_process(sim, tmp_path):
    plans = _plans(tmp_path, "alpha", "beta", cancel_at="+120s")
    state = str(tmp_path / "s")
    args = ["--dry-run", "--base-url", sim.url, "--state-dir", state, "--rate-limit", "mock"]
    with ending(start_planrunner("run", *plans, *args, seams=True)) as proc:
        sim.wait_requests(4, timeout=60)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, out + err
    assert _exits(out) == ({"alpha": 130, "beta": 130}, 130), out
    shown = run_cli("status", *plans, "--state-dir", state, "--format", "json")
    each = {
        d["file"]: {j["job"]: j["state"] for j in d["jobs"]}
        for d in json.loads(shown.stdout)["plans"]
    }
    assert all(jobs["entry.cancel@+120s"] == "pending" for jobs in each.values()), each
