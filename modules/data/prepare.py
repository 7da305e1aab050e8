"""The study's data import, rewritten: CSV -> seeded train/validation split, public/private test set, optional
orientation fixing, Cartesian momenta, categorical jet multiplicity, fitted input pipe, and LUMIN fold files.

The output folder is cached under `data/prepared/<key>`, where the key hashes the source file's identity, every option
and the seed: a second call with the same inputs does no work, and a different seed or option never reuses a wrong
folder. Everything is written to a temporary folder and renamed into place only when complete; its description,
written last, holds the size and SHA-256 of every file, checked before each use, so a damaged folder is set aside
(`prepared/set-aside/`) and prepared again rather than trusted.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modules import integrity, locks, paths
from modules.atomic import as_open_would
from modules.data import kinematics
from modules.data.identity import file_identity
from modules.data.load import read_challenge_csv
from modules.data.sources import DataSource
from modules.errors import DataError, UserError
from modules.quiet import silenced
from modules.schema import MISSING

PREPARED_VERSION = 2
"""Bump when the preparation itself changes, so older cached folders are not reused."""

MATRIX_VECTORS = ("PRI_lep", "PRI_tau", "PRI_met", "PRI_jet_leading", "PRI_jet_subleading")
MATRIX_COMPONENTS = ("px", "py", "pz")


@dataclass(frozen=True)
class PrepareOptions:
    """Every choice of the original data import; the defaults are the study's."""

    rotate: bool = False
    flip_y: bool = False
    flip_z: bool = False
    cartesian: bool = True
    val_size: float = 0.2
    seed: int = 1337
    n_folds: int = 10
    cat_feats: tuple[str, ...] = ()
    multiclass: bool = False
    """Outside the study, as `extra` and `matrix`: flags of the original import script (`--multi`, `-e`, `--matrix`)
    that `higgsml data prepare` accepts for its users; no experiment sets them."""
    extra: bool = False
    matrix: str | None = None
    max_events: int | None = None
    """Keep at most this many training events and this many test events (quick mode); None keeps all."""

    def __post_init__(self) -> None:
        if not 0 < self.val_size < 1:
            raise UserError(f"val_size must be between 0 and 1, got {self.val_size}")
        if self.n_folds < 2:
            raise UserError(f"n_folds must be at least 2, got {self.n_folds}")
        if self.matrix not in (None, "row", "column"):
            raise UserError(f"matrix must be 'row', 'column' or None, got {self.matrix!r}")
        if (self.extra or self.matrix) and not self.cartesian:
            raise UserError("the extra mass features and the matrix layout need Cartesian momenta (cartesian=True)")


@dataclass
class PreparedData:
    """Where the fold files are, with the facts later steps need (features, weight scales, dataset identity)."""

    folder: Path
    cont_feats: list[str]
    cat_feats: list[str]
    target: str
    weight_scale: dict[str, float]
    """Multiply a subset's weights by this to stand for the full set: the full set's weight sum over the subset's."""
    dataset: dict[str, Any]
    options: dict[str, Any]
    rows: dict[str, int] = field(default_factory=dict)

    @property
    def train(self) -> Path:
        return self.folder / "train.hdf5"

    @property
    def val(self) -> Path:
        return self.folder / "val.hdf5"

    @property
    def test(self) -> Path:
        return self.folder / "test.hdf5"

    @property
    def input_pipe(self) -> Path:
        return self.folder / "input_pipe.pkl"

    @property
    def has_test_labels(self) -> bool:
        return bool(self.rows.get("test_labelled", 0))

    @classmethod
    def load(cls, folder: Path) -> PreparedData:
        meta = json.loads((folder / "prepared.json").read_text())
        return cls(folder=folder, **{k: v for k, v in meta.items() if k not in ("version", "files")})


