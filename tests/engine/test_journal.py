import datetime as dt
import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from planrunner.engine.journal import (
    ImpossibleTransition,
    Journal,
    JournalCorrupt,
    JournalTooNew,
    JournalWriteError,
    journal_path,
    replay,
    replay_lines,
)
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


def test_torn_last_line_that_is_no_intent_is_dropped_and_next_record_starts_clean(tmp_path):
    p = _path(tmp_path)
    p.parent.mkdir(parents=True)
    p.write_text('{"type":"start","run_start":"2026-11-26T09:00:00+09:00"}\n{"type":"done","jo')
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
        "j = Journal(Path(sys.argv[1])); j.open(); j.append({'type': 'start', "
        "'pid': __import__('os').getpid(), 'run_start': '2026-11-26T09:00:00+09:00'});"
        "print('locked', flush=True);"
        " time.sleep(30)"
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


def _intent(job="entry.place", req=0):
    return {
        "type": "intent",
        "job": job,
        "req": req,
        "order": "entry",
        "kind": "place",
        "api_id": "kt10000",
        "body": {"stk_cd": "005930", "ord_qty": "10", "ord_uv": "69000"},
    }


def test_issue11_item4_torn_intent_is_in_doubt_never_never_sent(tmp_path):
    p = _path(tmp_path)
    p.parent.mkdir(parents=True)
    line = json.dumps({**_intent(), "t": "2026-11-26T09:00:00.000+09:00"}, separators=(",", ":"))
    p.write_text('{"type":"start","run_start":"2026-11-26T09:00:00+09:00"}\n' + line[:-20])
    with Journal(p) as j:
        state = j.open()
        [(job, req, rec)] = state.in_doubt()
        assert (job, req, rec["torn"], rec["body"]["stk_cd"]) == ("entry.place", 0, True, "005930")
    # The intent is now a complete line: every later replay still has it in doubt.
    [(job, req, rec)] = replay(p).in_doubt()
    assert (job, req, rec["torn"]) == ("entry.place", 0, True)


def test_issue11_item4_torn_line_that_cannot_be_told_is_refused(tmp_path):
    p = _path(tmp_path)
    p.parent.mkdir(parents=True)
    p.write_text('{"type":"start","run_start":"2026-11-26T09:00:00+09:00"}\n{"type":"inte')
    with pytest.raises(JournalCorrupt, match="cut off before it said which request"):
        Journal(p).open()


def test_issue11_item9_no_file_to_delete_bypasses_the_lock(tmp_path):
    p = _path(tmp_path)
    with Journal(p) as first:
        first.open()
        for f in p.parent.iterdir():  # everything but the journal: a lock file, if any
            if f != p:
                f.unlink()
        with pytest.raises(RunError, match="another runner"):
            Journal(p).open()


def test_issue11_item9_a_journal_removed_under_a_runner_stops_its_sending(tmp_path):
    p = _path(tmp_path)
    with Journal(p) as j:
        j.open()
        p.unlink()
        with pytest.raises(JournalWriteError, match="removed or replaced"):
            j.append(_intent(), sync=True)
        assert j.state.in_doubt() == []  # not written: not sent
        with pytest.raises(JournalWriteError):
            j.append({"type": "done", "job": "x"})


def test_issue11_item4_short_write_sends_nothing_and_the_run_exits_2(tmp_path):
    """A real short write: the journal's file size is limited (RLIMIT_FSIZE, SIGXFSZ
    ignored) in a child process that runs a plan on the embedded simulator."""
    code = r"""
import json, resource, signal, sys
from pathlib import Path
from planrunner.model import Place
from tests.support.rehearsal import Rehearsal, job, plan, spec

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
r = Rehearsal(Path(sys.argv[1]))
compiled = plan([spec()], [job("entry.place", 0.1, Place(spec=spec()))])
resource.setrlimit(resource.RLIMIT_FSIZE, (60, resource.RLIM_INFINITY))
result = r.run(compiled)
print(json.dumps({"exit": result.exit_code, "sent": len(r.sent("kt10000")),
                  "attention": list(result.attention)}))
"""
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=str(Path(__file__).resolve().parents[2]),
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["sent"] == 0 and result["exit"] == 2
    assert "could not be written" in result["attention"][0]
    # The torn intent the short write left is in doubt at the next start, never "not sent".
    [(job, req, rec)] = replay(tmp_path / "journal.jsonl").in_doubt()
    assert (job, req, rec["torn"]) == ("entry.place", 0, True)


