"""Run the benchmarks: `python -m benchmarks [name ...]`.

Each `benchmarks/bench_<name>.py` exposes `main() -> None` and prints its own
medians and ratios. Variants inside one benchmark are interleaved in one run,
so the ratios are side by side; absolute figures drift on a shared VM.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time

import benchmarks


def _discover() -> list[str]:
    return sorted(
        m.name.removeprefix("bench_")
        for m in pkgutil.iter_modules(benchmarks.__path__)
        if m.name.startswith("bench_")
    )


def run(names: list[str]) -> None:
    for name in names or _discover():
        module = importlib.import_module(f"benchmarks.bench_{name}")
        print(f"\n=== benchmark: {name} ===", flush=True)
        started = time.perf_counter()
        module.main()
        print(f"--- {name} took {time.perf_counter() - started:.1f}s", flush=True)


if __name__ == "__main__":
    run(sys.argv[1:])
