"""Random plan documents and random YAML text, and the properties `validate`/`show` keep.

Shared by the bounded CI tests (tests/fuzz/test_fuzz_plans.py) and the larger run in
bench/fuzz.py. A property check returns the list of what went wrong (empty = held), so
the bench can count failures and go on where a test asserts.

Properties, for any input file:
- the command exits 0 or 1 (never 3, the internal-error code, nor a traceback);
- `--format json` prints JSON: `[]`, or a list of problems each with a line >= 1, a
  column >= 1, a `$`-path and a message; `--format text` prints one problem per line as
  `file:line:col: $.path: message`.
"""

from __future__ import annotations

import json
import re
import string
from collections import Counter
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner
from hypothesis import strategies as st

from planrunner.cli import cli

# ---- plan documents ------------------------------------------------------------------

ODD_STRINGS = [
    "",
    " ",
    "\t",
    "\n",
    "~",
    "null",
    "yes",
    "on",
    "15:10",
    "24:00",
    "09:60",
    "9:5",
    "+0s",
    "+90s",
    "+99999999999999999999h",
    "+5x",
    "0s",
    "500ms",
    "-1s",
    "000660",
    "005930",
    "00593O",
    "０５９３０",
    "005930\n",
    "A0059 ",
    "0000139",
    "+1 tick",
    "-2 ticks",
    "+0 ticks",
    "+99999999999999999999 ticks",
    "2026-11-26",
    "2026-02-30",
    "0000-00-00",
    "9999-99-99",
    "Asia/Seoul",
    "UTC",
    "KRX",
    "krx",
    "buy",
    "BUY",
    "ｂｕｙ",
    "limit",
    "stop_limit",
    "☃",
    "주문",
    "\x00",
    "\u200b",
    "\ufeff",
    "'quoted'",
    '"dq"',
    "{a: 1}",
    "[1, 2]",
    "&anchor",
    "*alias",
    "%TAG",
    "\\x41",
    "a" * 60,
]

HUGE = st.one_of(
    st.integers(min_value=2**31 - 2, max_value=2**31 + 2),
    st.integers(min_value=2**63 - 2, max_value=2**63 + 2),
    st.integers(min_value=10**18, max_value=10**60),
    st.integers(min_value=-(10**60), max_value=0),
)

SCALAR_JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-5, max_value=10**6),
    HUGE,
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(ODD_STRINGS),
    st.text(max_size=20),
    st.dates().map(str),
)

JUNK = st.recursive(
    SCALAR_JUNK,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.one_of(st.text(max_size=8), st.integers()), inner, max_size=3),
    ),
    max_leaves=6,
)

ORDER_IDS = ["entry", "hedge", "takeprofit", "x", "stop"]
ORDER_TYPES = [
    "limit",
    "market",
    "conditional",
    "best",
    "priority",
    "limit_ioc",
    "market_fok",
    "stop_limit",
    "mid",
    "after_hours_single",
    "after_hours_close",
]
TIMES = ["09:00", "09:00:05", "09:30", "10:00", "15:10", "15:19", "15:30", "08:40", "18:00"]
TIMES += ["+1s", "+2s", "+90s", "+5m", "+1h", "+500ms"]


