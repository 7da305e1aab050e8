"""Training an ensemble the study's way: member i validates on fold i and trains on the other nine as LUMIN 0.5.1
trained it, seeded from the run's seed and its index, so an interrupted ensemble can be resumed and members can run
as separate tasks.

`member` holds what training makes and the seeding, `loop` LUMIN's loop for one member, `resume` the reuse of
finished members, `engines` and `cluster_engine` the ways to train (one class each), `ensemble` the entry point
`train_ensemble`. The names below are re-exported so notebooks, tests and benchmarks can write `training.X`.
"""

from modules.models.describe import describe_partial
from modules.training.engines import ENGINES
from modules.training.ensemble import train_ensemble
from modules.training.job import Engine, Job
from modules.training.loop import max_ams, member_callbacks, train_member, validation_ams
from modules.training.member import (
    BATCH_SIZE,
    Member,
    Schedule,
    Training,
    keep_member,
    member_seed,
    seed_everything,
)
from modules.training.resume import TRAINING, fingerprint, finished_members, prepare_folder

__all__ = ["BATCH_SIZE", "ENGINES", "TRAINING", "Engine", "Job", "Member", "Schedule", "Training",
           "describe_partial", "fingerprint", "finished_members", "keep_member", "max_ams", "member_callbacks",
           "member_seed", "prepare_folder", "seed_everything", "train_ensemble", "train_member", "validation_ams"]
