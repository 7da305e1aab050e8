"""Reproduce the study on one machine's hardware: every chosen experiment under each of the paper's split seeds, one
`higgsml run <experiment> --machine <hardware> --split-of <paper machine>` per (experiment, seed) pair, in turn in
this process or as tasks on a Dask cluster (each a `higgsml run` process on a worker), then the report. A pair whose
record exists is kept and never run again, so a killed reproduction continues with what is missing (and an
interrupted pair from the members it had saved)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modules import paths, record
from modules.catalogue import code_cells, experiment_info, experiments, find_experiment
from modules.errors import UserError
from modules.experiment import load_machines, results_dir, run_label, run_title
from modules.results.paper_build import MACHINES as PAPER_MACHINES

OUTPUT_TAIL = 3000
"""Characters of a failed pair's output kept for the summary (a Dask task's output is not streamed)."""


@dataclass(frozen=True)
class Pair:
    """One run of the reproduction: an experiment with the split seed of one of the paper's machines."""

    experiment: str
    seed_of: str
    seed: int

    def title(self, machine: str) -> str:
        return f"{run_title(self.experiment, machine, self.seed_of)} (seed {self.seed})"


@dataclass(frozen=True)
class Plan:
    """What a reproduction runs: on which hardware, which pairs, and how each pair's `higgsml run` is called."""

    machine: str
    pairs: list[Pair]
    dataset: str = "auto"
    quick: bool = False
    engine: str = "batched"
    unset: tuple[str, ...] = ()
    """Environment variables a pair's `higgsml run` must not see (the command layer names them): a pair trains its
    members where it runs, so a scheduler a user set by hand for `higgsml run` would send them elsewhere."""

    def record_path(self, pair: Pair) -> Path:
        return results_dir(self.quick) / f"{run_label(pair.experiment, self.machine, pair.seed_of)}.json"

    def command(self, pair: Pair) -> list[str]:
        """The `higgsml run` command line of one pair (a Dask task runs it)."""
        return [sys.executable, "-m", "modules.cli", "run", pair.experiment, "--machine", self.machine,
                "--split-of", pair.seed_of, "--dataset", self.dataset, "--engine", self.engine,
                *(["--quick"] if self.quick else [])]


def reproducible(notebook: Path) -> bool:
    """Whether an experiment's notebook can run with another machine's split seed (its parameters cell takes
    SPLIT_OF); the search (17) cannot: `higgsml search` runs it."""
    return any("parameters" in tags and "SPLIT_OF" in source for tags, source in code_cells(notebook))


def choose_experiments(only: str | None = None, beyond_paper: bool = False) -> list[str]:
    """The experiments to run: those `only` names (numbers or names, comma-separated), else every reproducible
    experiment of the paper (0-16 and 18-22), with those beyond the paper (23, ...) where `beyond_paper`."""
    if only:
        chosen = [find_experiment(spec.strip()) for spec in only.split(",") if spec.strip()]
        for name, notebook in chosen:
            if not reproducible(notebook):
                raise UserError(f"{name} cannot run with another machine's split seed (its notebook takes no "
                                f"SPLIT_OF); the search runs with `higgsml search`")
        return list(dict.fromkeys(name for name, _ in chosen))
    return [name for name, notebook in experiments().items() if reproducible(notebook)
            and (beyond_paper or not experiment_info(notebook).get("beyond_paper"))]


def make_plan(machine: str, experiments_chosen: list[str], seeds: Sequence[str] = PAPER_MACHINES,
              **options: Any) -> Plan:
    """The pairs, seed by seed (each seed's ladder complete before the next begins), for `machine`'s hardware; a
    paper machine's name is refused as the hardware, since its records would then pass for the paper's."""
    machines = load_machines()
    if machine not in machines:
        raise UserError(f"unknown machine {machine!r}; known: {', '.join(machines)}. Add the hardware this runs on "
                        f"to machines.toml as a [{machine}] table with `seed` and `description`.")
    if machine in PAPER_MACHINES:
        raise UserError(f"--machine names the hardware this runs on, and {machine} is one of the paper's machines, "
                        f"whose records these would pass for; add this computer to machines.toml and name it")
    unknown = [s for s in seeds if s not in machines]
    if unknown:
        raise UserError(f"--seeds: unknown machine {', '.join(unknown)}; the paper's are {', '.join(PAPER_MACHINES)}")
    pairs = [Pair(name, seed_of, machines[seed_of].seed) for seed_of in dict.fromkeys(seeds)
             for name in experiments_chosen]
    return Plan(machine, pairs, **options)