def plan_documents(junk: bool) -> st.SearchStrategy[dict[str, Any]]:
    """Plan documents from the schema's vocabulary; with `junk`, any field may hold
    anything (wrong types, huge numbers, odd strings, nested junk) and records may carry
    unknown keys; without, every value is of the right kind (cross-field rules, the
    calendar and the tick grid may still object)."""

    def w(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        # one_of picks a branch uniformly: repeat the valid one to keep documents sane
        return st.one_of(valid, valid, valid, valid, JUNK) if junk else valid

    symbol = w(st.sampled_from(["005930", "000660", "035720", "12345A"]))
    side = w(st.sampled_from(["buy", "sell"]))
    qty = w(st.integers(min_value=1, max_value=1000))
    on_grid = st.sampled_from([70000, 70100, 69000, 71000, 1999, 4995, 19990, 199900, 1000])
    price = w(st.one_of(on_grid, on_grid, on_grid, st.integers(min_value=1, max_value=2_000_000)))
    rel_price = w(st.sampled_from(["+1 tick", "-1 tick", "+2 ticks", "-3 ticks"]))
    time = w(st.sampled_from(TIMES))
    order_id = w(st.sampled_from(ORDER_IDS))
    duration = w(st.sampled_from(["500ms", "1s", "30s", "5m", "1h"]))
    exchange = w(st.sampled_from(["KRX", "NXT", "SOR"]))
    order_type = w(st.sampled_from(ORDER_TYPES))
    # mapping keys must be hashable: ids, odd text, numbers
    key = (
        st.one_of(*[st.sampled_from(ORDER_IDS)] * 3, st.text(max_size=8), st.integers())
        if junk
        else st.sampled_from(ORDER_IDS)
    )

    def record(
        fields: dict[str, st.SearchStrategy[Any]], required: tuple[str, ...] = ()
    ) -> st.SearchStrategy[dict[str, Any]]:
        """Some of `fields`; without junk, always the `required` ones."""
        if not junk:
            need = {k: v for k, v in fields.items() if k in required}
            rest = {k: v for k, v in fields.items() if k not in required}
            return st.fixed_dictionaries(need, optional=rest)
        some = st.fixed_dictionaries({}, optional=fields)
        extra = st.dictionaries(st.sampled_from(["bogus", "Qty", "prize", "note ", "x-y"]), JUNK)
        return st.one_of(some, some, some, st.builds(lambda a, b: {**a, **b}, some, extra))

    order_fields = {
        "symbol": symbol,
        "side": side,
        "qty": qty,
        "price": price,
        "type": order_type,
        "stop_price": price,
        "exchange": exchange,
    }
    # placed orders need symbol, side, qty; adopted ones an adopt number
    order = st.one_of(
        st.builds(
            lambda req, opt: {**req, **opt},
            st.fixed_dictionaries({"symbol": symbol, "side": side, "qty": qty}),
            record({"price": price, "at": time, "exchange": exchange}, ("price",)),
        ),
        st.builds(
            lambda req, opt: {**req, **opt},
            st.fixed_dictionaries(
                {"adopt": w(st.sampled_from(["0000139", "0000001", "139"])), "symbol": symbol}
            ),
            record({"side": side, "qty": qty, "price": price}),
        ),
        *([record({**order_fields, "at": time, "note": st.text(max_size=10)})] if junk else []),
    )
    place = st.one_of(
        record({"id": order_id, **order_fields}, ("id", "symbol", "side", "qty", "price")),
        record({"id": order_id, **order_fields}, ("id", "symbol", "side", "qty")),
    )
    actions: dict[str, st.SearchStrategy[Any]] = {
        "place": place,
        "modify": st.one_of(
            record({"order": order_id, "price": st.one_of(price, rel_price), "qty": qty}),
            record({"order": order_id, "price": st.one_of(price, rel_price)}, ("order", "price")),
            record({"order": order_id, "qty": qty}, ("order", "qty")),
        ),
        "cancel": record({"order": order_id, "qty": qty}, ("order",)),
        "market": record({"order": order_id}, ("order",)),
        "replace": record(
            {"order": order_id, "qty": qty, "price": price, "type": order_type}, ("order", "qty")
        ),
        "ladder": record(
            {
                "order": order_id,
                "every": duration,
                "by": rel_price,
                "from": time,
                "until": time,
                "limit": price,
            },
            ("order", "every", "by", "from", "until", "limit"),
        ),
    }

    def action_map(names: list[str]) -> st.SearchStrategy[dict[str, Any]]:
        one = st.sampled_from(names).flatmap(lambda n: actions[n].map(lambda v: {n: v}))
        if not junk:
            return one
        two = st.tuples(one, one).map(lambda ab: {**ab[0], **ab[1]})
        return st.one_of(one, one, one, two, st.just({}))

    step = st.builds(
        lambda at, act: {**at, **act},
        st.fixed_dictionaries({"at": time}) if not junk else record({"at": time}),
        action_map(list(actions)),
    )
    ops = ["below", "above", "at_or_below", "at_or_above"]
    price_cond = st.one_of(
        *([record({"symbol": symbol, **dict.fromkeys(ops, price)})] if junk else []),
        *[record({"symbol": symbol, op: price}, ("symbol", op)) for op in ops],
    )
    leaves = [
        price_cond.map(lambda v: {"price": v}),
        record({"order": order_id}, ("order",)).map(lambda v: {"filled": v}),
        record({"order": order_id}, ("order",)).map(lambda v: {"partially_filled": v}),
    ]
    condition = st.recursive(
        st.one_of(*leaves, JUNK) if junk else st.one_of(*leaves),
        lambda inner: st.one_of(
            st.lists(inner, min_size=0 if junk else 1, max_size=3).map(lambda v: {"all": v}),
            st.lists(inner, min_size=0 if junk else 1, max_size=3).map(lambda v: {"any": v}),
        ),
        max_leaves=5,
    )
    trigger = st.builds(
        lambda head, act: {**head, **act},
        st.fixed_dictionaries(
            {"when": condition},
            optional={
                "id": order_id,
                "between": w(st.lists(st.sampled_from(TIMES[:9]), min_size=2, max_size=2)),
                "repeat": w(st.booleans()),
            },
        ),
        action_map(["place", "modify", "cancel", "market", "replace"]),
    )
    policy = record(
        {
            "misfire_grace": duration,
            "on_late": w(st.sampled_from(["skip", "fail"])),
            "price_poll": duration,
            "max_order_value": w(st.integers(min_value=10**6, max_value=10**9)),
        }
    )
    optional = {
        "description": st.text(max_size=20),
        "timezone": w(st.just("Asia/Seoul")),
        "date": w(st.sampled_from(["2026-11-26", "2026-06-03", "2026-11-28", "2026-02-30"])),
        "exchange": exchange,
        "steps": w(st.lists(step, max_size=4)),
        "triggers": w(st.lists(trigger, max_size=3)),
        "policy": policy,
    }
    required = {
        "version": w(st.just(1)),
        "name": w(st.sampled_from(["t", "fuzz-plan", "a_b"])),
        "orders": w(st.dictionaries(key, order, min_size=1, max_size=3)),
    }
    if junk:
        return st.fixed_dictionaries({}, optional={**required, **optional, "bogus": JUNK})
    return st.fixed_dictionaries(required, optional=optional)


def _slots(doc: Any) -> list[tuple[Any, Any]]:
    """Every (container, key) of a document, containers first."""
    out: list[tuple[Any, Any]] = []
    stack = [doc]
    while stack:
        node = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for k, v in list(items):
            out.append((node, k))
            if isinstance(v, dict | list):
                stack.append(v)
    return out


def _apply(doc: Any, edits: list[tuple[int, str, Any]]) -> Any:
    """Replace a value with junk, drop a key, add an unknown key, or stringify a value."""
    for where, op, junk in edits:
        slots = _slots(doc)
        if not slots:
            break
        node, key = slots[where % len(slots)]
        if op == "junk":
            node[key] = junk
        elif op == "drop" and isinstance(node, dict):
            del node[key]
        elif op == "add" and isinstance(node, dict):
            node[f"unknown_{where % 7}"] = junk
        elif op == "str" and not isinstance(node[key], dict | list):
            node[key] = str(node[key])
    return doc


EDITS = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=1000),
        st.sampled_from(["junk", "drop", "add", "str"]),
        JUNK,
    ),
    max_size=2,
)


