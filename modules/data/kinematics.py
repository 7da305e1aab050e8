"""Vectorised kinematics of the challenge's objects: the DER formulas, Cartesian conversion and event re-orientation.

The same functions check real rows (tests), build the simulated data set's DER features, and prepare the training
data, so the three can never disagree about a formula.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from modules.schema import MISSING

TAU_MASS = 0.8
"""The visible-tau mass the file's DER_mass_vis used (reproduces 99.6% of real rows); the lepton is massless."""

VECTORS: tuple[str, ...] = ("PRI_tau", "PRI_lep", "PRI_met", "PRI_jet_leading", "PRI_jet_subleading")
"""Objects with a transverse direction; MET has no eta, the rest are full three-vectors."""


def wrap_phi(phi: np.ndarray) -> np.ndarray:
    """Map angles into [-pi, pi)."""
    return (np.asarray(phi) + np.pi) % (2 * np.pi) - np.pi


def px_py_pz(pt: np.ndarray, eta: np.ndarray | None, phi: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cartesian momentum components of (pt, eta, phi); pz is zero where eta is None (MET)."""
    pz = np.zeros_like(pt) if eta is None else pt * np.sinh(eta)
    return pt * np.cos(phi), pt * np.sin(phi), pz


def invariant_mass(p4a: tuple[np.ndarray, ...], p4b: tuple[np.ndarray, ...]) -> np.ndarray:
    """Invariant mass of the sum of two four-vectors given as (E, px, py, pz)."""
    e, x, y, z = (a + b for a, b in zip(p4a, p4b, strict=True))
    return np.sqrt(np.clip(e**2 - x**2 - y**2 - z**2, 0, None))


def four_vector(pt: np.ndarray, eta: np.ndarray, phi: np.ndarray, mass: float | np.ndarray = 0.0) -> tuple:
    """(E, px, py, pz) of a particle of the given mass."""
    px, py, pz = px_py_pz(pt, eta, phi)
    return np.sqrt(mass**2 + px**2 + py**2 + pz**2), px, py, pz


def transverse_mass(pt_a: np.ndarray, phi_a: np.ndarray, pt_b: np.ndarray, phi_b: np.ndarray) -> np.ndarray:
    """Transverse mass of two massless transverse vectors."""
    return np.sqrt(np.clip(2 * pt_a * pt_b * (1 - np.cos(phi_a - phi_b)), 0, None))


def _undefined(values: np.ndarray, keep: np.ndarray) -> np.ndarray:
    return np.where(keep, values, MISSING)


def derived_features(df: pd.DataFrame) -> pd.DataFrame:
    """Every DER feature that has a closed form (all but DER_mass_MMC), computed from the PRI columns of `df`.

    Undefined values are -999 with the file's rules. DER_mass_jet_jet uses massless jets, whereas the file used jet
    masses it does not publish, so it reads about 1.75 GeV low on real rows.
    """
    tau_pt, tau_eta, tau_phi = (df[f"PRI_tau_{c}"].to_numpy(float) for c in ("pt", "eta", "phi"))
    lep_pt, lep_eta, lep_phi = (df[f"PRI_lep_{c}"].to_numpy(float) for c in ("pt", "eta", "phi"))
    met, met_phi = df["PRI_met"].to_numpy(float), df["PRI_met_phi"].to_numpy(float)
    n_jets = df["PRI_jet_num"].to_numpy()
    j1 = [df[f"PRI_jet_leading_{c}"].to_numpy(float) for c in ("pt", "eta", "phi")]
    j2 = [df[f"PRI_jet_subleading_{c}"].to_numpy(float) for c in ("pt", "eta", "phi")]
    has_j1, has_j2 = n_jets >= 1, n_jets >= 2
    j1 = [np.where(has_j1, v, 0.0) for v in j1]
    j2 = [np.where(has_j2, v, 0.0) for v in j2]

    tau_x, tau_y, _ = px_py_pz(tau_pt, None, tau_phi)
    lep_x, lep_y, _ = px_py_pz(lep_pt, None, lep_phi)
    met_x, met_y, _ = px_py_pz(met, None, met_phi)
    j1_x, j1_y, _ = px_py_pz(j1[0], None, j1[2])
    j2_x, j2_y, _ = px_py_pz(j2[0], None, j2[2])
    h_x, h_y = tau_x + lep_x + met_x, tau_y + lep_y + met_y

    deta_jj = np.abs(j1[1] - j2[1])
    mid_eta = (j1[1] + j2[1]) / 2
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        lep_centrality = np.exp(-4.0 / deta_jj**2 * (lep_eta - mid_eta) ** 2)
    sign = np.sign(np.sin(tau_phi - lep_phi))
    a = np.sin(met_phi - lep_phi) * sign
    b = np.sin(tau_phi - met_phi) * sign
    with np.errstate(divide="ignore", invalid="ignore"):
        met_centrality = np.nan_to_num((a + b) / np.sqrt(a**2 + b**2))

    out = {
        "DER_mass_transverse_met_lep": transverse_mass(lep_pt, lep_phi, met, met_phi),
        "DER_mass_vis": invariant_mass(
            four_vector(tau_pt, tau_eta, tau_phi, TAU_MASS), four_vector(lep_pt, lep_eta, lep_phi)
        ),
        "DER_pt_h": np.hypot(h_x, h_y),
        "DER_deltaeta_jet_jet": _undefined(deta_jj, has_j2),
        "DER_mass_jet_jet": _undefined(invariant_mass(four_vector(*j1), four_vector(*j2)), has_j2),
        "DER_prodeta_jet_jet": _undefined(j1[1] * j2[1], has_j2),
        "DER_deltar_tau_lep": np.hypot(tau_eta - lep_eta, wrap_phi(tau_phi - lep_phi)),
        "DER_pt_tot": np.hypot(h_x + j1_x + j2_x, h_y + j1_y + j2_y),
        "DER_sum_pt": tau_pt + lep_pt + df["PRI_jet_all_pt"].to_numpy(float),
        "DER_pt_ratio_lep_tau": lep_pt / tau_pt,
        "DER_met_phi_centrality": met_centrality,
        "DER_lep_eta_centrality": _undefined(np.nan_to_num(lep_centrality), has_j2),
    }
    return pd.DataFrame(out, index=df.index)


def to_cartesian(df: pd.DataFrame) -> pd.DataFrame:
    """Replace each object's (pt, eta, phi) by (px, py, pz) in LUMIN's `<vec>_px` naming; MET keeps its modulus.

    Expects -999 already turned into NaN, which then propagates into the components of absent jets. The MET modulus
    is kept as `PRI_met_pt`, as the study did.
    """
    out = df.copy()
    for vec in VECTORS:
        pt_col = "PRI_met" if vec == "PRI_met" else f"{vec}_pt"
        eta = None if vec == "PRI_met" else out[f"{vec}_eta"].to_numpy(float)
        px, py, pz = px_py_pz(out[pt_col].to_numpy(float), eta, out[f"{vec}_phi"].to_numpy(float))
        out[f"{vec}_px"], out[f"{vec}_py"] = px, py
        drop = [f"{vec}_phi"]
        if eta is not None:
            out[f"{vec}_pz"] = pz
            drop += [pt_col, f"{vec}_eta"]
        out = out.drop(columns=drop)
    return out.rename(columns={"PRI_met": "PRI_met_pt"})


def _keep_missing(values: np.ndarray, original: np.ndarray) -> np.ndarray:
    """Transformed values, except where the original held the -999 marker of an absent object, which stays."""
    return np.where(original == MISSING, MISSING, values)


def rotate_phi(df: pd.DataFrame, angle: np.ndarray | float) -> pd.DataFrame:
    """Rotate every object of each event by `angle` in the transverse plane (works on phi or on px/py columns).

    -999 markers of absent objects (and NaN) are left as they are, so raw rows can be rotated too.
    """
    out = df.copy()
    angle = np.broadcast_to(np.asarray(angle, float), len(df))
    for vec in VECTORS:
        if f"{vec}_phi" in out:
            phi = out[f"{vec}_phi"].to_numpy(float)
            out[f"{vec}_phi"] = _keep_missing(wrap_phi(phi + angle), phi)
        elif f"{vec}_px" in out:
            x, y = out[f"{vec}_px"].to_numpy(float), out[f"{vec}_py"].to_numpy(float)
            out[f"{vec}_px"] = x * np.cos(angle) - y * np.sin(angle)
            out[f"{vec}_py"] = x * np.sin(angle) + y * np.cos(angle)
    return out


def reflect(df: pd.DataFrame, axis: str, mask: np.ndarray | bool = True) -> pd.DataFrame:
    """Mirror the events selected by `mask` in y (phi -> -phi) or in z (eta -> -eta); -999 markers are kept."""
    out = df.copy()
    mask = np.broadcast_to(np.asarray(mask, bool), len(df))
    polar, cartesian = {"y": ("phi", "py"), "z": ("eta", "pz")}[axis]
    for vec in VECTORS:
        for col in (f"{vec}_{polar}", f"{vec}_{cartesian}"):
            if col in out:
                values = out[col].to_numpy(float)
                out[col] = _keep_missing(np.where(mask, -values, values), values)
    return out


def fix_orientation(df: pd.DataFrame, rotate: bool, flip_y: bool, flip_z: bool) -> pd.DataFrame:
    """The study's event-orientation fixing on (pt, eta, phi) columns.

    rotate: turn each event so the lepton sits at phi = 0; flip_y: then mirror in y so the tau has phi >= 0;
    flip_z: mirror in z so the lepton has eta >= 0. The lepton's phi is then constant and carries no information.
    """
    out = df
    if rotate:
        out = rotate_phi(out, -out["PRI_lep_phi"].to_numpy(float))
        out["PRI_lep_phi"] = 0.0
        if flip_y:
            out = reflect(out, "y", out["PRI_tau_phi"].to_numpy(float) < 0)
    if flip_z:
        out = reflect(out, "z", out["PRI_lep_eta"].to_numpy(float) < 0)
    return out