def cache_key(source: DataSource, options: PrepareOptions, identities: list[dict[str, Any]]) -> str:
    """A short hash of everything that decides the prepared output."""
    payload = {"version": PREPARED_VERSION, "kind": source.kind, "files": identities, "options": asdict(options)}
    return hashlib.sha1(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _read_source(source: DataSource) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Labelled training rows (KaggleSet t) and test rows (b = public, v = private; Kaggle's test.csv is unlabelled)."""
    if source.kind == "kaggle":
        train, test = (read_challenge_csv(p) for p in source.paths)
        if "Label" not in train:
            raise DataError(f"{source.paths[0]}: the Kaggle training file needs Weight and Label columns")
        train = train.assign(KaggleWeight=train["Weight"], KaggleSet="t")
        return train, test.assign(private=0)
    data = read_challenge_csv(source.paths[0])
    if "KaggleSet" not in data:
        raise DataError(f"{source.paths[0]}: expected the CERN Open Data format (KaggleSet and KaggleWeight columns)")
    train = data[data.KaggleSet == "t"]
    if len(train) == 0:
        raise DataError(f"{source.paths[0]}: no training rows (KaggleSet 't') to train on")
    test = data[data.KaggleSet.isin(["b", "v"])]
    return train, test.assign(private=(test.KaggleSet == "v").astype(int))


def _dataset_rows(train: pd.DataFrame, test: pd.DataFrame) -> dict[str, int]:
    """Rows of the loaded file: training (KaggleSet t) and test, by label and by KaggleSet."""
    rows = {"train_total": len(train), "test_total": len(test), "test_labelled": int("Label" in test and len(test) > 0)}
    for name, frame in (("train", train), ("test", test)):
        for column, key in (("Label", "label"), ("KaggleSet", "set")):
            if column in frame:
                for value, count in frame[column].value_counts().items():
                    if count:
                        rows[f"{name}_{key}_{value}"] = int(count)
    return rows


def _subsample(df: pd.DataFrame, n: int | None, seed: int, stratify: str | None) -> pd.DataFrame:
    if n is None or len(df) <= n:
        return df
    if stratify is None:
        return df.sample(n=n, random_state=seed)
    from sklearn.model_selection import train_test_split

    kept, _ = train_test_split(df, train_size=n, random_state=seed, stratify=df[stratify])
    return kept


def _kinematic_features(df: pd.DataFrame, options: PrepareOptions) -> pd.DataFrame:
    """-999 -> NaN everywhere (as the study did), orientation fixing, Cartesian momenta, extra mass features."""
    df = df.replace([np.inf, -np.inf, MISSING], np.nan)
    df = kinematics.fix_orientation(df, options.rotate, options.flip_y, options.flip_z)
    if options.cartesian:
        df = kinematics.to_cartesian(df)
        if options.rotate:
            df = df.drop(columns=["PRI_lep_py"])
    elif options.rotate:
        df = df.drop(columns=["PRI_lep_phi"])
    if options.extra:
        df = pd.concat([df, extra_mass_features(df)], axis=1)
    return df


def extra_mass_features(df: pd.DataFrame) -> pd.DataFrame:
    """The mass features G. Melis added in the challenge: log(1 + m) of tau pairings with the jets and the lepton."""

    def p4(vec: str) -> tuple[np.ndarray, ...]:
        px, py = df[f"{vec}_px"].to_numpy(float), df.get(f"{vec}_py", pd.Series(0.0, index=df.index)).to_numpy(float)
        pz = df[f"{vec}_pz"].to_numpy(float)
        return np.sqrt(px**2 + py**2 + pz**2), px, py, pz

    def transverse(p: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
        return np.hypot(p[1], p[2]), p[1], p[2], np.zeros_like(p[3])

    tau, lep = p4("PRI_tau"), p4("PRI_lep")
    j1, j2 = p4("PRI_jet_leading"), p4("PRI_jet_subleading")
    masses = {
        "EXT_m_tj0": kinematics.invariant_mass(tau, j1),
        "EXT_m_tj1": kinematics.invariant_mass(tau, j2),
        "EXT_m_tl": kinematics.invariant_mass(tau, lep),
        "EXT_mt_tj0": kinematics.invariant_mass(transverse(tau), transverse(j1)),
        "EXT_mt_tj1": kinematics.invariant_mass(transverse(tau), transverse(j2)),
    }
    return pd.DataFrame({name: np.log1p(m) for name, m in masses.items()}, index=df.index)


def _background_clusters(train: pd.DataFrame, val: pd.DataFrame, seed: int) -> None:
    """Multiclass targets: background split into 3 processes by k-means on its weights; signal is class 3."""
    from sklearn.cluster import KMeans

    bkg = train.gen_target == 0
    kmeans = KMeans(n_clusters=3, n_init=10, random_state=seed).fit(train.loc[bkg, ["gen_weight"]].to_numpy())
    order = np.argsort(kmeans.cluster_centers_[:, 0])
    relabel = np.empty(3, int)
    relabel[order] = np.arange(3)
    for frame in (train, val):
        frame["gen_sample"] = 3
        is_bkg = frame.gen_target == 0
        frame.loc[is_bkg, "gen_sample"] = relabel[kmeans.predict(frame.loc[is_bkg, ["gen_weight"]].to_numpy())]


def _write_folds(prepared: dict[str, pd.DataFrame], folder: Path, cont: list[str], cats: list[str], target: str,
                 options: PrepareOptions) -> None:
    from lumin.data_processing.file_proc import df2foldfile
    from lumin.data_processing.pre_proc import fit_input_pipe, proc_cats

    train, val, test = prepared["train"], prepared["val"], prepared["test"]
    pipe = fit_input_pipe(train, cont, folder / "input_pipe")
    for frame in (train, val, test):
        if len(frame):
            frame[cont] = pipe.transform(frame[cont].to_numpy())
    cat_maps, _ = proc_cats(train, cats, val, test if len(test) else None)
    matrix = {}
    if options.matrix:
        matrix = {"matrix_vecs": list(MATRIX_VECTORS), "matrix_feats_per_vec": list(MATRIX_COMPONENTS),
                  "matrix_row_wise": options.matrix == "row"}
    common = {"n_folds": options.n_folds, "cont_feats": cont, "cat_feats": cats, "cat_maps": cat_maps,
              "targ_type": "int", **matrix}
    misc = ["gen_weight_original"] + (["gen_target"] if options.multiclass else [])
    np.random.seed(options.seed)  # df2foldfile shuffles events into folds with numpy's global generator
    df2foldfile(train, targ_feats=target, wgt_feat="gen_weight", strat_key="gen_strat_key",
                misc_feats=misc, savename=folder / "train", **common)
    df2foldfile(val, targ_feats=target, wgt_feat="gen_weight", strat_key="gen_strat_key",
                misc_feats=misc, savename=folder / "val", **common)
    test_folds = min(options.n_folds, len(test))
    if test_folds < 2:
        return
    labelled = "gen_target" in test
    df2foldfile(test, targ_feats="gen_target" if labelled else [], wgt_feat="gen_weight" if labelled else None,
                misc_feats=["private", "EventId"], savename=folder / "test", shuffle=False,
                **{**common, "n_folds": test_folds})


def _labelled(df: pd.DataFrame) -> pd.DataFrame:
    out = df.rename(columns={"KaggleWeight": "gen_weight"})
    if "Label" in out:
        out["gen_target"] = (out.pop("Label") == "s").astype(int)
    return out.drop(columns=[c for c in ("Weight", "KaggleSet") if c in out])


def _split(train_all: pd.DataFrame, options: PrepareOptions) -> tuple[pd.DataFrame, pd.DataFrame]:
    from lumin.utils.misc import ids2unique
    from sklearn.model_selection import train_test_split

    keys = train_all[["gen_target", *options.cat_feats]].to_numpy()
    train_all = train_all.assign(gen_strat_key=ids2unique(keys) if options.cat_feats else keys[:, 0])
    try:
        return train_test_split(train_all, test_size=options.val_size, random_state=options.seed,
                                stratify=train_all.gen_strat_key)
    except ValueError as err:
        raise DataError(f"cannot split {len(train_all)} training rows into train/validation: {err}") from None


def _build(source: DataSource, options: PrepareOptions, folder: Path, identities: list[dict[str, Any]]) -> None:
    train_raw, test_raw = _read_source(source)
    rows = _dataset_rows(train_raw, test_raw)
    train_all = _subsample(_labelled(train_raw), options.max_events, options.seed, "gen_target")
    test = _subsample(_labelled(test_raw), options.max_events, options.seed, None)
    missing = [c for c in options.cat_feats if c not in train_all]
    if missing:
        raise UserError(f"categorical feature(s) not in the data: {', '.join(missing)}")

    train_all, test = _kinematic_features(train_all, options), _kinematic_features(test, options)
    train_all["gen_weight_original"] = train_all["gen_weight"]
    train, val = _split(train_all, options)
    train, val = train.copy(), val.copy()

    target = "gen_target"
    if options.multiclass:
        _background_clusters(train, val, options.seed)
        target = "gen_sample"
    for cls in sorted(train[target].unique()):
        in_class = train[target] == cls
        train.loc[in_class, "gen_weight"] /= train.loc[in_class, "gen_weight"].sum()

    excluded = {"EventId", "private", "gen_weight", "gen_weight_original", "gen_target", "gen_sample", "gen_strat_key"}
    feats = [c for c in train.columns if c not in excluded]
    cont = [c for c in feats if c not in options.cat_feats]
    cats = list(options.cat_feats)

    weight_scale = {"val": float(train_all.gen_weight_original.sum() / val.gen_weight_original.sum())}
    if "gen_weight" in test and len(test):
        for name, flag in (("public", 0), ("private", 1)):
            full, kept = test_raw.loc[test_raw.private == flag, "KaggleWeight"], test.loc[test.private == flag]
            weight_scale[name] = float(full.sum() / kept.gen_weight.sum()) if len(kept) else float("nan")
    rows.update({"train": len(train), "val": len(val), "test": len(test)})

    with silenced():
        _write_folds({"train": train, "val": val, "test": test}, folder, cont, cats, target, options)
    meta = {"version": PREPARED_VERSION, "cont_feats": cont, "cat_feats": cats, "target": target,
            "weight_scale": weight_scale, "dataset": {"kind": source.kind, "files": identities, "rows": rows},
            "options": asdict(options), "rows": rows,
            "files": integrity.manifest(folder, [p for p in folder.iterdir() if p.is_file()])}
    (folder / "prepared.json").write_text(json.dumps(meta, indent=2, default=str))


def damage(folder: Path) -> str | None:
    """What is wrong with a cached folder, or None when every file is there as it was written: its description
    missing or unreadable or without sizes and checksums (an older version's), a fold file missing, or a file whose
    size or SHA-256 differs from the description's."""
    try:
        meta = json.loads((folder / "prepared.json").read_text())
    except (OSError, ValueError):
        return "prepared.json is missing or unreadable"
    expected = ["train.hdf5", "val.hdf5"] + (["test.hdf5"] if meta.get("rows", {}).get("test", 0) >= 2 else [])
    absent = [name for name in expected if not (folder / name).is_file()]
    if absent:
        return f"{', '.join(absent)} missing"
    if "files" not in meta:
        return "prepared.json lists no sizes and checksums (prepared by an older version)"
    return integrity.difference(folder, meta["files"])


def set_aside(folder: Path) -> Path:
    """Move a damaged cache folder's files to `prepared/set-aside/<key>-<time>/` (kept for a look, never deleted
    silently) and remove the emptied folder."""
    aside = integrity.set_aside(list(folder.iterdir()), folder.parent / integrity.SET_ASIDE, folder.name)
    folder.rmdir()
    return aside


def prepare(source: DataSource, options: PrepareOptions = PrepareOptions(),
            root: Path | None = None, force: bool = False) -> PreparedData:
    """Prepare (or reuse from the cache) the fold files for `source` with `options`.

    Several processes may ask for the same folder at once: one builds it while the others wait, then reuse it. A
    cached folder that is damaged or incomplete (`damage`) is named in one line, set aside and prepared again.
    """
    root = Path(root) if root is not None else paths.DATA_DIR / "prepared"
    identities = [file_identity(p) for p in source.paths]
    folder = root / cache_key(source, options, identities)
    with locks.waiting(root / f".{folder.name}.lock"):
        if folder.exists() and not force:
            problem = damage(folder)
            if problem is None:
                return PreparedData.load(folder)
            aside = set_aside(folder)
            print(f"note: the prepared data in {folder} are damaged or incomplete ({problem}); set aside as {aside}, "
                  f"preparing them again", flush=True)
        scratch = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=root))
        as_open_would(scratch)
        try:
            _build(source, options, scratch, identities)
            if folder.exists():
                shutil.rmtree(folder)
            os.replace(scratch, folder)
        finally:
            if scratch.exists():
                shutil.rmtree(scratch, ignore_errors=True)
    return PreparedData.load(folder)