# Mostly well-typed documents, some of them edited once or twice, and some with junk
# anywhere: a third each.
PLAN = st.one_of(
    plan_documents(junk=False),
    st.builds(_apply, plan_documents(junk=False), EDITS),
    plan_documents(junk=True),
)


def dump(doc: Any, flow: bool) -> str:
    return yaml.safe_dump(
        doc, allow_unicode=True, sort_keys=False, default_flow_style=flow, width=80
    )


# ---- YAML text -------------------------------------------------------------------------

VALID_TEXT = """\
version: 1
name: t
orders:
  entry: &o
    symbol: "005930"
    side: buy
    qty: 10
    price: 70000
    at: "09:00:05"
steps:
  - at: "09:30"
    modify: {order: entry, price: 70100}
  - ladder: {order: entry, every: 5m, by: +1 tick, from: "09:35", until: "10:00", limit: 71000}
triggers:
  - when: {price: {symbol: "005930", below: 69000}}
    market: {order: entry}
policy: {misfire_grace: 30s}
"""

FRAGMENTS = [
    "\t",
    "  ",
    "\n",
    ":",
    ": ",
    "- ",
    "? ",
    "&a ",
    "*a",
    "*nope",
    "<<: *a\n",
    "!!binary ",
    "!!python/object:os.system ",
    "!custom ",
    "{",
    "}",
    "[",
    "]",
    ",",
    "'",
    '"',
    "|\n",
    ">-\n",
    "#",
    "%YAML 1.2\n",
    "%TAG ! tag:x,2000:\n",
    "---\n",
    "...\n",
    "version: 1\n",
    "name: t\n",
    "orders:\n",
    "  entry:\n",
    "    symbol: 005930\n",
    "    qty: 10\n",
    "    qty: 11\n",
    "steps:\n",
    "  - at: 15:10\n",
    "    cancel: {order: entry}\n",
    "\x00",
    "\x1b",
    "\ufeff",
    "\u2028",
    "\ud7ff",
    "☃",
    "주문",
    "\r\n",
    "\r",
]


