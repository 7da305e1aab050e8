"""The toy detector: smears the true final state, builds jets and missing transverse momentum, applies the selection.

MET is what a detector measures: minus the vector sum of everything it sees (lepton, tau, jets, the soft recoil at a
reduced response) plus noise growing with the scalar sum of transverse energy, so neutrinos become MET and
mismeasurement becomes fake MET.
"""

from __future__ import annotations

import numpy as np

from modules.data.kinematics import wrap_phi
from modules.data.simulation.config import Detector, Generation, Selection
from modules.data.simulation.physics import Truth, eta_of, phi_of, pt_of, slot_sum
from modules.data.simulation.variates import erlang, normal
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


def _delta_r2(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Squared (eta, phi) distance between four-vectors a and b (m, 4)."""
    return (eta_of(a) - eta_of(b)) ** 2 + wrap_phi(phi_of(a) - phi_of(b)) ** 2


def cluster(partons: np.ndarray, radius: float) -> np.ndarray:
    """Partons (n, K, 4) closer than `radius` in (eta, phi) merged into one jet, as a cone of that radius would
    (slots in order, pairwise): the real jets are never closer than about 0.45 to each other. Only the events
    holding both partons of a pair are looked at, which are few."""
    merged = partons.copy()
    present = pt_of(merged) > 0
    for i in range(merged.shape[1]):
        for j in range(i + 1, merged.shape[1]):
            rows = np.flatnonzero(present[:, i] & present[:, j])
            close = rows[_delta_r2(merged[rows, i], merged[rows, j]) < radius**2]
            merged[close, i] += merged[close, j]
            merged[close, j] = 0.0
            present[close, j] = False
    return merged


def _isolated(objects: np.ndarray, jets: np.ndarray, flagged: np.ndarray, radius: float) -> np.ndarray:
    """Events whose object (n, 4) has none of the flagged jets (n, K, 4) within `radius` in (eta, phi)."""
    rows, slots = np.nonzero(flagged)
    isolated = np.ones(len(objects), bool)
    isolated[rows[_delta_r2(objects[rows], jets[rows, slots]) < radius**2]] = False
    return isolated


def reconstruct(
    rng: np.random.Generator, truth: Truth, det: Detector, sel: Selection, gen: Generation, activity: float = 1.0
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The PRI columns of the events that pass the selection, and their rows in `truth`; `activity` scales the
    underlying event's transverse energy (the process's soft radiation). The lepton and tau cuts come first, so
    that jets and MET are only built for the events that pass them."""
    lepton = scale_smear(rng, truth.lepton, det.lepton_resolution)
    tau = scale_smear(rng, truth.tau, det.tau_resolution)
    lep_eta, tau_eta = eta_of(lepton), eta_of(tau)
    lep_phi, tau_phi = phi_of(lepton), phi_of(tau)
    rows = np.flatnonzero(
        (pt_of(lepton) >= sel.lep_pt) & (np.abs(lep_eta) < sel.lep_eta)
        & (pt_of(tau) >= sel.tau_pt) & (np.abs(tau_eta) < sel.tau_eta)
        & ((tau_eta - lep_eta) ** 2 + wrap_phi(tau_phi - lep_phi) ** 2 > sel.min_delta_r**2)
    )
    partons = cluster(truth.partons[rows], sel.jet_radius)
    jets = scale_smear(rng, partons, jet_resolution(pt_of(partons), det))
    jet_pt, jet_eta = pt_of(jets), eta_of(jets)
    in_met = (jet_pt >= det.met_jet_pt) & (np.abs(jet_eta) < sel.jet_eta)
    isolated = np.flatnonzero(_isolated(lepton[rows], jets, in_met, sel.lepton_isolation)
                              & _isolated(tau[rows], jets, in_met, sel.tau_isolation))
    rows = rows[isolated]
    partons, jets, jet_pt, in_met = partons[isolated], jets[isolated], jet_pt[isolated], in_met[isolated]
    lepton, tau, true_lepton, true_tau = lepton[rows], tau[rows], truth.lepton[rows], truth.tau[rows]
    n = len(rows)

    is_jet = in_met & (jet_pt >= sel.jet_pt)
    met_jets = slot_sum(jets[:, :, 1:3] * in_met[..., None])
    unclustered = slot_sum(partons[:, :, 1:3] * ~in_met[..., None])
    soft = unclustered - true_lepton[:, 1:3] - true_tau[:, 1:3] - truth.neutrinos[rows, 1:3]
    soft -= slot_sum(partons[:, :, 1:3])
    soft_scalar = det.soft_response * (_norm(soft) + slot_sum(pt_of(partons) * ~in_met))
    underlying_event = erlang(rng, n, gen.underlying_event[0], gen.underlying_event[1] * activity)
    lepton_energy = np.where(rng.random(n) < det.muon_share, det.muon_deposit, pt_of(lepton))
    sumet = lepton_energy + pt_of(tau) + slot_sum(jet_pt * in_met) + soft_scalar + underlying_event
    seen = lepton[:, 1:3] + tau[:, 1:3] + met_jets + det.soft_response * soft
    spread = np.exp(normal(rng, n, det.met_resolution_spread) - det.met_resolution_spread**2 / 2)
    met = normal(rng, (n, 2)) * (det.met_resolution * np.sqrt(sumet) * spread)[:, None] - seen

    columns = {
        "PRI_tau_pt": pt_of(tau), "PRI_tau_eta": tau_eta[rows], "PRI_tau_phi": tau_phi[rows],
        "PRI_lep_pt": pt_of(lepton), "PRI_lep_eta": lep_eta[rows], "PRI_lep_phi": lep_phi[rows],
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
    return columns, rows
