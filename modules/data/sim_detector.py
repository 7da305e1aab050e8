"""The toy detector: smears the true final state, builds jets and missing transverse momentum, applies the selection.

MET is what a detector measures: minus the vector sum of everything it sees (lepton, tau, jets, the soft recoil at a
reduced response) plus noise growing with the scalar sum of transverse energy, so neutrinos become MET and
mismeasurement becomes fake MET.
"""

from __future__ import annotations

import numpy as np

from modules.data.sim_config import Detector, Generation, Selection
from modules.data.sim_physics import Truth, eta_of, phi_of, pt_of
from modules.schema import MISSING

JET_SLOTS = ("leading", "subleading")


def scale_smear(rng: np.random.Generator, p: np.ndarray, resolution: np.ndarray | float) -> np.ndarray:
    """Four-vectors scaled by a Gaussian response of the given relative resolution (never below zero)."""
    response = np.clip(1 + resolution * rng.standard_normal(p.shape[:-1]), 0.05, None)
    return p * response[..., None]


def jet_resolution(pt: np.ndarray, det: Detector) -> np.ndarray:
    """Relative jet pT resolution: noise, stochastic and constant terms in quadrature."""
    safe = np.maximum(pt, 1.0)
    return np.sqrt((det.jet_noise / safe) ** 2 + det.jet_stochastic**2 / safe + det.jet_constant**2)


def _transverse(p: np.ndarray) -> np.ndarray:
    return p[..., 1:3]


def reconstruct(
    rng: np.random.Generator, truth: Truth, det: Detector, sel: Selection, gen: Generation
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The PRI columns of the events and a mask of those passing the selection."""
    n = len(truth.lepton)
    lepton = scale_smear(rng, truth.lepton, det.lepton_resolution)
    tau = scale_smear(rng, truth.tau, det.tau_resolution)
    jets = scale_smear(rng, truth.partons, jet_resolution(pt_of(truth.partons), det))
    jet_pt, jet_eta = pt_of(jets), eta_of(jets)
    is_jet = (jet_pt >= sel.jet_pt) & (np.abs(jet_eta) < sel.jet_eta)

    visible_true = truth.lepton + truth.tau + truth.neutrinos + truth.partons.sum(axis=1)
    soft = -_transverse(visible_true) + _transverse(np.where(is_jet[..., None], 0.0, jets)).sum(axis=1)
    soft_measured = det.soft_response * soft
    underlying = rng.gamma(gen.underlying_event[0], gen.underlying_event[1], n)
    jet_sum = np.where(is_jet, jet_pt, 0.0).sum(axis=1)
    soft_scalar = det.soft_response * (np.hypot(*soft.T) + np.where(is_jet, 0.0, jet_pt).sum(axis=1))
    sumet = pt_of(lepton) + pt_of(tau) + jet_sum + soft_scalar + underlying
    noise = rng.standard_normal((n, 2)) * (det.met_resolution * np.sqrt(sumet))[:, None]
    seen = _transverse(lepton) + _transverse(tau) + _transverse(np.where(is_jet[..., None], jets, 0.0)).sum(axis=1)
    met = -(seen + soft_measured) + noise

    tagged = truth.parton_is_b & is_jet & (np.abs(jet_eta) < sel.b_tag_eta)
    tagged &= rng.uniform(0, 1, tagged.shape) < sel.b_tag_efficiency
    lep_eta, tau_eta = eta_of(lepton), eta_of(tau)
    lep_phi, tau_phi = phi_of(lepton), phi_of(tau)
    d_phi = (tau_phi - lep_phi + np.pi) % (2 * np.pi) - np.pi
    passed = (
        (pt_of(lepton) >= sel.lep_pt) & (np.abs(lep_eta) < sel.lep_eta)
        & (pt_of(tau) >= sel.tau_pt) & (np.abs(tau_eta) < sel.tau_eta)
        & (np.hypot(tau_eta - lep_eta, d_phi) > sel.min_delta_r)
        & ~tagged.any(axis=1)
    )

    columns = {
        "PRI_tau_pt": pt_of(tau), "PRI_tau_eta": tau_eta, "PRI_tau_phi": tau_phi,
        "PRI_lep_pt": pt_of(lepton), "PRI_lep_eta": lep_eta, "PRI_lep_phi": lep_phi,
        "PRI_met": np.hypot(*met.T), "PRI_met_phi": np.arctan2(met[:, 1], met[:, 0]), "PRI_met_sumet": sumet,
        "PRI_jet_num": np.minimum(is_jet.sum(axis=1), 3),
    }
    order = np.argsort(-np.where(is_jet, jet_pt, -1.0), axis=1, kind="stable")
    for slot, name in enumerate(JET_SLOTS):
        index = order[:, slot]
        present = np.take_along_axis(is_jet, index[:, None], axis=1)[:, 0]
        jet = np.take_along_axis(jets, index[:, None, None], axis=1)[:, 0]
        for quantity, values in (("pt", pt_of(jet)), ("eta", eta_of(jet)), ("phi", phi_of(jet))):
            columns[f"PRI_jet_{name}_{quantity}"] = np.where(present, values, MISSING)
    columns["PRI_jet_all_pt"] = jet_sum
    return columns, passed
