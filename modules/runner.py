"""Execute experiment notebooks headless through papermill, one or all in order, and show what each recorded."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modules import paths
from modules.catalogue import code_cells, experiments, number
from modules.errors import UserError

KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=ERROR"]
"""The kernel's own warnings (such as ipykernel's note that a local kernel talks over unencrypted TCP) are nothing a
user can act on; its errors, and every error in the notebook's cells, still show."""
EXPECTED_ERRORS = ("UserError", "DataError")
"""Errors this project raises for bad input, each already one clear line."""


def executed_path(notebook: Path, machine: str, quick: bool, split_of: str | None = None) -> Path:
    from modules.experiment import run_label

    return notebook.with_name(f"{run_label(notebook.stem, machine, split_of)}{'_quick' if quick else ''}.ipynb")


def execute(notebook: Path, output: Path, parameters: dict[str, object], log_output: bool = False) -> None:
    """Execute `notebook` into `output` with papermill; a failing cell becomes a UserError naming it. The kernel's
    standard error reaches ours until Ctrl-C, after which only `higgsml: interrupted` is said."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    from modules.kernel import StderrRelay, kernel_manager_class, quiet_on_interrupt

    try:
        with StderrRelay() as relay, quiet_on_interrupt(relay):
            papermill.execute_notebook(str(notebook), str(output), parameters=parameters, cwd=str(notebook.parent),
                                       kernel_name="python3", progress_bar=sys.stderr.isatty(),
                                       log_output=log_output, extra_arguments=KERNEL_ARGUMENTS,
                                       kernel_manager_class=kernel_manager_class(relay))
    except PapermillExecutionError as err:
        if err.ename in EXPECTED_ERRORS:  # our own one-line errors say all there is to say
            raise UserError(f"{notebook.name}: {err.evalue}") from None
        print(f"--- cell [{err.exec_count}] of {notebook.name} failed ---\n{err.source}\n--- {err.ename}: {err.evalue}",
              file=sys.stderr)
        raise UserError(f"{notebook.name}: cell [{err.exec_count}] failed with {err.ename}: {err.evalue} "
                        f"(executed copy: {output})") from None


def run_in_process(notebook: Path, parameters: dict[str, object],
                   after_cell: Callable[[str, dict[str, Any]], None] | None = None,
                   until: str | None = None) -> dict[str, Any]:
    """Execute a notebook's code cells in this process, in its folder, with `parameters` overriding the defaults of
    its parameters cell; return the namespace, so tests and benchmarks can inspect the objects the notebook built.
    `after_cell(source, namespace)` is called after each cell (benchmarks time stages with it); with `until`, the
    run stops after the first cell whose source contains that text."""
    import os

    namespace: dict[str, Any] = {}
    previous = Path.cwd()
    os.chdir(notebook.parent)
    try:
        for tags, source in code_cells(notebook):
            if "parameters" in tags:  # the defaults, then the values given, as papermill injects them
                source += "\n" + "\n".join(f"{key} = {value!r}" for key, value in parameters.items())
            exec(compile(source, str(notebook), "exec"), namespace)
            if after_cell is not None:
                after_cell(source, namespace)
            if until is not None and until in source:
                break
    finally:
        os.chdir(previous)
    return namespace


NOTEBOOK_DEFAULTS = {"ENGINE": "batched", "SCHEDULER": None, "DEVICE": "cpu"}
"""What every experiment notebook's parameters cell says when nothing is asked for. With a Dask scheduler and no
engine asked for, the engine is LUMIN's (the batched engine trains in this process)."""


@dataclass(frozen=True)
class RunOptions:
    """How to run experiment notebooks: the parameters each receives, and whether to stream its output."""

    machine: str
    dataset: str = "auto"
    quick: bool = False
    fresh: bool = False
    split_of: str | None = None
    """Another machine whose split seed the run uses on this machine's hardware."""
    engine: str = NOTEBOOK_DEFAULTS["ENGINE"]
    scheduler: str | None = NOTEBOOK_DEFAULTS["SCHEDULER"]
    device: str = NOTEBOOK_DEFAULTS["DEVICE"]
    log_output: bool = False

    def parameters(self) -> dict[str, object]:
        """The notebook's parameters cell: MACHINE, DATASET, QUICK, FRESH, SPLIT_OF, ENGINE, SCHEDULER and DEVICE."""
        return {"MACHINE": self.machine, "DATASET": str(self.dataset), "QUICK": self.quick, "FRESH": self.fresh,
                "SPLIT_OF": self.split_of, "ENGINE": self.engine, "SCHEDULER": self.scheduler, "DEVICE": self.device}


def run_one(name: str, notebook: Path, options: RunOptions) -> Path:
    """Execute one experiment's notebook and print its metrics; return the results JSON written."""
    from modules import locks, progress
    from modules.experiment import run_lock, run_title, workdir_for

    workdir = workdir_for(name, options.machine, options.quick, options.split_of)
    with locks.exclusive(run_lock(workdir), run_title(name, options.machine, options.split_of)):
        return _run_locked(name, notebook, options, workdir / progress.FILE)


def _run_locked(name: str, notebook: Path, options: RunOptions, status: Path) -> Path:
    """`run_one` once the run's lock is held (the notebook's session finds it held by this process, its parent)."""
    from modules import progress
    from modules.experiment import Experiment, metrics_table, results_dir, run_label, run_title

    output = executed_path(notebook, options.machine, options.quick, options.split_of)
    mode = "quick" if options.quick else "full"
    print(f"running {run_title(name, options.machine, options.split_of)} ({mode} mode), "
          f"dataset {options.dataset}; executed copy: {output}", flush=True)
    start = time.perf_counter()
    os.environ[progress.HEADLESS] = "1"  # the kernel reports to the status file; this process shows it
    with progress.Watcher(status):
        execute(notebook, output, options.parameters(), log_output=options.log_output)
    path = results_dir(options.quick) / f"{run_label(name, options.machine, options.split_of)}.json"
    result = Experiment.from_json(path)
    print(f"finished in {time.perf_counter() - start:.0f} s; {result.dataset.get('description', 'dataset unknown')}")
    print(metrics_table(result.results).to_string())
    print(f"results: {path}", flush=True)
    return path


def run_all(options: RunOptions, start: int | None = None, notebooks_dir: Path | None = None) -> int:
    """Every experiment numbered `start` or above, in order; a failure is reported by name and the rest still run."""
    notebooks_dir = paths.NOTEBOOKS_DIR if notebooks_dir is None else notebooks_dir
    start = start or 0
    chosen = {name: nb for name, nb in experiments(notebooks_dir).items() if number(name) >= start}
    if not chosen:
        raise UserError(f"no experiment numbered {start} or above in {notebooks_dir}")
    failed = {}
    for i, (name, notebook) in enumerate(chosen.items(), 1):
        print(f"[{i}/{len(chosen)}] {name}", flush=True)
        try:
            run_one(name, notebook, options)
        except UserError as err:
            failed[name] = str(err)
            print(f"FAILED {name}: {err}", file=sys.stderr, flush=True)
    print(f"{len(chosen) - len(failed)} of {len(chosen)} experiments ran; "
          + ("failed: " + ", ".join(failed) if failed else "none failed"))
    return 1 if failed else 0
