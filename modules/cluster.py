"""Scale-out with Dask, the engine HEP analysis facilities already run: a client on a local cluster (one worker
process per core, one torch thread each) or on an existing scheduler by address. Ensemble members become tasks on
its workers; each is LUMIN training of one member seeded from the run's seed and its index, so the members are the
same as in sequential training.

Every worker imports `modules` before it runs anything (a worker plugin), which applies the LUMIN mends; workers on
other machines need the project installed and the data and weights folders at the same paths (shared or copied).
"""

from __future__ import annotations

import os
import socket
from typing import Any

from modules.errors import UserError


def _worker_setup() -> None:
    import torch

    import modules  # noqa: F401  (the LUMIN mends, before any task unpickles a LUMIN object)

    torch.set_num_threads(1)


REACH_TIMEOUT = 3.0
"""Seconds to wait for a scheduler's port to answer before a run is refused (Dask's own wait is 30 s)."""


def check_reachable(scheduler: str, timeout: float = REACH_TIMEOUT) -> None:
    """Refuse, in one line and within `timeout` seconds, a scheduler address (tcp://host:port, tls://... or
    host:port) whose port does not accept a connection, before any kernel starts or data is prepared. 'local' and
    other protocols (inproc, ucx) are left to Dask."""
    if scheduler == "local":
        return
    protocol, _, rest = scheduler.rpartition("://")
    if protocol not in ("", "tcp", "tls"):
        return
    host, _, port = rest.rpartition(":")
    if not host or not port.isdigit():
        raise UserError(f"--scheduler {scheduler!r}: expected 'local' or an address such as tcp://host:8786")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as err:
        reason = "no answer" if isinstance(err, TimeoutError) else (err.strerror or str(err))
        raise UserError(f"the Dask scheduler {scheduler} cannot be reached ({reason}); start it, or check the "
                        f"address given to --scheduler") from None


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
