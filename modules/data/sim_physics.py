"""Generator-level physics of the toy simulation: four-vectors, decays and the five event topologies.

Each topology returns the true final state of n events (lepton, visible tau candidate, neutrinos and partons); what
balances their transverse momenta is the soft, unclustered recoil, so that the detector model can build the missing
transverse momentum from what it sees. Arrays are (n, 4) four-vectors (E, px, py, pz); partons are (n, K, 4) with
all-zero rows where an event has fewer than K partons.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from modules.data.sim_config import (
    B_MASS,
    HADRONIC_MODES,
    TAU_MASS,
    TAU_TO_LEPTON_SHARE,
    TOP_MASS,
    TOP_WIDTH,
    W_MASS,
    W_WIDTH,
    Z_MASS,
    Z_WIDTH,
    Generation,
    Process,
)

MAX_PARTONS = 6
MAX_ISR = 3


@dataclass
class Truth:
    """The true final state of a batch of events."""

    lepton: np.ndarray
    tau: np.ndarray
    neutrinos: np.ndarray
    partons: np.ndarray
    parton_is_b: np.ndarray
    isr_slice: np.ndarray
    """Number of hard initial-state partons each event was generated with (its generator slice)."""


def from_pt_eta_phi(pt: np.ndarray, eta: np.ndarray, phi: np.ndarray, mass: float | np.ndarray = 0.0) -> np.ndarray:
    """Four-vectors of particles with the given transverse momentum, pseudorapidity, azimuth and mass."""
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    return np.stack([np.sqrt(mass**2 + px**2 + py**2 + pz**2), px, py, pz], axis=-1)


def pt_of(p: np.ndarray) -> np.ndarray:
    return np.hypot(p[..., 1], p[..., 2])


def eta_of(p: np.ndarray) -> np.ndarray:
    """Pseudorapidity; zero for null vectors (absent partons)."""
    pt = pt_of(p)
    return np.arcsinh(np.divide(p[..., 3], pt, out=np.zeros_like(pt), where=pt > 0))


def phi_of(p: np.ndarray) -> np.ndarray:
    return np.arctan2(p[..., 2], p[..., 1])


def boost(p: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """Lorentz-boost four-vectors p (n, 4) by velocities beta (n, 3)."""
    b2 = np.clip(np.sum(beta**2, axis=-1), 0, 1 - 1e-12)
    gamma = 1 / np.sqrt(1 - b2)
    bp = np.sum(beta * p[..., 1:], axis=-1)
    factor = np.where(b2 > 0, (gamma - 1) / np.where(b2 > 0, b2, 1), 0.0)
    space = p[..., 1:] + (factor * bp + gamma * p[..., 0])[..., None] * beta
    return np.concatenate([(gamma * (p[..., 0] + bp))[..., None], space], axis=-1)


def isotropic(rng: np.random.Generator, n: int) -> np.ndarray:
    """n unit vectors uniform on the sphere."""
    cos_t = rng.uniform(-1, 1, n)
    phi = rng.uniform(-np.pi, np.pi, n)
    sin_t = np.sqrt(1 - cos_t**2)
    return np.stack([sin_t * np.cos(phi), sin_t * np.sin(phi), cos_t], axis=-1)


def two_body(rng: np.random.Generator, parent: np.ndarray, m1: np.ndarray | float, m2: np.ndarray | float):
    """Isotropic two-body decays of `parent` into masses m1 and m2, returned in the lab frame."""
    mass = np.sqrt(np.clip(parent[:, 0] ** 2 - np.sum(parent[:, 1:] ** 2, axis=1), 0, None))
    m1, m2 = np.broadcast_to(m1, mass.shape), np.broadcast_to(m2, mass.shape)
    p_star = np.sqrt(np.clip((mass**2 - (m1 + m2) ** 2) * (mass**2 - (m1 - m2) ** 2), 0, None)) / (2 * mass)
    direction = isotropic(rng, len(mass)) * p_star[:, None]
    d1 = np.concatenate([np.sqrt(m1**2 + p_star**2)[:, None], direction], axis=1)
    d2 = np.concatenate([np.sqrt(m2**2 + p_star**2)[:, None], -direction], axis=1)
    beta = parent[:, 1:] / parent[:, :1]
    return boost(d1, beta), boost(d2, beta)


def breit_wigner(rng: np.random.Generator, n: int, mass: float, width: float, low: float, high: float) -> np.ndarray:
    """Masses from a relativistic-enough Cauchy line shape truncated to [low, high]."""
    if width <= 0:
        return np.full(n, mass)
    lo, hi = np.arctan((low - mass) / (width / 2)), np.arctan((high - mass) / (width / 2))
    return mass + width / 2 * np.tan(rng.uniform(lo, hi, n))


def power_law(rng: np.random.Generator, n: int, minimum: float, power: float) -> np.ndarray:
    """Transverse momenta falling as pt^-(power+1) above `minimum`."""
    return minimum * rng.uniform(1e-9, 1, n) ** (-1 / power)


def initial_state(rng: np.random.Generator, n: int, probs: tuple[float, ...], gen: Generation):
    """Hard initial-state partons (n, MAX_ISR, 4) and the slice (number of partons) of each event."""
    slices = rng.choice(len(probs), size=n, p=np.asarray(probs) / np.sum(probs))
    pt = power_law(rng, n * MAX_ISR, gen.isr_pt_min, gen.isr_pt_power).reshape(n, MAX_ISR)
    pt = np.where(np.arange(MAX_ISR)[None, :] < slices[:, None], pt, 0.0)
    eta = rng.normal(0, gen.isr_eta_width, (n, MAX_ISR))
    phi = rng.uniform(-np.pi, np.pi, (n, MAX_ISR))
    return from_pt_eta_phi(pt, eta, phi), slices


def recoiling_system(rng: np.random.Generator, mass: np.ndarray, recoil: np.ndarray, rapidity_width: float):
    """Four-vector of a system of the given mass whose transverse momentum balances `recoil` (n, 2)."""
    px, py = -recoil[:, 0], -recoil[:, 1]
    mt = np.sqrt(mass**2 + px**2 + py**2)
    y = rng.normal(0, rapidity_width, len(mass))
    return np.stack([mt * np.cosh(y), px, py, mt * np.sinh(y)], axis=1)


def soft_kick(rng: np.random.Generator, n: int, gen: Generation) -> np.ndarray:
    return rng.normal(0, gen.soft_kt, (n, 2))


def michel_fraction(rng: np.random.Generator, n: int) -> np.ndarray:
    """Lepton energy over its maximum in tau -> l nu nu (rest frame, unpolarised): density 2 x^2 (3 - 2x)."""
    grid = np.linspace(0, 1, 513)
    return np.interp(rng.uniform(0, 1, n), 2 * grid**3 - grid**4, grid)


def tau_to_lepton(rng: np.random.Generator, tau: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Leptonic tau decays: the (massless) lepton and the two neutrinos together."""
    energy = michel_fraction(rng, len(tau)) * TAU_MASS / 2
    lepton_rest = np.concatenate([energy[:, None], isotropic(rng, len(tau)) * energy[:, None]], axis=1)
    lepton = boost(lepton_rest, tau[:, 1:] / tau[:, :1])
    return lepton, tau - lepton


