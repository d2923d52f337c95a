"""``make bench``: run the benchmarks and print their figures (no pass/fail).

    .venv/bin/python tests/benchmarks/run.py [--only NAME] [--sizes 100000,1000000]

NAME: cohort, models, explain, landmarks or spark (default: all).

Each benchmark is a module of this folder with a ``main(sizes, ...)``; docs/benchmarks.md says
what each measures.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script: make `tests.benchmarks` importable
    sys.path.insert(0, str(ROOT))

from tests.benchmarks import (  # noqa: E402
    cohort_build,
    explain_reports,
    landmarks,
    models_accuracy,
    models_speed,
    spark_build,
)

BENCHMARKS = ("cohort", "models", "explain", "landmarks", "spark")
DEFAULT_SIZES = [100_000, 1_000_000]


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError:
        message = f"--sizes takes numbers like 100000,1000000, got {text!r}"
        raise argparse.ArgumentTypeError(message) from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"--sizes needs positive numbers, got {text!r}")
    return sizes


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(BENCHMARKS), help="run one benchmark")
    parser.add_argument(
        "--sizes", type=_sizes, default=DEFAULT_SIZES, help="persons per synthetic CDM"
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs per measurement; the fastest is shown"
    )
    parser.add_argument(
        "--definition",
        type=Path,
        default=cohort_build.DEFINITION,
        help="cohort definition to build [tests/benchmarks/bench_cohort.yaml]",
    )
    parser.add_argument("--no-pandas", action="store_true", help="skip the pandas reference")
    args = parser.parse_args(argv)
    if args.only in (None, "cohort"):
        cohort_build.main(
            args.sizes,
            definition=args.definition.resolve(),
            repeat=max(1, args.repeat),
            pandas=not args.no_pandas,
        )
    if args.only in (None, "models"):
        models_accuracy.main()
        models_speed.main(repeat=max(1, args.repeat))
    if args.only in (None, "explain"):
        explain_reports.main()
    if args.only in (None, "landmarks"):
        landmarks.main(args.sizes)
    if args.only in (None, "spark"):
        spark_build.main(args.sizes, definition=args.definition.resolve())


if __name__ == "__main__":
    main()
