"""Start-up: ``orchestrator-blocks --help`` and ``import orchestrator_blocks.sdk`` against
``python -c pass``, each a fresh process, interleaved, median of N runs.

A plugin imports the SDK in milliseconds (the kernel, the app and the block families'
libraries are not imported), and ``--help`` lists every verb without starting anything.
Rewrites the "Start-up" section of bench/RESULTS.md.

    python bench/bench_cli.py [--repeat 9]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from bench_kernel import write_section  # noqa: E402


def _cli() -> list[str]:
    script = Path(sys.executable).parent / "orchestrator-blocks"
    return [str(script)] if script.exists() else [sys.executable, "-m", "orchestrator_blocks"]


COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "python -c 'import orchestrator_blocks.sdk'": [
        sys.executable,
        "-c",
        "import orchestrator_blocks.sdk",
    ],
    "orchestrator-blocks --help": [*_cli(), "--help"],
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    args = parser.parse_args()
    samples: dict[str, list[float]] = {name: [] for name in COMMANDS}
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    for _ in range(args.repeat):
        for name, cmd in COMMANDS.items():
            t0 = time.perf_counter()
            subprocess.run(cmd, env=env, check=True, capture_output=True)
            samples[name].append(time.perf_counter() - t0)
    med = {name: statistics.median(v) for name, v in samples.items()}
    base = med["python -c pass"]
    goals = {
        "python -c 'import orchestrator_blocks.sdk'": "≤ 50 ms added",
        "orchestrator-blocks --help": "≤ 150 ms",
    }
    pyc = "no .pyc written (a module without one is compiled at every start)"
    lines = [
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.python_implementation()} "
        f"{platform.python_version()}, {os.cpu_count()} CPUs (shared with other work); each a "
        f"fresh process, interleaved, median of {args.repeat} (`python bench/bench_cli.py`); "
        f"{pyc if sys.dont_write_bytecode else '.pyc cached'}.",
        "",
        "| command | wall ms | added to `python -c pass` ms | goal |",
        "| --- | ---: | ---: | --- |",
    ]
    for name, value in med.items():
        added = "—" if value is base else f"{(value - base) * 1000:.0f}"
        lines.append(f"| `{name}` | {value * 1000:.0f} | {added} | {goals.get(name, '')} |")
    print("\n".join(lines))
    if not args.no_write:
        write_section("Start-up", "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
