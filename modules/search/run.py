"""The hyper-parameter search of experiment 17: propose architectures, train and score each as a trial, save every
trial as it finishes so a search resumes, and summarise the best in a record."""

from __future__ import annotations

import math
import time
from functools import partial
from typing import Any

from modules import cluster, evaluation, seeds, session, training
from modules.data.identity import is_simulated
from modules.data.prepare import PrepareOptions
from modules.errors import UserError
from modules.folds import fold_yielder
from modules.models.describe import describe_model
from modules.models.ensembles import load_ensemble
from modules.search import propose
from modules.search.space import Params, acceptable, model_builder, size
from modules.search.trials import TrialStore

NAME = "17_hyperparam_search"
TRIALS = 30
MODELS = 3
QUICK_TRIALS = 3
SPLIT_SEED = 6666
"""The train/validation split of every search, whatever the machine: the study's search prepared its data with seed
6666 (`data_import.py -s 6666`, original notebooks/17_hyperparam_search/17_hyperparam_search_mbp.ipynb, cell 4);
trials still draw their architectures and train from the machine's own seed."""


def store_for(quick: bool) -> TrialStore:
    return TrialStore(session.results_dir(quick) / "search" / NAME)


def trial_training(scale: session.Scale) -> dict[str, Any]:
    """How every trial trains, as the study's search did: 3 members, the final model's 1cycle over 15 epochs
    ((45, 90) sub-epochs, beta1 left at 0.9 as in the published runs), patience 50 cycles."""
    from modules.models.original import OneCycle

    onecycle = partial(OneCycle, lengths=(scale.cycle(45), scale.cycle(90)), lr_range=[1e-4, 1e-2],
                       mom_range=(0.85, 0.95), interp="cosine")
    return {"n_models": scale.models(MODELS), "n_epochs": scale.epochs(15), "cb_partials": [onecycle],
            "patience": scale.patience(50)}


def run_trial(run: session.Session, train_fy: Any, params: Params, index: int, proposer: str,
              client: Any = None) -> dict[str, Any]:
    """Train and score one architecture with the session's engine and device (LUMIN's members on the search's Dask
    `client` if it has one); return the trial record (without private scores)."""
    builder = model_builder(params, train_fy)
    n_parameters, body_width = size(params, train_fy)
    how = trial_training(run.scale)
    trained = training.train_ensemble(train_fy, builder, how["n_models"], how["n_epochs"], run.workdir / "trial",
                                      cb_partials=how["cb_partials"], patience=how["patience"],
                                      seed=seeds.derive(run.experiment.seed, seeds.TRIAL_OFFSET + index),
                                      client=client, engine=run.engine, device=run.device, what=f"trial {index}")
    ensemble = load_ensemble(trained, builder)
    fast, device = trained.vectorised_tta, run.device
    cut, val = evaluation.evaluate_validation(ensemble, run.prepared, tta=True, workdir=run.workdir, fast=fast,
                                              device=device)
    test = evaluation.evaluate_test(ensemble, run.prepared, cut, tta=True, workdir=run.workdir, fast=fast,
                                    device=device)
    scores = {**{k: v for k, v in val.items() if not k.endswith("_time")},
              **{k: v for k, v in test.items() if "private" not in k and not k.endswith("_time")}}
    identity = run.prepared.dataset["files"]
    return {"search": NAME, "machine": run.experiment.machine, "index": index, "proposer": proposer,
            "params": params.as_dict(), "label": params.label, "n_parameters": n_parameters,
            "body_width": body_width, "scores": scores,
            "times": {"train": trained.seconds, "val": val["val_time"], "test": test.get("test_time")},
            "n_models": len(trained.members), "n_epochs": trained.config["n_epochs"],
            "engine": trained.config["engine"],
            "quick": run.quick,
            "dataset": {"sha1": [f.get("sha1") for f in identity], "simulated": any(is_simulated(f) for f in identity),
                        "description": run.source.description},
            "hardware": run.experiment.hardware, "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def search(machine: str, dataset: str = "auto", quick: bool = False, trials: int | None = None,
           gp_after: int | None = None, engine: str = "lumin", scheduler: str | None = None,
           device: str = "cpu") -> list[dict[str, Any]]:
    """Run (or resume) this machine's trials up to `trials`; return all of its trials, then write the summary.
    With `scheduler`, every trial's members train on one Dask connection, opened once and closed at the end."""
    trials = trials if trials is not None else (QUICK_TRIALS if quick else TRIALS)
    if scheduler is not None and engine == "batched":
        raise UserError("the batched engine trains in this process: give it no scheduler")
    store = store_for(quick)
    with store.lock(machine):
        run = session.start(machine, dataset, quick, PrepareOptions(cat_feats=("PRI_jet_num",)), name=NAME,
                            guard=False, split_seed=SPLIT_SEED, engine=engine, scheduler=scheduler, device=device)
        train_fy = fold_yielder(run.prepared.train, augment=True)
        fits = partial(acceptable, train_fy=train_fy)
        started = time.perf_counter()
        client = None
        try:
            done = store.done(machine)
            print(f"{len(done)} of {trials} trials of machine {machine} already done in {store.folder}", flush=True)
            for index in range(trials):
                if index in done:
                    continue
                everyone = store.load()[0]
                if gp_after is not None and len(propose.observations(everyone)[1]) >= gp_after:
                    params, proposer = propose.gp_proposal(everyone, run.experiment.seed, index, fits), "gp"
                else:
                    params, proposer = propose.random_proposal(run.experiment.seed, index, fits), "random"
                print(f"trial {index + 1}/{trials} ({proposer}): {params.as_dict()}", flush=True)
                if scheduler is not None and client is None:
                    client = cluster.connect(scheduler)
                trial = run_trial(run, train_fy, params, index, proposer, client)
                store.save(trial)
                print(f"trial {index + 1}/{trials}: val AMS at cut {trial['scores']['val_ams_smooth']:.3f}, "
                      f"{trial['n_parameters']} parameters, {trial['times']['train']:.0f} s training", flush=True)
            mine = sorted((t for t in store.load()[0] if t["machine"] == machine), key=lambda t: t["index"])
            summarise(run, mine, time.perf_counter() - started, trials, gp_after, train_fy)
        finally:
            if client is not None:
                cluster.close(client)
            train_fy.close()
    return mine


def summarise(run: session.Session, trials: list[dict[str, Any]], seconds: float, planned: int,
              gp_after: int | None, train_fy: Any) -> None:
    """The search's record for this machine: how many trials, the best by validation AMS and its scores."""
    scored = [t for t in trials if math.isfinite(t["scores"].get(propose.OBJECTIVE, float("nan")))]
    best = max(scored, key=lambda t: t["scores"][propose.OBJECTIVE]) if scored else None
    exp = run.experiment
    exp["search_time"] = seconds
    exp["n_trials"] = len(trials)
    if best is not None:
        exp["best_index"] = best["index"]
        exp["best_val_ams_smooth"] = best["scores"]["val_ams_smooth"]
        exp["best_test_public_ams_mean"] = best["scores"].get("test_public_ams_mean")
        run.config["model"] = describe_model(model_builder(Params(**best["params"]), train_fy))
        run.config["best_params"] = best["params"]
    run.config["search"] = {"trials": planned, "gp_after": gp_after, "n_models": MODELS,
                            "objective": propose.OBJECTIVE, "folder": str(store_for(run.quick).folder)}
    run.finish()