def kept(plan: Plan, pair: Pair) -> bool:
    """Whether a pair's record is already there and readable (then it is kept and not run again)."""
    path = plan.record_path(pair)
    if not path.exists():
        return False
    try:
        record.read(path)
    except record.RecordError as err:
        print(f"{path}: {err}; running the pair again", flush=True)
        return False
    return True


def run_pair(command: list[str], unset: tuple[str, ...] = ()) -> tuple[int, str]:
    """A Dask task: run one pair's `higgsml run` in the project's folder on the worker, without the environment
    variables `unset` names; return its exit status and the end of its output."""
    environment = {k: v for k, v in os.environ.items() if k not in unset}
    done = subprocess.run(command, cwd=paths.PROJECT_ROOT, env=environment, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return done.returncode, done.stdout[-OUTPUT_TAIL:]


RunHere = Callable[[Plan, Pair], object]
"""How a pair runs in this process: `higgsml run`'s own function, which the command layer passes in."""


def run_here(plan: Plan, todo: list[Pair], shown: dict[Pair, int], run: RunHere) -> list[Pair]:
    """Run the pairs one after another in this process (torch and LUMIN loaded once); return those that failed."""
    failed = []
    for pair in todo:
        print(f"[{shown[pair]}/{len(plan.pairs)}] running {pair.title(plan.machine)}", flush=True)
        try:
            run(plan, pair)
        except UserError as err:
            failed.append(pair)
            print(f"FAILED {pair.title(plan.machine)}: {err}", file=sys.stderr, flush=True)
    return failed


def run_on_dask(plan: Plan, todo: list[Pair], scheduler: str, workers: int | None) -> list[Pair]:
    """Run the pairs as tasks on a Dask cluster (each trains its members on the worker it lands on); return those
    that failed. The client, and a local cluster it started, are closed however the run ends."""
    from dask.distributed import as_completed

    from modules import cluster

    client = cluster.connect(scheduler, workers)
    try:
        futures = {client.submit(run_pair, plan.command(pair), plan.unset, pure=False,
                                 key=f"reproduce-{run_label(pair.experiment, plan.machine, pair.seed_of)}"): pair
                   for pair in todo}
        print(f"{len(futures)} pairs submitted", flush=True)
        failed = []
        for done, future in enumerate(as_completed(futures), 1):
            pair = futures[future]
            status, tail = future.result()
            word = "finished" if status == 0 else f"FAILED (exit status {status})"
            print(f"[{done}/{len(todo)} done] {word}: {pair.title(plan.machine)}", flush=True)
            if status != 0:
                failed.append(pair)
                print(tail, file=sys.stderr, flush=True)
        return failed
    finally:
        cluster.close(client)


def reproduce(plan: Plan, run: RunHere, scheduler: str | None = None, workers: int | None = None) -> list[Pair]:
    """Run every pair of `plan` whose record is missing (here with `run`, or on Dask), saying which are kept; return
    the pairs that failed."""
    shown = {pair: i for i, pair in enumerate(plan.pairs, 1)}
    todo = []
    for pair in plan.pairs:
        if kept(plan, pair):
            print(f"[{shown[pair]}/{len(plan.pairs)}] kept {plan.record_path(pair).name}", flush=True)
        else:
            todo.append(pair)
    print(f"{len(plan.pairs) - len(todo)} of {len(plan.pairs)} pairs already recorded; {len(todo)} to run on "
          f"{plan.machine}'s hardware" + (f" over Dask ({scheduler})" if scheduler and todo else ""), flush=True)
    if not todo:
        return []
    if scheduler is None:
        return run_here(plan, todo, shown, run)
    return run_on_dask(plan, todo, scheduler, workers)


def reproduce_and_report(plan: Plan, run: RunHere, scheduler: str | None = None, workers: int | None = None) -> int:
    """Run what is missing, then write the report of the folder the records went to (results/, or results/quick/
    with quick runs only); return the exit status: 1 where a pair failed."""
    from modules.results import report

    failed = reproduce(plan, run, scheduler, workers)
    out = report.report_path(results_dir(plan.quick) / "report.md")
    report.build(out.parent, out, quick=plan.quick)
    print(f"{len(plan.pairs) - len(failed)} of {len(plan.pairs)} pairs recorded"
          + (f"; failed: {'; '.join(pair.title(plan.machine) for pair in failed)}" if failed else "")
          + f"; report written to {out}", flush=True)
    return 1 if failed else 0
