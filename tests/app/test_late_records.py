"""Jobs `on_late: place` sent late (the journal's `late` records) as `status` and the
report show them: the state names `run` prints, the attention list when they need it, the
late send in the report's job list and order lineage."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from planrunner.app.report import Rates, figures, render_html
from planrunner.app.text import status_data, status_lines
from planrunner.engine.attention import items
from planrunner.engine.journal import replay, replay_lines
from planrunner.model import Place
from tests.engine.test_issue16_on_late_place import _plan
from tests.support.rehearsal import DAY, Rehearsal, at, job, spec

RATES = Rates(fee=0.00015, tax=0.002, source="test")


def _shown(row: dict[str, str]) -> str:
    return row["state"] + (f" ({row['reason']})" if row["reason"] else "")


def test_status_names_a_late_send_as_run_does(tmp_path: Path) -> None:
    compiled = _plan()
    r = Rehearsal(tmp_path, speed=2000, start=at(12))
    result = r.run(compiled, began=at(12))
    assert result.jobs["entry.place"] == "done (sent 7m late: on_late place)"
    state = replay(tmp_path / "journal.jsonl")
    data = status_data(compiled, state)
    assert {row["job"]: _shown(row) for row in data["jobs"]} == result.jobs
    late = {row["job"]: row["sent_late"] for row in data["jobs"]}
    assert late["other.place"] is late["entry.cancel"] is None
    assert isinstance(late["entry.place"], float) and round(late["entry.place"] / 60) == 7
    # The attention list is run's: the job skipped past the window, not the late send.
    assert data["attention"] == list(result.attention)
    assert [a.split(":")[0] for a in data["attention"]] == ["other.place"]
    text = status_lines(json.loads(json.dumps(data)))  # as `status --format json` has it
    assert "entry.place   09:05:00  entry  place   done (sent 7m late: on_late place)" in text
    assert "sent late (on_late: place): entry.place (7m)" in text

    # A resumed run names the job it finished before as the first run did.
    again = r.run(compiled, began=r.target.clock.now() if r.target else None)
    assert again.jobs["entry.place"] == "done (sent 7m late: on_late place)"

    # The report: the job list, and the place in the order's lineage.
    fig = figures(replay(tmp_path / "journal.jsonl"), day=DAY, rates=RATES)
    assert fig["jobs"]["entry.place"] == "done (sent 7m late: on_late place)"
    entry = next(o for o in fig["orders"] if o["order"] == "entry")
    assert [(li["kind"], li["late"]) for li in entry["lineage"]] == [
        ("place", "7m"),
        ("cancel", None),
    ]
    assert entry["lineage"][0]["late_seconds"] == late["entry.place"]  # status' number
    page = render_html(fig)
    assert '<td class="l">place (sent 7m late: on_late place)</td>' in page.replace("'", '"')


def test_a_late_job_that_needs_attention_says_it_was_late(tmp_path: Path) -> None:
    """Sent late and then refused by the runner's checks (over the day's upper limit):
    the item in the attention list says both."""
    compiled = _plan()
    too_high = spec("entry", price=99_900)  # 70,000 × 1.3 = 91,000: above the upper limit
    jobs = [
        job(j.id, (j.at - at(0)).total_seconds() / 60, Place(spec=too_high))
        if j.id == "entry.place"
        else j
        for j in compiled.jobs
    ]
    compiled = dataclasses.replace(
        compiled, orders={**compiled.orders, "entry": too_high}, jobs=tuple(jobs)
    )
    r = Rehearsal(tmp_path, speed=2000, start=at(12))
    result = r.run(compiled, began=at(12))
    state = replay(tmp_path / "journal.jsonl")
    assert "entry.place" in state.late
    [item] = [i for i in items(state) if i.job == "entry.place"]
    assert item.text.endswith("; 7m late: on_late place)"), item.text
    assert item.text in result.attention
    data = status_data(compiled, state)
    assert item.text in data["attention"]
    assert r.sent("kt10000") == []


def test_a_late_record_with_no_request_after_it_sent_nothing() -> None:
    """The runner stopped between the `late` record and the intent: nothing was sent."""
    start = {"type": "start", "format": 1, "mode": "sim", "env": "sim", "file": "t.yaml",
             "run_start": "2026-11-26T09:00:00+09:00", "t": "x"}  # fmt: skip
    late = {"type": "late", "job": "entry.place", "late": "7m", "window": "10m", "t": "y"}
    state = replay_lines([json.dumps(start), json.dumps(late)])
    rows = {row["job"]: row for row in status_data(_plan(), state)["jobs"]}
    assert _shown(rows["entry.place"]) == (
        "pending (to be sent 7m late (on_late: place); no request written)"
    )
    assert rows["other.place"]["state"] == "pending"