def test_issue13_reads_while_appending_from_another_thread(tmp_path):
    """Readers iterate the state while another thread appends records for new jobs and
    orders: before copy-on-write this raised 'dictionary changed size during iteration'."""
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    errors: list[BaseException] = []
    done = threading.Event()
    with Journal(_path(tmp_path)) as j:
        j.open()

        def write() -> None:
            try:
                for i in range(3000):
                    j.append({"type": "skipped", "job": f"job{i}", "reason": "x"})
                    j.append(
                        {"type": "adopt", "order": f"o{i}", "ord_no": f"{i:07d}"},
                    )
            finally:
                done.set()

        t = threading.Thread(target=write)
        t.start()
        try:
            while not done.is_set():
                try:
                    j.state.in_doubt()
                    {link.ord_no for links in j.state.lineage.values() for link in links}
                    [js.state for js in j.state.jobs.values()]
                    j.state.job("nobody")
                except RuntimeError as e:
                    errors.append(e)
                    break
        finally:
            t.join()
            sys.setswitchinterval(switch)
        assert "nobody" not in j.state.jobs  # job() does not write
    assert errors == []


def test_issue13_a_newer_journal_format_is_refused(tmp_path):
    p = _path(tmp_path)
    p.parent.mkdir(parents=True)
    p.write_text('{"type":"start","format":99,"run_start":"2026-11-26T09:00:00+09:00"}\n')
    with pytest.raises(JournalTooNew, match=r"newer planrunner \(journal format 99"):
        Journal(p).open()
    assert replay_lines(['{"type":"start","run_start":"x"}']).starts  # format 1: no field


def test_issue13_the_directory_is_fsynced_when_a_journal_is_created(tmp_path, monkeypatch):
    synced: list[bool] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        synced.append(stat.S_ISDIR(os.fstat(fd).st_mode))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    with Journal(_path(tmp_path)) as j:
        j.open()
    assert synced.count(True) == 2  # the new plan directory's parent, and the directory
    synced.clear()
    with Journal(_path(tmp_path)) as j:
        j.open()
    assert True not in synced  # nothing new to name


def test_issue13_impossible_transition_is_refused_before_writing(tmp_path):
    p = _path(tmp_path)
    with Journal(p) as j:
        j.open()
        j.append({"type": "done", "job": "entry.place"})
        size = p.stat().st_size
        with pytest.raises(ImpossibleTransition, match="a finished job never sends again"):
            j.append(_intent(), sync=True)
        assert p.stat().st_size == size and j.state.in_doubt() == []


def test_issue11_a_refused_open_leaves_the_state_directory_as_it_found_it(tmp_path):
    """A run refused before its first record (a renamed plan, a changed one, a plan
    error found once the journal is open) abandons its journal: the empty file it made
    goes (with the plan's folder it made); a journal `--fresh` set aside comes back;
    a journal with records stays."""
    path = _path(tmp_path)
    j = Journal(path)
    j.open()
    assert path.exists()
    j.abandon()
    assert not path.exists() and not path.parent.exists()

    with Journal(path) as j:
        j.open()
        j.append({"type": "stop", "exit_code": 0}, sync=True)
    before = path.read_bytes()
    fresh = Journal(path)
    fresh.open(fresh=True)
    assert fresh.kept is not None and path.read_bytes() == b""
    fresh.abandon()
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # nothing set aside

    again = Journal(path)
    again.open()
    again.abandon()
    assert path.read_bytes() == before  # records: only closed
    with Journal(path) as j:
        j.open()  # the lock was released
