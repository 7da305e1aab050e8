"""The toy detector: smears the true final state, builds jets and missing transverse momentum, applies the selection.

MET is what a detector measures: minus the vector sum of everything it sees (lepton, tau, jets, the soft recoil at a
reduced response) plus noise growing with the scalar sum of transverse energy, so neutrinos become MET and
mismeasurement becomes fake MET.
"""

from __future__ import annotations

import numpy as np

from modules.data.sim_config import Detector, Generation, Selection
from modules.data.sim_physics import Truth, eta_of, phi_of, pt_of, slot_sum
from modules.data.sim_random import erlang, normal
from modules.schema import MISSING

JET_SLOTS = ("leading", "subleading")


def scale_smear(rng: np.random.Generator, p: np.ndarray, resolution: np.ndarray | float) -> np.ndarray:
    """Four-vectors scaled by a Gaussian response of the given relative resolution (never below 5%)."""
    response = np.maximum(1 + normal(rng, p.shape[:-1], resolution), 0.05)
    return p * response[..., None]


def jet_resolution(pt: np.ndarray, det: Detector) -> np.ndarray:
    """Relative jet pT resolution: noise, stochastic and constant terms in quadrature."""
    safe = np.maximum(pt, 1.0)
    return np.sqrt((det.jet_noise / safe) ** 2 + det.jet_stochastic**2 / safe + det.jet_constant**2)


def _norm(xy: np.ndarray) -> np.ndarray:
    return np.sqrt(xy[..., 0] ** 2 + xy[..., 1] ** 2)


def reconstruct(
    rng: np.random.Generator, truth: Truth, det: Detector, sel: Selection, gen: Generation
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The PRI columns of the events and a mask of those passing the selection."""
    n = len(truth.lepton)
    lepton = scale_smear(rng, truth.lepton, det.lepton_resolution)
    tau = scale_smear(rng, truth.tau, det.tau_resolution)
    jets = scale_smear(rng, truth.partons, jet_resolution(pt_of(truth.partons), det))
    jet_pt, jet_eta = pt_of(jets), eta_of(jets)
    in_met = (jet_pt >= det.met_jet_pt) & (np.abs(jet_eta) < sel.jet_eta)
    is_jet = in_met & (jet_pt >= sel.jet_pt)
    met_jets = slot_sum(jets[:, :, 1:3] * in_met[..., None])

    unclustered = slot_sum(truth.partons[:, :, 1:3] * ~in_met[..., None])
    soft = unclustered - truth.lepton[:, 1:3] - truth.tau[:, 1:3] - truth.neutrinos[:, 1:3]
    soft -= slot_sum(truth.partons[:, :, 1:3])
    soft_scalar = det.soft_response * (_norm(soft) + slot_sum(pt_of(truth.partons) * ~in_met))
    met_jet_sum = slot_sum(jet_pt * in_met)
    sumet = pt_of(lepton) + pt_of(tau) + met_jet_sum + soft_scalar + erlang(rng, n, *gen.underlying_event)
    seen = lepton[:, 1:3] + tau[:, 1:3] + met_jets + det.soft_response * soft
    met = normal(rng, (n, 2)) * (det.met_resolution * np.sqrt(sumet))[:, None] - seen

    lep_eta, tau_eta = eta_of(lepton), eta_of(tau)
    lep_phi, tau_phi = phi_of(lepton), phi_of(tau)
    d_phi = (tau_phi - lep_phi + np.pi) % (2 * np.pi) - np.pi
    passed = (
        (pt_of(lepton) >= sel.lep_pt) & (np.abs(lep_eta) < sel.lep_eta)
        & (pt_of(tau) >= sel.tau_pt) & (np.abs(tau_eta) < sel.tau_eta)
        & ((tau_eta - lep_eta) ** 2 + d_phi**2 > sel.min_delta_r**2)
    )

    columns = {
        "PRI_tau_pt": pt_of(tau), "PRI_tau_eta": tau_eta, "PRI_tau_phi": tau_phi,
        "PRI_lep_pt": pt_of(lepton), "PRI_lep_eta": lep_eta, "PRI_lep_phi": lep_phi,
        "PRI_met": _norm(met), "PRI_met_phi": np.arctan2(met[:, 1], met[:, 0]), "PRI_met_sumet": sumet,
        "PRI_jet_num": np.minimum(slot_sum(is_jet.astype(np.int64)), 3),
    }
    order = np.argsort(np.where(is_jet, -jet_pt, 1.0), axis=1, kind="stable")
    for slot, name in enumerate(JET_SLOTS):
        index = order[:, slot]
        present = is_jet[np.arange(n), index]
        jet = jets[np.arange(n), index]
        for quantity, values in (("pt", pt_of(jet)), ("eta", eta_of(jet)), ("phi", phi_of(jet))):
            columns[f"PRI_jet_{name}_{quantity}"] = np.where(present, values, MISSING)
    columns["PRI_jet_all_pt"] = slot_sum(jet_pt * is_jet)
    return columns, passed
