"""The fuzzers of tests/fuzz at a larger count: examples run and failures per family.

    python bench/fuzz.py [--examples 1000] [--client-examples 3000] [--seed 0]
                         [--summary FILE]

Families (strategies and properties in tests/fuzz/plans.py and tests/fuzz/responses.py):
- plan documents -> `validate` and `show` (in-process CLI, --format json and text);
- YAML text (syntax errors, tabs, anchors/aliases, duplicate keys, deep nesting,
  control characters) -> `validate`, and `show` on a quarter of them;
- binary junk (not UTF-8) -> `validate`;
- broker answers -> KiwoomClient (place/modify/cancel/open_orders/fills/quote).
A failure is any broken property (exit 3 or a traceback, a problem without line/col/
`$`-path, an unclassified client outcome, an order resent after an ambiguous answer, a key
or token in an exception). The first failure of each kind is printed with its input.
Exit code 1 if any failure. CI runs the same properties with a bounded count
(tests/fuzz, derandomized); this script draws from `--seed`.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import summary  # noqa: E402
from hypothesis import HealthCheck, given, seed, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tests.fuzz import plans, responses  # noqa: E402


class Family:
    def __init__(self, name: str) -> None:
        self.name = name
        self.examples = 0
        self.failures = 0
        self.kinds: dict[str, tuple[str, Any]] = {}
        self.seconds = 0.0

    def record(self, problems: list[str], example: Any) -> None:
        self.examples += 1
        if problems:
            self.failures += 1
        for p in problems:
            self.kinds.setdefault(p[:80], (p, example))


def run(family: Family, strategy: st.SearchStrategy[Any], check: Callable[[Any], list[str]],
        n: int, at: int) -> None:  # fmt: skip
    @seed(at)
    @settings(
        max_examples=n,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def body(example: Any) -> None:
        try:
            problems = check(example)
        except Exception as exc:  # the checker itself broke: count it, go on
            problems = [f"checker raised {type(exc).__name__}: {exc}"]
        family.record(problems, example)

    t0 = time.perf_counter()
    body()
    family.seconds = time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--examples", type=int, default=1000, help="per plan/YAML family")
    ap.add_argument("--client-examples", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=0)
    summary.add_option(ap)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    logging.getLogger("planrunner").setLevel(logging.CRITICAL)  # retries log warnings
    checker = plans.Checker(Path(tempfile.mkdtemp(prefix="planrunner-fuzz-")))
    n = args.examples

    def doc(ex: tuple[Any, bool, str, str | None]) -> list[str]:
        d, flow, fmt, date = ex
        text = plans.dump(d, flow)
        return checker.validate(text, fmt) + checker.show(text, fmt, date)

    def text(ex: tuple[str, str, bool]) -> list[str]:
        t, fmt, also_show = ex
        return checker.validate(t, fmt) + (checker.show(t, "json") if also_show else [])

    fmts = st.sampled_from(["json", "text"])
    families = [
        (
            Family("plan documents -> validate + show"),
            st.tuples(
                plans.PLAN, st.booleans(), fmts, st.sampled_from([None, "2026-11-26", "2026-06-03"])
            ),
            doc,
            n,
        ),
        (
            Family("YAML text -> validate (+ show)"),
            st.tuples(plans.YAML_TEXT, fmts, st.integers(0, 3).map(lambda i: i == 0)),
            text,
            n,
        ),
        (
            Family("binary junk -> validate"),
            plans.YAML_BYTES,
            lambda b: checker.validate(b, "json"),
            max(1, n // 4),
        ),
        (
            Family("broker answers -> client"),
            responses.scenarios(),
            responses.check,
            args.client_examples,
        ),
    ]
    print(f"fuzz: seed {args.seed}, python {sys.version.split()[0]}")
    total_failures = 0
    for family, strategy, check, count in families:
        run(family, strategy, check, count, args.seed)
        total_failures += family.failures
        print(
            f"{family.name:<38} examples {family.examples:>6}  failures {family.failures:>4}"
            f"  ({family.seconds:.1f} s)"
        )
        for problem, example in family.kinds.values():
            print(f"    FAIL {problem[:300]}\n      input: {example!r:.400}")
    exits = Counter(checker.exits)
    print(
        "validate/show exit codes: "
        + ", ".join(f"{code}: {count}" for code, count in sorted(exits.items()))
    )
    print(f"total failures: {total_failures}")
    examples = sum(f.examples for f, *_ in families)
    summary.write(
        args.summary,
        [
            summary.figure(
                "fuzz: failures",
                "0",
                f"{total_failures} in {examples:,} examples ({len(families)} families)",
                total_failures == 0,
            )
        ],
    )
    return 1 if total_failures else 0


if __name__ == "__main__":
    sys.exit(main())
