"""Time the generation and writing of the full-size simulated file (818,238 events): target 30 s on 2 cores.

Usage: python benchmarks/bench_simulate.py [--events N] [--gzip]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from modules.data.simulation.simulate import DECIMALS, WORKERS, default_filename, simulate, write_simulation
from modules.data.simulation.writer import write_csv
from modules.schema import FULL_FILE_ROWS


def _cpu_seconds() -> float:
    """CPU time used so far by this process and its finished child processes (the parallel workers)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=FULL_FILE_ROWS)
    parser.add_argument("--gzip", action="store_true", help="also time writing a .csv.gz")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / default_filename(events=args.events)
        start, cpu = time.perf_counter(), _cpu_seconds()
        write_simulation(out, args.events)
        total, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
        print(f"generated and wrote {args.events:,} events to {out.name} ({out.stat().st_size / 1e6:.0f} MB) "
              f"in {total:.1f} s wall, {cpu:.1f} s CPU (this process and its workers; load average now "
              f"{os.getloadavg()[0]:.2f})")
        start = time.perf_counter()
        frame = simulate(args.events)
        generated = time.perf_counter() - start
        print(f"  of which generation alone: {generated:.1f} s")
        if args.gzip:
            start = time.perf_counter()
            write_csv(Path(folder) / "sim.csv.gz", frame, DECIMALS, compressed=True, workers=WORKERS)
            print(f"  writing it as .csv.gz: {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