def tau_to_hadrons(rng: np.random.Generator, tau: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hadronic tau decays tau -> h nu with the modes' visible-mass line shapes: (visible, neutrino)."""
    n = len(tau)
    shares = np.array([m.share for m in HADRONIC_MODES])
    mode = rng.choice(len(HADRONIC_MODES), size=n, p=shares / shares.sum())
    mass = np.empty(n)
    for i, m in enumerate(HADRONIC_MODES):
        chosen = mode == i
        mass[chosen] = breit_wigner(rng, int(chosen.sum()), m.mass, m.width, 0.28, TAU_MASS - 0.05)
    return two_body(rng, tau, mass, 0.0)


def w_to_lepton(rng: np.random.Generator, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """W -> l nu, directly or through a leptonic tau: (lepton, all neutrinos)."""
    via_tau = rng.uniform(0, 1, len(w)) < TAU_TO_LEPTON_SHARE
    lepton, nu = two_body(rng, w, 0.0, 0.0)
    tau, nu_w = two_body(rng, w, TAU_MASS, 0.0)
    lepton_t, nus_t = tau_to_lepton(rng, tau)
    return np.where(via_tau[:, None], lepton_t, lepton), np.where(via_tau[:, None], nu_w + nus_t, nu)


def ditau_decay(rng: np.random.Generator, boson: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boson -> tau tau with one leptonic and one hadronic decay: (lepton, visible tau, neutrinos)."""
    tau_a, tau_b = two_body(rng, boson, TAU_MASS, TAU_MASS)
    lepton, nus_a = tau_to_lepton(rng, tau_a)
    visible, nu_b = tau_to_hadrons(rng, tau_b)
    return lepton, visible, nus_a + nu_b


def _pad(*groups: np.ndarray) -> np.ndarray:
    """Concatenate parton groups (n, k, 4) and pad to MAX_PARTONS."""
    partons = np.concatenate(groups, axis=1)
    missing = MAX_PARTONS - partons.shape[1]
    return np.pad(partons, ((0, 0), (0, missing), (0, 0)))


def _b_flags(n: int, b_slots: int) -> np.ndarray:
    flags = np.zeros((n, MAX_PARTONS), bool)
    flags[:, :b_slots] = True
    return flags


def _boson_mass(rng: np.random.Generator, process: Process, n: int) -> np.ndarray:
    return breit_wigner(rng, n, process.mass, process.width, 0.6 * process.mass, 2.0 * process.mass)


def ditau(rng: np.random.Generator, process: Process, n: int, gen: Generation) -> Truth:
    """gg -> H or Drell-Yan Z/gamma* -> tau tau with initial-state radiation."""
    isr, slices = initial_state(rng, n, process.isr_probs, gen)
    recoil = isr[:, :, 1:3].sum(axis=1) + soft_kick(rng, n, gen)
    boson = recoiling_system(rng, _boson_mass(rng, process, n), recoil, process.boson_rapidity)
    lepton, tau, nus = ditau_decay(rng, boson)
    return Truth(lepton, tau, nus, _pad(isr), np.zeros((n, MAX_PARTONS), bool), slices)


def vbf(rng: np.random.Generator, process: Process, n: int, gen: Generation) -> Truth:
    """Vector-boson fusion: two forward tag quarks in opposite hemispheres and a central Higgs."""
    isr, slices = initial_state(rng, n, process.isr_probs, gen)
    side = rng.choice([-1.0, 1.0], size=n)
    eta = np.stack([side, -side], axis=1) * (gen.vbf_tag_eta + rng.normal(0, gen.vbf_tag_eta_width, (n, 2)))
    pt = gen.vbf_tag_pt * np.exp(rng.normal(0, 0.6, (n, 2)))
    tags = from_pt_eta_phi(pt, eta, rng.uniform(-np.pi, np.pi, (n, 2)))
    recoil = tags[:, :, 1:3].sum(axis=1) + isr[:, :, 1:3].sum(axis=1) + soft_kick(rng, n, gen)
    higgs = recoiling_system(rng, _boson_mass(rng, process, n), recoil, process.boson_rapidity)
    lepton, tau, nus = ditau_decay(rng, higgs)
    return Truth(lepton, tau, nus, _pad(tags, isr), np.zeros((n, MAX_PARTONS), bool), slices)


def vh(rng: np.random.Generator, process: Process, n: int, gen: Generation) -> Truth:
    """Associated production: H -> tau tau with a W or Z decaying to two quarks."""
    isr, slices = initial_state(rng, n, process.isr_probs, gen)
    recoil = isr[:, :, 1:3].sum(axis=1) + soft_kick(rng, n, gen)
    is_w = rng.uniform(0, 1, n) < 0.6
    w_mass, z_mass = breit_wigner(rng, n, W_MASS, W_WIDTH, 60, 100), breit_wigner(rng, n, Z_MASS, Z_WIDTH, 70, 110)
    v_mass = np.where(is_w, w_mass, z_mass)
    h_mass = _boson_mass(rng, process, n)
    system_mass = h_mass + v_mass + rng.exponential(gen.vh_mass_excess, n)
    system = recoiling_system(rng, system_mass, recoil, process.boson_rapidity)
    higgs, boson = two_body(rng, system, h_mass, v_mass)
    q1, q2 = two_body(rng, boson, 0.0, 0.0)
    lepton, tau, nus = ditau_decay(rng, higgs)
    return Truth(lepton, tau, nus, _pad(q1[:, None], q2[:, None], isr), np.zeros((n, MAX_PARTONS), bool), slices)


def fake_tau(rng: np.random.Generator, jet: np.ndarray, gen: Generation) -> np.ndarray:
    """The tau candidate made of a misidentified jet; the rest of the jet joins the soft, unclustered recoil."""
    share = rng.beta(*gen.fake_fraction, len(jet))
    return from_pt_eta_phi(share * pt_of(jet), eta_of(jet), phi_of(jet), 0.8)


def ttbar(rng: np.random.Generator, process: Process, n: int, gen: Generation) -> Truth:
    """Top-pair production, t -> W b: one W -> l nu, the other W -> tau nu or two quarks, one faking the tau."""
    isr, slices = initial_state(rng, n, process.isr_probs, gen)
    recoil = isr[:, :, 1:3].sum(axis=1) + soft_kick(rng, n, gen)
    system_mass = 2 * TOP_MASS + rng.exponential(gen.ttbar_mass_excess, n)
    system = recoiling_system(rng, system_mass, recoil, process.boson_rapidity)
    top_masses = [breit_wigner(rng, n, TOP_MASS, TOP_WIDTH, 160, 185) for _ in range(2)]
    top_a, top_b = two_body(rng, system, *top_masses)
    w_masses = [breit_wigner(rng, n, W_MASS, W_WIDTH, 60, 100) for _ in range(2)]
    w_a, b_a = two_body(rng, top_a, w_masses[0], B_MASS)
    w_b, b_b = two_body(rng, top_b, w_masses[1], B_MASS)
    lepton, nus = w_to_lepton(rng, w_a)
    real_tau = rng.uniform(0, 1, n) < gen.ttbar_hadronic_tau
    tau_w, nu_w = two_body(rng, w_b, TAU_MASS, 0.0)
    tau_vis, nu_tau = tau_to_hadrons(rng, tau_w)
    q1, q2 = two_body(rng, w_b, 0.0, 0.0)
    fake = fake_tau(rng, q1, gen)
    tau = np.where(real_tau[:, None], tau_vis, fake)
    nus = nus + np.where(real_tau[:, None], nu_w + nu_tau, 0.0)
    light = np.where(real_tau[:, None], 0.0, q2)
    partons = _pad(b_a[:, None], b_b[:, None], light[:, None], isr)
    return Truth(lepton, tau, nus, partons, _b_flags(n, 2), slices)


def wjets(rng: np.random.Generator, process: Process, n: int, gen: Generation) -> Truth:
    """W -> l nu produced with jets, one of which is misidentified as the hadronic tau."""
    isr, slices = initial_state(rng, n, process.isr_probs, gen)
    jet_pt = power_law(rng, n, gen.fake_pt_min, gen.fake_pt_power)
    jet = from_pt_eta_phi(jet_pt, rng.normal(0, gen.fake_eta_width, n), rng.uniform(-np.pi, np.pi, n))
    recoil = jet[:, 1:3] + isr[:, :, 1:3].sum(axis=1) + soft_kick(rng, n, gen)
    w = recoiling_system(rng, _boson_mass(rng, process, n), recoil, process.boson_rapidity)
    lepton, nus = w_to_lepton(rng, w)
    return Truth(lepton, fake_tau(rng, jet, gen), nus, _pad(isr), np.zeros((n, MAX_PARTONS), bool), slices)


TOPOLOGIES = {"ditau": ditau, "vbf": vbf, "vh": vh, "ttbar": ttbar, "wjets": wjets}
"""Generator of each topology named in the process table."""
