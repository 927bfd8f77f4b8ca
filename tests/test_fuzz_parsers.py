"""Property-based fuzzing of every parser (hypothesis), on a small CI budget.

The strategies and checks live in tests/hostile/properties.py; bench/fuzz/run.py runs the same
properties with 100,000+ inputs each. Here each parser gets ``TLSRPT_FUZZ_EXAMPLES`` examples
(default 200), no deadline, and no example database (runs stay independent of earlier ones).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

sys.path.insert(0, str(Path(__file__).parent))

from hostile.properties import properties

EXAMPLES = int(os.environ.get("TLSRPT_FUZZ_EXAMPLES", "200"))
CI = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.filter_too_much],
)
PROPERTIES = {p.name: p for p in properties()}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", list(PROPERTIES))
def test_parser_never_raises_and_answers_in_one_line(name: str) -> None:
    prop = PROPERTIES[name]
    calls = [0]

    @CI
    @given(prop.strategy)
    def run(value: object) -> None:
        calls[0] += 1
        prop.check(value)

    run()
    assert calls[0] >= min(EXAMPLES, 50)  # the property really ran (not filtered away)
