"""The plan language is pure: no network, scheduler or terminal libraries."""

from __future__ import annotations

from tests.support.fresh import modules_after


def test_plan_language_imports_no_httpx_apscheduler_click() -> None:
    loaded = modules_after(
        "import planrunner.plan.load, planrunner.plan.schema, planrunner.plan.rules",
        "import planrunner.plan.compile, planrunner.plan.show",
        "planrunner.plan.schema._validator()",
    )
    assert sorted(m for m in loaded if m.split(".")[0] in ("httpx", "apscheduler", "click")) == []


def test_the_check_itself_would_notice_an_import() -> None:
    assert "click" in modules_after("import click")