def _nested(depth: int, flow: bool) -> str:
    if flow:
        return "a: " + "[" * depth + "]" * depth + "\n"
    return "".join("  " * i + f"k{i}:\n" for i in range(depth)) + "  " * depth + "x\n"


def _shared(doc: dict[str, Any]) -> str:
    """A plan whose orders are one shared object: safe_dump writes &id001 / *id001."""
    first = next(iter(doc["orders"].values()))
    return dump({**doc, "orders": {"entry": first, "hedge": first}}, False)


def _mutate(text: str, edits: list[tuple[int, int, str]]) -> str:
    for pos, cut, insert in edits:
        i = pos % (len(text) + 1)
        text = text[:i] + insert + text[i + cut :]
    return text


YAML_TEXT = st.one_of(
    # the valid plan, edited at random places
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=10_000),
            st.integers(min_value=0, max_value=6),
            st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=4)),
        ),
        min_size=1,
        max_size=6,
    ).map(lambda edits: _mutate(VALID_TEXT, edits)),
    # fragments glued together
    st.lists(st.sampled_from(FRAGMENTS), max_size=25).map("".join),
    # any text at all
    st.text(max_size=200),
    st.text(alphabet=string.printable, max_size=200),
    # deep nesting, block and flow
    st.builds(_nested, st.integers(min_value=50, max_value=3000), st.booleans()),
    # a random document dumped with anchors/aliases (shared sub-objects)
    plan_documents(junk=False).map(_shared),
    # a random plan dumped, then edited
    st.builds(
        lambda doc, edits: _mutate(dump(doc, False), edits),
        PLAN,
        st.lists(
            st.tuples(
                st.integers(min_value=0, max_value=10_000),
                st.integers(min_value=0, max_value=3),
                st.sampled_from(FRAGMENTS),
            ),
            max_size=3,
        ),
    ),
)

