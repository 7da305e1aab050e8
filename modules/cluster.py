"""Scale-out with Dask, the engine HEP analysis facilities already run: a client on a local cluster (one worker
process per core, one torch thread each) or on an existing scheduler by address. Ensemble members become tasks on
its workers; each is LUMIN training of one member seeded from the run's seed and its index, so the members are the
same as in sequential training.

Every worker imports `modules` before it runs anything (a worker plugin), which applies the LUMIN mends; workers on
other machines need the project installed and the data and weights folders at the same paths (shared or copied).
"""

from __future__ import annotations

import os
from typing import Any


def _worker_setup() -> None:
    import torch

    import modules  # noqa: F401  (the LUMIN mends, before any task unpickles a LUMIN object)

    torch.set_num_threads(1)


def connect(scheduler: str = "local", workers: int | None = None) -> Any:
    """A Dask client on `scheduler`: 'local' starts a local cluster with `workers` processes (default: one per core)
    of one thread each; anything else is a scheduler's address (tcp://host:8786). Whoever connects closes it
    (`close`)."""
    from dask.distributed import Client, LocalCluster
    from distributed.diagnostics.plugin import WorkerPlugin

    class Setup(WorkerPlugin):
        name = "higgsml-setup"

        def setup(self, worker: Any) -> None:
            _worker_setup()

    if scheduler == "local":
        cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True,
                               dashboard_address=":0")
        client = Client(cluster)
    else:
        client = Client(scheduler, timeout=30)
    client.register_plugin(Setup())
    print(f"Dask: {len(client.scheduler_info()['workers'])} workers on {client.scheduler.address}; dashboard "
          f"{client.dashboard_link}", flush=True)
    return client


def close(client: Any) -> None:
    """Close a client and, where `connect` started it, its local cluster (its scheduler and worker processes)."""
    started = getattr(client, "cluster", None)
    client.close()
    if started is not None:
        started.close()
