"""A journal belongs to one plan file and its content; ids do not shift on edits."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from planrunner.app.identity import PlanChanged
from planrunner.app.launch import RunOptions, run_plan
from planrunner.cli.group import cli
from planrunner.krx import days
from planrunner.plan.compile import compile_file
from tests.support.loopback import FAKE_KEYS, SimProcess
from tests.support.plan_text import plan_of
from tests.support.readings import readings, sim_args
from tests.support.rehearsal import DAY, OPEN, Rehearsal

TRIGGER = """\
  - when: {{price: {{symbol: "005930", at_or_above: 1}}}}
    place: {{id: {oid}, symbol: "005930", side: buy, qty: 1, price: {price}}}
"""
PRICES = {"a": 69000, "b": 68000}


def _trigger_plan(tmp_path: Path, *oids: str) -> Path:
    text = (
        "version: 1\nname: t\norders:\n"
        '  base: {symbol: "005930", side: buy, qty: 1, price: 60000, at: "09:00:01"}\n'
        "triggers:\n" + "".join(TRIGGER.format(oid=o, price=PRICES[o]) for o in oids)
    )
    path = tmp_path / "plan.yaml"
    path.write_text(text)
    return path


def test_issue11_item3_a_trigger_inserted_above_does_not_make_the_old_one_fire_again(
    tmp_path: Path,
) -> None:
    r = Rehearsal(tmp_path)
    first = compile_file(_trigger_plan(tmp_path, "a"), day=DAY, run_start=OPEN)
    assert r.run(first).exit_code == 0
    assert sorted(b["ord_uv"] for b in r.sent("kt10000")) == ["60000", "69000"]
    # Insert a trigger above it: the old one keeps its id, so it is done, not fired again.
    second = compile_file(_trigger_plan(tmp_path, "b", "a"), day=DAY, run_start=OPEN)
    assert [t.id for t in second.triggers][1] == first.triggers[0].id
    r.run(second)
    # Only the new trigger's order: the old one (69,000) is not placed a second time.
    assert sorted(b["ord_uv"] for b in r.sent("kt10000")) == ["60000", "68000", "69000"]


def _steps(name: str, *extra: str) -> str:
    """`entry` placed at +1s and cancelled at +2s, after the steps `extra`."""
    entry = 'entry: {symbol: "005930", side: buy, qty: 10, price: 69000, at: "+1s"}'
    return plan_of(name, entry, steps=(*extra, '{at: "+2s", cancel: {order: entry}}'))


INSERTED = '{at: "+1500ms", modify: {order: entry, price: 69100}}'


def test_issue11_item3_step_ids_do_not_shift_when_a_step_is_inserted(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(_steps("p"))
    before = [j.id for j in compile_file(path, day=DAY, run_start=OPEN).jobs]
    path.write_text(_steps("p", INSERTED, INSERTED))
    after = [j.id for j in compile_file(path, day=DAY, run_start=OPEN).jobs]
    assert before == ["entry.place", "entry.cancel@+2s"]
    assert after == ["entry.place", "entry.modify@+1.5s", "entry.modify@+1.5s~2", before[1]]


@pytest.fixture(scope="module")
def sim():
    s = SimProcess()
    yield s
    s.close()


def _run(plan: Path, sim: SimProcess, state: Path, **kw: Any):
    opts = RunOptions(mode="dry-run", base_url=sim.url, state_dir=state, **kw)
    events: list[str] = []
    result = run_plan(plan, opts, emit=lambda e: events.append(e.message), stop=threading.Event())
    return result, events


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in FAKE_KEYS.items():
        monkeypatch.setenv(k, v)


@pytest.fixture
def own_sim(request: pytest.FixtureRequest) -> Iterator[SimProcess]:
    """A simulator of the test's own, playing its broker reading (tests/support/readings.py)."""
    s = SimProcess(*sim_args(request.param))
    yield s
    s.close()