# Binary junk: bytes that need not be UTF-8 at all.
YAML_BYTES = st.one_of(
    st.binary(max_size=200),
    st.builds(lambda b: VALID_TEXT.encode() + b, st.binary(min_size=1, max_size=20)),
    st.builds(lambda t: t.encode("utf-16"), st.just(VALID_TEXT)),
)

# ---- the properties --------------------------------------------------------------------

# The path may hold quoted keys with spaces or colons (`$.orders['a: b']`): not greedy.
_LINE = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): (?P<path>\$.*?): (?P<msg>.+)$")


class Checker:
    """Runs the CLI in-process on one file and says what broke its contract."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.runner = CliRunner()
        # a crash log, if any, lands here and not in the user's state dir
        self.env = {"XDG_STATE_HOME": str(workdir / "state")}
        self.exits: Counter[int] = Counter()  # exit codes seen, for the bench's figures

    def write(self, content: str | bytes, name: str = "plan.yaml") -> Path:
        path = self.workdir / name
        if isinstance(content, str):
            content = content.encode("utf-8", "surrogatepass")
        path.write_bytes(content)
        return path

    def check(self, args: list[str], fmt: str) -> list[str]:
        result = self.runner.invoke(cli, [*args, "--format", fmt], env=self.env)
        self.exits[result.exit_code] += 1
        where = f"planrunner {' '.join(args)} --format {fmt}"
        bad: list[str] = []
        if result.exit_code not in (0, 1):
            bad.append(f"{where}: exit {result.exit_code}: {result.output[-500:]}")
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            bad.append(f"{where}: raised {type(result.exception).__name__}: {result.exception}")
        if bad:
            return bad
        out = result.stdout
        if fmt == "json":
            bad += self._json(where, out, result.exit_code)
        elif result.exit_code == 1:
            # "\n" only: str.splitlines() also breaks at \x1c-\x1e, \x85, \u2028 that a
            # key may hold, which no terminal or `grep` treats as a new line
            lines = out.rstrip("\n").split("\n") if out.strip() else []
            if not lines:
                bad.append(f"{where}: exit 1 with no problem printed; stderr {result.stderr!r}")
            for line in lines:
                m = _LINE.match(line)
                if not m or int(m["line"]) < 1 or int(m["col"]) < 1:
                    bad.append(f"{where}: not `file:line:col: $.path: message`: {line!r}")
        return bad

    def _json(self, where: str, out: str, code: int) -> list[str]:
        try:
            data = json.loads(out)
        except ValueError:
            return [f"{where}: stdout is not JSON: {out[:300]!r}"]
        if code == 0:
            want_list = where.startswith("planrunner validate")
            if (data != []) if want_list else not isinstance(data, dict):
                return [f"{where}: exit 0 but printed {out[:200]!r}"]
            return []
        if not isinstance(data, list) or not data:
            return [f"{where}: exit 1 without a list of problems: {out[:300]!r}"]
        bad = []
        for p in data:
            ok = (
                isinstance(p, dict)
                and isinstance(p.get("line"), int)
                and p["line"] >= 1
                and isinstance(p.get("col"), int)
                and p["col"] >= 1
                and isinstance(p.get("path"), str)
                and p["path"].startswith("$")
                and isinstance(p.get("message"), str)
                and p["message"].strip() != ""
                and "\n" not in p["message"]
            )
            if not ok:
                bad.append(f"{where}: malformed problem {p!r}")
        return bad

    def validate(self, content: str | bytes, fmt: str = "json") -> list[str]:
        return self.check(["validate", str(self.write(content))], fmt)

    def show(self, content: str | bytes, fmt: str = "json", date: str | None = None) -> list[str]:
        args = ["show", str(self.write(content))]
        if date:
            args += ["--date", date]
        return self.check(args, fmt)
