"""Prepare the challenge data as the study did: seeded train/validation split, public/private test set, orientation
fixing, Cartesian momenta, categorical features, input pipe, and LUMIN fold files (train/val/test .hdf5).

The output is cached under DATA_DIR/prepared/<key> by (source file, options, seed): repeating a call does no work.
The original import's flag names (-d -r -y -z -c -m -v -s -n -f --multi -e --matrix) are accepted, with or without
a True/False value, e.g. `higgsml data prepare -f PRI_jet_num -s 3333` or `--rotate True --flipy True`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from modules import paths
from modules.commands.options import add_dataset_argument
from modules.data import sources

MODES = {"opendata": "opendata", "kaggle": "kaggle"}


def str2bool(text: str) -> bool:
    """Read True/False the way the original script's flags were written (also yes/no, 1/0)."""
    value = text.strip().lower()
    if value in ("true", "t", "yes", "y", "1"):
        return True
    if value in ("false", "f", "no", "n", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected True or False, got {text!r}")


def _flag(parser: argparse.ArgumentParser, *names: str, default: bool, help: str) -> None:
    parser.add_argument(*names, nargs="?", const=True, default=default, type=str2bool, metavar="BOOL",
                        help=f"{help} (default: {default})")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_dataset_argument(parser)
    parser.add_argument("-d", "--data-dir", "--data_path", type=Path, default=paths.DATA_DIR,
                        help="folder holding the data files and the prepared cache (default: %(default)s)")
    parser.add_argument("-m", "--mode", type=str.lower, choices=sorted(MODES),
                        help="the original's mode: OpenData or Kaggle (same as --dataset opendata|kaggle)")
    seed = parser.add_mutually_exclusive_group()
    seed.add_argument("-s", "--seed", type=int, help="seed of the train/validation split (default: 1337)")
    seed.add_argument("--machine", help="take the seed of this machine in machines.toml")
    _flag(parser, "-r", "--rotate", default=False, help="rotate events in phi so the lepton is at phi = 0")
    _flag(parser, "-y", "--flip-y", "--flipy", default=False, help="then flip in y so the tau has positive y")
    _flag(parser, "-z", "--flip-z", "--flipz", default=False, help="flip in z so the lepton has positive z")
    _flag(parser, "-c", "--cartesian", default=True, help="convert momenta to px, py, pz")
    parser.add_argument("-v", "--val-size", "--val_size", type=float, default=0.2,
                        help="fraction of the training rows kept for validation (default: %(default)s)")
    parser.add_argument("-n", "--n-folds", "--n_folds", type=int, default=10, help="folds per file (default: 10)")
    parser.add_argument("-f", "--cat-feats", "--cat_feats", default="",
                        help="comma-separated features to treat as categorical, e.g. PRI_jet_num")
    _flag(parser, "--multi", default=False, help="multiclass targets: background split into 3 by k-means")
    _flag(parser, "-e", "--extra", default=False, help="add the extra mass features of G. Melis")
    parser.add_argument("--matrix", choices=("row", "column"), help="also store the vectors as a matrix")
    parser.add_argument("--max-events", type=int, help="keep at most this many training and test events")
    parser.add_argument("--force", action="store_true", help="prepare again even if a cached copy exists")


def main(args: argparse.Namespace) -> int:
    from modules.data.identity import file_identity
    from modules.data.prepare import PrepareOptions, cache_key, prepare

    spec = MODES[args.mode] if args.mode and args.dataset == "auto" else args.dataset
    source = sources.resolve(spec, data_dir=args.data_dir)
    print(source.description)
    if args.machine:
        from modules.experiment import lookup_machine

        seed = lookup_machine(args.machine).seed
    else:
        seed = 1337 if args.seed is None else args.seed
    cats = tuple(c.strip() for c in args.cat_feats.split(",") if c.strip())
    options = PrepareOptions(rotate=args.rotate, flip_y=args.flip_y, flip_z=args.flip_z, cartesian=args.cartesian,
                             val_size=args.val_size, seed=seed, n_folds=args.n_folds, cat_feats=cats,
                             multiclass=args.multi, extra=args.extra, matrix=args.matrix, max_events=args.max_events)
    root = args.data_dir / "prepared"
    cached = (root / cache_key(source, options, [file_identity(p) for p in source.paths])).exists()
    prepared = prepare(source, options, root=root, force=args.force)
    state = "reused cached" if cached and not args.force else "prepared"
    rows = prepared.rows
    print(f"{state} {prepared.folder}")
    print(f"  {rows['train']} train, {rows['val']} validation, {rows['test']} test events; seed {seed}")
    print(f"  {len(prepared.cont_feats)} continuous features, categorical: {prepared.cat_feats or 'none'}; "
          f"target {prepared.target}")
    print("  weight scale to the full set: " + ", ".join(f"{k} {v:.4f}" for k, v in prepared.weight_scale.items()))
    return 0
