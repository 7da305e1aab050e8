"""Benchmark: the whole study (experiments 0-16 and the ablations 18-22) run by one engine on one machine, each
experiment's training and scoring time beside those of the study's own loop.

Each experiment runs as `higgsml run N --machine M --engine E` would, into a scratch folder (never results/). The
LUMIN figures are those of the committed full records of the same machine and dataset in results/ (trained by the
LUMIN engine), or, with `--compare`, a fresh LUMIN run of each experiment in the same scratch folder. The table gives
per experiment the train and scoring (validation + test, with test-time augmentation) seconds of both, the validation
AMS at the cut and the public AMS of both, then the totals and their ratios.

    python benchmarks/bench_ladder.py --machine epyc2 [--engine batched] [--compare] [--only 0 7 13] [--quick]

Look at the load first (`uptime`): another job on the cores doubles every time.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
STUDY = [str(n) for n in (*range(17), *range(18, 23))]
"""The paper's experiments and ablations; 17 (the search) and 23 (beyond the paper) are not in the ladder."""


def run(number: str, machine: str, engine: str, scratch: Path, quick: bool, dataset: str) -> Path:
    """Run one experiment with `engine` into `scratch`; the record's path."""
    env = {**os.environ, "HIGGSML_RESULTS_DIR": str(scratch / engine / "results"),
           "HIGGSML_WEIGHTS_DIR": str(scratch / engine / "weights"), "MPLBACKEND": "Agg"}
    command = [sys.executable, "-m", "modules.cli", "run", number, "--machine", machine, "--engine", engine,
               "--dataset", dataset, *(["--quick"] if quick else [])]
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"bench_ladder: experiment {number} with {engine} failed:\n{done.stderr[-3000:]}")
    folder = scratch / engine / "results" / ("quick" if quick else "")
    found = sorted(folder.glob(f"{number}_*_{machine}.json"))
    if not found:
        raise SystemExit(f"bench_ladder: experiment {number} with {engine} wrote no record in {folder}")
    return found[0]


def figures(path: Path) -> dict[str, Any]:
    """What the table shows of one record: engine, times and scores."""
    from modules.results.records import read_record

    record = read_record(path)
    times = {k: record.value(k) or 0.0 for k in ("train_time", "val_time", "test_time")}
    return {"engine": record.config.get("training", {}).get("engine", "lumin"), "dataset": record.dataset.key,
            "train": times["train_time"], "score": times["val_time"] + times["test_time"],
            "val_ams": record.value("val_ams_smooth"), "public": record.value("test_public_ams")}


def committed(number: str, machine: str) -> Path | None:
    """The committed full record of experiment `number` on `machine`, if there is one."""
    found = sorted((ROOT / "results").glob(f"{number}_*_{machine}.json"))
    return found[0] if found else None


def table(rows: list[tuple[str, dict[str, Any], dict[str, Any] | None]], engine: str) -> str:
    """The comparison as text: one line per experiment, then the totals and ratios."""
    def cell(value: float | None, fmt: str) -> str:
        return "-" if value is None else format(value, fmt)

    lines = [f"{'exp':>4} {'train LUMIN':>11} {'train ' + engine:>13} {'score LUMIN':>11} {'score ' + engine:>13} "
             f"{'val AMS L':>9} {'val AMS ' + engine[0].upper():>9} {'public L':>8} {'public ' + engine[0].upper():>8}"]
    totals = {"lt": 0.0, "et": 0.0, "ls": 0.0, "es": 0.0}
    for number, mine, theirs in rows:
        label = number if mine["engine"] == engine else f"{number}*"
        lines.append(f"{label:>4} {cell(theirs and theirs['train'], '11.1f')} {mine['train']:13.1f} "
                     f"{cell(theirs and theirs['score'], '11.1f')} {mine['score']:13.1f} "
                     f"{cell(theirs and theirs['val_ams'], '9.4f')} {cell(mine['val_ams'], '9.4f')} "
                     f"{cell(theirs and theirs['public'], '8.4f')} {cell(mine['public'], '8.4f')}")
        totals["et"] += mine["train"]
        totals["es"] += mine["score"]
        if theirs is not None:
            totals["lt"] += theirs["train"]
            totals["ls"] += theirs["score"]
    lines.append(f"{'all':>4} {totals['lt']:11.1f} {totals['et']:13.1f} {totals['ls']:11.1f} {totals['es']:13.1f}")
    if any(mine["engine"] != engine for _, mine, _ in rows):
        lines.append(f"   * {engine} could not train it: LUMIN did (the run says why)")
    whole_l, whole_e = totals["lt"] + totals["ls"], totals["et"] + totals["es"]
    lines.append(f"total train + score: LUMIN {whole_l:.1f} s, {engine} {whole_e:.1f} s ({whole_e / 60:.1f} min)")
    if totals["lt"] and totals["ls"]:
        lines.append(f"ratios {engine}/LUMIN: training {totals['et'] / totals['lt']:.3f}, scoring "
                     f"{totals['es'] / totals['ls']:.3f}, whole {whole_e / whole_l:.3f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--machine", default="local", help="machine name from machines.toml (default: %(default)s)")
    parser.add_argument("--engine", default="batched", choices=("batched", "lumin"))
    parser.add_argument("--compare", action="store_true", help="run LUMIN afresh too, rather than reading results/")
    parser.add_argument("--only", nargs="+", default=None, metavar="N", help="these experiments only")
    parser.add_argument("--quick", action="store_true", help="quick mode (a few thousand events): a smoke test")
    parser.add_argument("--dataset", default="auto")
    args = parser.parse_args()
    numbers = args.only or STUDY
    scratch = Path(tempfile.mkdtemp(prefix="bench_ladder_"))
    print(f"bench_ladder: {len(numbers)} experiments, engine {args.engine}, machine {args.machine}"
          f"{' (quick)' if args.quick else ''}; load {' '.join(Path('/proc/loadavg').read_text().split()[:3])}; "
          f"scratch {scratch}", flush=True)
    rows = []
    for number in numbers:
        mine = figures(run(number, args.machine, args.engine, scratch, args.quick, args.dataset))
        if args.compare or args.quick:
            theirs = figures(run(number, args.machine, "lumin", scratch, args.quick, args.dataset))
        else:
            path = committed(number, args.machine)
            theirs = figures(path) if path is not None else None
            if theirs is not None and (theirs["engine"] != "lumin" or theirs["dataset"] != mine["dataset"]):
                theirs = None  # not comparable: another engine or other data
        rows.append((number, mine, theirs))
        print(f"experiment {number}: train {mine['train']:.1f} s, score {mine['score']:.1f} s ({mine['engine']})",
              flush=True)
    print(table(rows, args.engine))


if __name__ == "__main__":
    main()
