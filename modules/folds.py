"""Reading the prepared LUMIN fold files: yielders with or without the study's data augmentation, and whole files
as one table of per-event columns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from modules.quiet import silenced

AUG_ROTATIONS = 2
"""Test-time augmentation: 2 fixed rotations x y-flip x z-flip = 8 copies, the study's `rot_mult=2`."""

PER_EVENT = ("targets", "weights", "gen_weight_original", "private", "EventId")
"""The per-event columns a fold file may hold besides its inputs."""


def fold_yielder(path: Path, augment: bool, train_time: bool = True, writable: bool = False) -> Any:
    """A LUMIN fold yielder on `path`; with `augment`, random phi rotations and y/z flips (the study's augmentation).

    The file is opened read-only unless `writable` (LUMIN writes predictions into the file it predicts): LUMIN's own
    read-write opening takes an exclusive lock, so two experiments sharing one prepared folder could not run at once.
    """
    import h5py
    from lumin.nn.data.fold_yielder import FoldYielder, HEPAugFoldYielder

    source = Path(path) if writable else h5py.File(path, "r")
    if not augment:
        return FoldYielder(source)
    with silenced():
        return HEPAugFoldYielder(source, rot_mult=AUG_ROTATIONS, reflect_y=True, reflect_z=True,
                                 train_time_aug=train_time, test_time_aug=not train_time)


def augmented_copies(fy: Any, n_copies: int = 2, event: int = 0) -> list[pd.DataFrame]:
    """One training event as stored, then `n_copies` random train-time augmentations of it (for `compare_events`)."""
    columns = fy.cont_feats + fy.cat_feats
    stored = pd.DataFrame(fy.get_data(n_folds=1, fold_idx=0)["inputs"][event : event + 1], columns=columns)
    copies = [pd.DataFrame(fy.get_fold(0)["inputs"][event : event + 1], columns=columns) for _ in range(n_copies)]
    return [stored, *copies]


def n_events(fy: Any) -> int:
    """Number of events in a fold file."""
    return int(sum(fy.get_data_count(i) for i in range(fy.n_folds)))


def fold_table(fy: Any, extra: tuple[str, ...] = (), inputs: bool = False) -> pd.DataFrame:
    """Every fold of a fold file as one table: its per-event columns (plus `extra`, e.g. 'pred'), the fold index,
    and with `inputs` the stored input features. An unlabelled test file's (n, 0) targets are left out."""
    fold0 = fy.foldfile["fold_0"]
    columns = [c for c in (*extra, *PER_EVENT) if c in fold0 and fold0[c].ndim == 1]
    frames = []
    for i in range(fy.n_folds):
        if inputs:
            frame = pd.DataFrame(fy.get_column("inputs", n_folds=1, fold_idx=i), columns=fy.cont_feats + fy.cat_feats)
        else:
            frame = pd.DataFrame(index=pd.RangeIndex(fy.get_data_count(i)))
        for column in columns:
            frame[column] = fy.get_column(column, n_folds=1, fold_idx=i)
        frame["fold"] = i
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)
