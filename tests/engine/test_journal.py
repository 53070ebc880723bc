import datetime as dt
import json
import os
import subprocess
import sys

import pytest

from planrunner.engine.journal import Journal, JournalCorrupt, journal_path, replay
from planrunner.errors import RunError


def _path(tmp_path):
    return journal_path(tmp_path, "demo", dt.date(2026, 11, 26), "sim")


def test_lineage_follows_new_numbers_from_acks(tmp_path):
    with Journal(_path(tmp_path)) as j:
        j.open()
        j.append(
            {
                "type": "intent",
                "job": "entry.place",
                "req": 0,
                "order": "entry",
                "kind": "place",
                "api_id": "kt10000",
                "body": {},
            },
            sync=True,
        )
        j.append(
            {
                "type": "ack",
                "job": "entry.place",
                "req": 0,
                "order": "entry",
                "kind": "place",
                "ord_no": "0000139",
            }
        )
        j.append({"type": "done", "job": "entry.place"})
        j.append(
            {
                "type": "ack",
                "job": "steps[0]",
                "req": 1,
                "order": "entry",
                "kind": "modify",
                "ord_no": "0000140",
                "base_orig_ord_no": "0000139",
            }
        )
    state = replay(_path(tmp_path))
    assert [link.ord_no for link in state.lineage["entry"]] == ["0000139", "0000140"]
    assert state.newest("entry") == "0000140"
    assert state.jobs["entry.place"].state == "done"
    assert state.in_doubt() == []


def test_intent_without_outcome_is_in_doubt(tmp_path):
    with Journal(_path(tmp_path)) as j:
        j.open()
        j.append(
            {
                "type": "intent",
                "job": "steps[1]",
                "req": 0,
                "order": "entry",
                "kind": "cancel",
                "api_id": "kt10003",
                "body": {},
            },
            sync=True,
        )
    [(job, req, rec)] = replay(_path(tmp_path)).in_doubt()
    assert (job, req, rec["type"]) == ("steps[1]", 0, "intent")


def test_torn_last_line_is_ignored_and_next_record_starts_clean(tmp_path):
    p = _path(tmp_path)
    p.parent.mkdir(parents=True)
    p.write_text('{"type":"start","run_start":"2026-11-26T09:00:00+09:00"}\n{"type":"inte')
    with Journal(p) as j:
        state = j.open()
        assert state.torn_tail and len(state.starts) == 1
        j.append({"type": "done", "job": "x"})
    again = replay(p)
    assert again.jobs["x"].state == "done" and not again.torn_tail


def test_bad_line_in_the_middle_is_an_error_naming_the_line(tmp_path):
    p = _path(tmp_path)
    p.parent.mkdir(parents=True)
    p.write_text('{"type":"done","job":"a"}\nnot json\n{"type":"done","job":"b"}\n')
    with pytest.raises(JournalCorrupt, match=r":2: unreadable journal line"):
        replay(p)


def test_journal_file_is_private(tmp_path):
    with Journal(_path(tmp_path)) as j:
        j.open()
    assert os.stat(_path(tmp_path)).st_mode & 0o777 == 0o600


def test_second_holder_is_refused_with_the_holders_pid(tmp_path):
    p = _path(tmp_path)
    code = (
        "import sys, time; from pathlib import Path; from planrunner.engine.journal import Journal;"
        "j = Journal(Path(sys.argv[1])); j.open(); print('locked', flush=True); time.sleep(30)"
    )
    with subprocess.Popen(
        [sys.executable, "-c", code, str(p)], stdout=subprocess.PIPE, text=True
    ) as holder:
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
            with pytest.raises(RunError, match=rf"another runner \(pid {holder.pid}\)"):
                Journal(p).open()
        finally:
            holder.kill()
    with Journal(p) as j:
        j.open()  # the lock dies with its holder


def test_records_are_one_json_object_per_line(tmp_path):
    with Journal(_path(tmp_path)) as j:
        j.open()
        j.append({"type": "skipped", "job": "a", "reason": "가격 late by 3s"})
    [line] = _path(tmp_path).read_text(encoding="utf-8").splitlines()
    rec = json.loads(line)
    assert rec["reason"] == "가격 late by 3s" and "t" in rec