# The resume reads the broker's lists for what the first run left: the numbers' form.
@pytest.mark.parametrize("own_sim", readings("padding"), indirect=True)
def test_issue12_a_changed_plan_is_refused_with_what_changed_and_resumed_on_request(
    tmp_path: Path, own_sim: SimProcess, keys: None
) -> None:
    sim = own_sim
    plan = tmp_path / "p.yaml"
    plan.write_text(_steps("ident-changed"))
    first, _ = _run(plan, sim, tmp_path)
    assert first.exit_code == 0
    sent = len(sim.order_requests())
    plan.write_text(_steps("ident-changed", INSERTED))
    with pytest.raises(PlanChanged) as refused:
        _run(plan, sim, tmp_path)
    text = str(refused.value)
    assert "+ added    entry.modify@+1.5s" in text and "--resume-changed" in text
    assert len(sim.order_requests()) == sent
    second, events = _run(plan, sim, tmp_path, resume_changed=True)
    # What already acted stays done and is not sent again; the inserted step is not done.
    assert second.jobs["entry.place"] == "done" and second.jobs["entry.cancel@+2s"] == "done"
    assert second.jobs["entry.modify@+1.5s"] != "done"
    assert [r["api_id"] for r in sim.order_requests()[sent:]] == []
    assert any("resuming with it" in e for e in events)


def test_issue12_fresh_starts_a_new_journal_and_keeps_the_old_beside_it(
    tmp_path: Path, sim: SimProcess, keys: None
) -> None:
    plan = tmp_path / "p.yaml"
    plan.write_text(_steps("ident-fresh"))
    _run(plan, sim, tmp_path)
    plan.write_text(_steps("ident-fresh", INSERTED))
    result, events = _run(plan, sim, tmp_path, fresh=True)
    assert result.jobs["entry.place"] == "done"  # a new journal: placed anew
    journals = sorted(p.name for p in (tmp_path / "ident-fresh").iterdir())
    assert len(journals) == 2 and any("the old one is kept at" in e for e in events)


def test_issue11_item3_another_file_with_the_same_name_is_refused_naming_both(
    tmp_path: Path, sim: SimProcess, keys: None
) -> None:
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text(_steps("ident-shared"))
    b.write_text(_steps("ident-shared").replace("005930", "000660"))
    assert _run(a, sim, tmp_path)[0].exit_code == 0
    sent = len(sim.order_requests())
    with pytest.raises(PlanChanged, match=rf"{b} and {a} both have name: ident-shared"):
        _run(b, sim, tmp_path)
    assert len(sim.order_requests()) == sent


def test_issue11_item9_date_is_refused_for_a_plan_with_relative_times(tmp_path: Path) -> None:
    plan = tmp_path / "p.yaml"
    plan.write_text(_steps("ident-date"))
    today = dt.datetime.now(days.SEOUL).date()
    other = days.next_trading_day(today + dt.timedelta(days=1))
    out = CliRunner().invoke(
        cli,
        ["run", str(plan), "--dry-run", "--base-url", "http://127.0.0.1:9", "--date", str(other)],
        env=FAKE_KEYS,
    )
    assert out.exit_code == 1, out.output
    assert f"--date {other}: this plan has times relative to the run start" in out.output


def test_issue11_a_plan_refused_after_it_started_can_be_fixed_and_run(
    tmp_path: Path, sim: SimProcess, keys: None
) -> None:
    """A run refused once its journal was started (an `adopt` of a number the broker does
    not have: nothing scheduled, nothing sent) left a journal that bound the plan: the
    corrected plan was then refused as "changed" and needed --resume-changed. Nothing
    was done under that journal: the corrected plan runs, saying what changed."""
    plan = tmp_path / "p.yaml"
    text = _steps("ident-refused")
    plan.write_text(text.replace('at: "+1s"}', 'adopt: "9999999"}'))
    first, _ = _run(plan, sim, tmp_path)
    assert first.exit_code == 2 and any("adopt 9999999 refused" in a for a in first.attention)
    sent = len(sim.order_requests())
    plan.write_text(text)  # the typo fixed: the plan places its own order
    second, events = _run(plan, sim, tmp_path)
    assert second.exit_code == 0, second.attention
    assert second.jobs["entry.place"] == "done"
    assert [r["api_id"] for r in sim.order_requests()[sent:]] == ["kt10000", "kt10003"]
    assert any("nothing was done under it" in e for e in events), events
