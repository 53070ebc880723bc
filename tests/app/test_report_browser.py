"""The day's report opened in a real headless Chromium: it renders, with no console error.

An example plan is rehearsed on the simulator, its report written as the rehearsal writes
it, and the page loaded from disk (file://) in the system's Chromium over the DevTools
protocol (tests/support/browser.py). The screenshot's chart areas must not be blank (the
pixels vary, in more than a handful of colours) and the browser must report no console
error, uncaught exception or failed load. A deliberately broken page shows the check
sees such errors. Skipped, with the reason, where no Chromium is installed; `.ci/run`
installs one, so CI always runs it.

`python -m tests.app.test_report_browser docs/report-example.png` writes the screenshot
shown in the README.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from planrunner.app.launch import RunOptions, run_plan
from planrunner.app.report import plan_report, render_html
from tests.support.browser import Browser, find_chromium

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = "emergency-close.yaml"  # a trigger, a market switch, fills and a price path

CHROMIUM = find_chromium()
if CHROMIUM is None and os.environ.get("PLANRUNNER_REQUIRE_BROWSER"):
    # CI installed one (.ci/run): not finding it there is a failure, never a skip.
    raise RuntimeError("PLANRUNNER_REQUIRE_BROWSER is set but no Chromium was found")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no Chromium on this machine (apt-get install chromium-headless-shell, or "
    "chromium; .ci/run installs it, so CI runs this test)",
)


def rehearsed_report(
    state_dir: Path, plans: Path = ROOT / "plans", name: str = EXAMPLE
) -> tuple[Path, dict[str, Any]]:
    """Rehearse an example plan and write its report beside the journal, as `run` does."""
    result = run_plan(
        plans / name,
        RunOptions(state_dir=state_dir, scenario=plans / "scenarios" / name, speed=4000),
        emit=lambda e: None,
        stop=threading.Event(),
    )
    assert result.exit_code == 0, result.attention
    [journal] = state_dir.glob("*/*.sim.jsonl")
    day = dt.date.fromisoformat(journal.name.split(".")[0])
    fig = plan_report(plans / name, state_dir=state_dir, day=day, journal=journal)
    page = journal.with_suffix(".html")
    page.write_text(render_html(fig), encoding="utf-8")
    return page, fig


def _region_stats(png: bytes, box: dict[str, float]) -> tuple[float, int]:
    """(pixel variance summed over RGB, number of distinct colours) inside `box`."""
    from PIL import Image, ImageStat

    img = Image.open(io.BytesIO(png)).convert("RGB")
    left, top = int(box["x"]), int(box["y"])
    crop = img.crop((left, top, left + int(box["width"]), top + int(box["height"])))
    variance = sum(ImageStat.Stat(crop).var)
    colours = crop.getcolors(maxcolors=1 << 20) or []
    return variance, len(colours)


@needs_chromium
def test_issue17_acceptance2_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    page_file, fig = rehearsed_report(tmp_path)
    broken = tmp_path / "broken.html"
    broken.write_text(
        "<!DOCTYPE html><html><body><img src='missing.png'>"
        "<script>console.error('deliberate'); nosuchfunction();</script></body></html>",
        encoding="utf-8",
    )
    assert CHROMIUM is not None
    with Browser(CHROMIUM) as browser:
        page = browser.open(page_file.as_uri(), boxes=("svg", "body"))
        bad = browser.open(broken.as_uri())
    # The check sees errors where there are some: a console error, an exception, a 404.
    assert len(bad.errors) >= 3, bad.errors
    assert page.errors == []
    assert page.png.startswith(b"\x89PNG")
    charts = page.boxes["svg"]
    assert len(charts) == len(fig["symbols"]) >= 1
    for box in charts:
        assert box["width"] > 400 and box["height"] > 150, box  # laid out, not collapsed
        variance, colours = _region_stats(page.png, box)
        # A blank (or single-colour) area has variance 0 and one colour; the chart draws
        # shaded bands, grid lines, the price path, limit lines and fill markers.
        assert variance > 100 and colours > 20, (variance, colours)
    assert page.boxes["body"][0]["height"] > 400  # the tables rendered below the chart


def main(out: str) -> None:
    """Write the screenshot of an example's report (the README shows it). The example is
    rehearsed in a scratch directory with relative paths, so the page names no local
    directory: `plans/…` and `state/…`."""
    import shutil
    import tempfile

    chromium = find_chromium()
    if chromium is None:
        raise SystemExit("no Chromium found: apt-get install chromium-headless-shell")
    target = Path(out).resolve()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        (Path("plans") / "scenarios").mkdir(parents=True)
        for part in (EXAMPLE, f"scenarios/{EXAMPLE}"):
            shutil.copy(ROOT / "plans" / part, Path("plans") / part)
        page_file, _fig = rehearsed_report(Path("state"), Path("plans"))
        with Browser(chromium, width=960, height=700) as browser:
            page = browser.open(page_file.resolve().as_uri())
        os.chdir(ROOT)
    if page.errors:
        raise SystemExit(f"the page reported errors: {page.errors}")
    target.write_bytes(page.png)
    print(out)


if __name__ == "__main__":
    main(sys.argv[1])
