"""Plan templates for `planrunner new`: one commented plan per example pattern.

A template is a plan text in `templates/NAME.yaml` with `${name}` placeholders and two
header lines that are not written out:

    #! what the template is for (one line)
    #! name=open-ladder symbol=005930 qty=10 ...     (every placeholder and its default)

`render` fills the placeholders (defaults, then `--set` values) and checks the result as
`validate` would, so a written plan is valid as written. Pure: no file is written here.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from planrunner.errors import PlanError, UsageError

_DIR = "templates"
_PLACEHOLDER = re.compile(r"\$\{([a-z_]+)\}")
# A value lands inside YAML (sometimes in quotes): no quotes, colons-with-spaces, newlines.
_VALUE = re.compile(r"^[A-Za-z0-9_.+-]+$")


@dataclass(frozen=True, slots=True)
class Template:
    name: str
    about: str
    defaults: dict[str, str]
    body: str


def _text(name: str) -> str | None:
    try:
        return (Path(__file__).parent / _DIR / f"{name}.yaml").read_text(encoding="utf-8")
    except OSError:
        from importlib import resources

        f = resources.files("planrunner.plan").joinpath(f"{_DIR}/{name}.yaml")
        return f.read_text(encoding="utf-8") if f.is_file() else None


@cache
def names() -> tuple[str, ...]:
    from importlib import resources

    folder = resources.files("planrunner.plan").joinpath(_DIR)
    return tuple(
        sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))
    )


def template(name: str) -> Template:
    text = _text(name) if re.fullmatch(r"[a-z0-9-]+", name) else None
    if text is None:
        raise UsageError(f"no template {name!r}: templates are {', '.join(names())}")
    about, params, body = text.split("\n", 2)
    defaults = dict(item.split("=", 1) for item in params.removeprefix("#! ").split())
    return Template(name=name, about=about.removeprefix("#! "), defaults=defaults, body=body)


def parse_sets(values: tuple[str, ...]) -> dict[str, str]:
    """`--set name=value` options as a dict (a usage error names a malformed one)."""
    out: dict[str, str] = {}
    for item in values:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise UsageError(f"--set {item!r}: write it as name=value")
        out[key.strip()] = value.strip()
    return out


def render(
    name: str, sets: dict[str, str], file: str = "<new plan>", day: dt.date | None = None
) -> str:
    """The template's plan with every placeholder filled; PlanError if it is not valid
    (on `day`: default the plan's own rule, today if a trading day, else the next)."""
    from planrunner.plan.compile import check_loaded
    from planrunner.plan.load import load_text

    t = template(name)
    unknown = sorted(set(sets) - set(t.defaults))
    if unknown:
        raise UsageError(
            f"template {name} has no value {', '.join(unknown)}: "
            f"it takes {', '.join(sorted(t.defaults))}"
        )
    values = {**t.defaults, **sets}
    for key, value in values.items():
        if not _VALUE.match(value):
            raise UsageError(
                f"--set {key}={value!r}: a value is letters, digits, '.', '_', '+' or '-'"
            )
    text = _PLACEHOLDER.sub(lambda m: values[m.group(1)], t.body)
    problems = check_loaded(load_text(text, file=file), day=day)[1]
    if problems:
        raise PlanError(problems)
    return text
