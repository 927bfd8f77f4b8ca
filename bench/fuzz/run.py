"""Fuzz every parser with a large budget: the properties of tests/test_fuzz_parsers.py.

    python bench/fuzz/run.py --examples 100000            # every parser, 100k inputs each
    python bench/fuzz/run.py --examples 2000 --only mime  # one parser (name substring)
    TLSRPT_FUZZ_EXAMPLES=100000 python bench/fuzz/run.py  # same as --examples

Inputs are generated in rounds of ``--chunk`` per parser, round-robin, so a run stopped by
``--stop-after`` (seconds) still has an equal share for every parser; each round is one
hypothesis run (no example database, no deadline). A failure is recorded (with hypothesis's
shrunk example) and the parser keeps being fuzzed. Prints, per parser: inputs tried, failures,
seconds and inputs per second; ``--out FILE`` also writes one JSON line per parser.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, settings

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))

from hostile.properties import Property, properties


def fuzz_round(prop: Property, examples: int) -> tuple[int, str | None]:
    """One hypothesis run of `examples` inputs: (inputs tried, failure or None)."""
    calls = [0]

    @settings(max_examples=examples, deadline=None, database=None,
              phases=[Phase.generate, Phase.shrink], suppress_health_check=list(HealthCheck),
              print_blob=False)
    @given(prop.strategy)
    def run(value: object) -> None:
        calls[0] += 1
        prop.check(value)

    try:
        run()
    except Exception as e:
        text = f"{type(e).__name__}: {e}"
        return calls[0], " ".join(text.split())[:400]
    return calls[0], None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--examples", type=int,
                    default=int(os.environ.get("TLSRPT_FUZZ_EXAMPLES", "100000")),
                    help="generated inputs per parser (default 100000)")
    ap.add_argument("--chunk", type=int, default=10_000, help="inputs per round (default 10000)")
    ap.add_argument("--only", action="append", default=[], help="parsers whose name contains")
    ap.add_argument("--stop-after", type=float, default=None, help="seconds; finish the round")
    ap.add_argument("--out", type=Path, help="write one JSON line per parser here")
    args = ap.parse_args(argv)

    props = [p for p in properties() if not args.only or any(o in p.name for o in args.only)]
    stats = {p.name: {"parser": p.name, "inputs": 0, "failures": 0, "seconds": 0.0,
                      "errors": []} for p in props}
    start = time.monotonic()
    stopped = False
    while not stopped and any(stats[p.name]["inputs"] < args.examples for p in props):
        for p in props:
            st = stats[p.name]
            want = min(args.chunk, args.examples - st["inputs"])
            if want <= 0:
                continue
            if args.stop_after is not None and time.monotonic() - start > args.stop_after:
                stopped = True
                break
            t0 = time.perf_counter()
            n, failure = fuzz_round(p, want)
            st["seconds"] += time.perf_counter() - t0
            # A round can end early: a failure, or a small strategy hypothesis has exhausted.
            st["inputs"] += max(n, 1)
            if failure:
                st["failures"] += 1
                st["errors"].append(failure)
            print(f"{p.name:28} {st['inputs']:>8} inputs {st['failures']:>3} failures "
                  f"{st['seconds']:8.1f} s", file=sys.stderr, flush=True)

    print(f"\n{'parser':28} {'inputs':>8} {'failures':>8} {'seconds':>8} {'inputs/s':>9}")
    for st in stats.values():
        rate = st["inputs"] / st["seconds"] if st["seconds"] else 0.0
        print(f"{st['parser']:28} {st['inputs']:>8} {st['failures']:>8} {st['seconds']:>8.1f} "
              f"{rate:>9.0f}")
        for err in st["errors"][:3]:
            print(f"    {err}")
    total = sum(st["inputs"] for st in stats.values())
    print(f"{'total':28} {total:>8} {sum(st['failures'] for st in stats.values()):>8} "
          f"{time.monotonic() - start:>8.1f}")
    if stopped:
        print(f"stopped after {args.stop_after:.0f} s (--stop-after) before the full budget")
    if args.out:
        with args.out.open("w") as fh:
            for st in stats.values():
                fh.write(json.dumps(st) + "\n")
    return 1 if any(st["failures"] for st in stats.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
