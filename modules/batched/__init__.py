"""The batched engine (`ENGINE = "batched"` in a notebook, `--engine batched` on the command line): all ensemble
members trained at once as one stacked computation, with LUMIN's data draws, schedules and model format, for the
experiments whose networks and callbacks it supports. `modules.training.engines` chooses it."""
