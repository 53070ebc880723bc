"""Hypothesis settings: bounded and derandomized for CI; bench/fuzz.py asks for more.

`PLANRUNNER_FUZZ_EXAMPLES` overrides the per-test example count (CI default 60).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

CI_EXAMPLES = int(os.environ.get("PLANRUNNER_FUZZ_EXAMPLES", "60"))


def bounded(max_examples: int = CI_EXAMPLES) -> settings:
    return settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,  # the same examples on every run: CI is stable
        database=None,  # nothing written to .hypothesis/
        print_blob=True,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
            HealthCheck.function_scoped_fixture,
        ],
    )
