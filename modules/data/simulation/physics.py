"""Generator-level physics of the toy simulation: four-vectors, decays and the five event topologies.

Each topology returns the true final state (lepton, visible tau candidate, neutrinos and partons) of the events that
may still pass the selection; what balances their transverse momenta is the soft, unclustered recoil, so that the
detector model can build the missing transverse momentum from what it sees. Four-vectors are (n, 4) arrays
(E, px, py, pz); partons are (n, K, 4), K depending on the topology, with all-zero rows where an event has fewer.
Events that cannot pass the selection whatever the detector does are dropped as early as possible, so that the
full-size file takes seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from modules.data.simulation.config import (
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
    Selection,
)
from modules.data.simulation.variates import (
    azimuth,
    categorical,
    cauchy_truncated,
    erlang,
    exponential,
    kumaraswamy,
    normal,
)

MAX_ISR = 3
MAX_SOFT = 2
FAKE_TAU_MASS = 0.8
MICHEL_TABLE = 4096


@dataclass
class Truth:
    """The true final state of a batch of events."""

    lepton: np.ndarray
    tau: np.ndarray
    neutrinos: np.ndarray
    partons: np.ndarray
    isr_slice: np.ndarray
    """Number of hard initial-state partons each event was generated with (its generator slice)."""


def from_pt_eta_phi(pt: np.ndarray, eta: np.ndarray, cos_phi: np.ndarray, sin_phi: np.ndarray,
                    mass: float | np.ndarray = 0.0) -> np.ndarray:
    """Four-vectors from transverse momentum, pseudorapidity, the azimuth's cosine and sine, and mass."""
    px, py, pz = pt * cos_phi, pt * sin_phi, pt * np.sinh(eta)
    return np.stack([np.sqrt(mass**2 + pt**2 + pz**2), px, py, pz], axis=-1)


def pt_of(p: np.ndarray) -> np.ndarray:
    return np.sqrt(p[..., 1] ** 2 + p[..., 2] ** 2)


def eta_of(p: np.ndarray) -> np.ndarray:
    """Pseudorapidity; zero for null vectors (absent partons)."""
    pt = pt_of(p)
    return np.arcsinh(np.divide(p[..., 3], pt, out=np.zeros_like(pt), where=pt > 0))


def phi_of(p: np.ndarray) -> np.ndarray:
    return np.arctan2(p[..., 2], p[..., 1])


def within(p: np.ndarray, pt_min: float, eta_max: float) -> np.ndarray:
    """pT >= pt_min and |eta| < eta_max, without computing eta."""
    pt = pt_of(p)
    return (pt >= pt_min) & (np.abs(p[..., 3]) < pt * np.sinh(eta_max))


def boost(p: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """Lorentz-boost four-vectors p (n, 4) by velocities beta (n, 3)."""
    bx, by, bz = beta[:, 0], beta[:, 1], beta[:, 2]
    b2 = np.minimum(bx * bx + by * by + bz * bz, 1 - 1e-12)
    gamma = 1 / np.sqrt(1 - b2)
    bp = bx * p[:, 1] + by * p[:, 2] + bz * p[:, 3]
    factor = (gamma - 1) / np.maximum(b2, 1e-300) * bp + gamma * p[:, 0]
    return np.stack([gamma * (p[:, 0] + bp), p[:, 1] + factor * bx, p[:, 2] + factor * by, p[:, 3] + factor * bz],
                    axis=1)


def isotropic(rng: np.random.Generator, n: int) -> np.ndarray:
    """n unit vectors uniform on the sphere."""
    cos_t = 2 * rng.random(n) - 1
    sin_t = np.sqrt(1 - cos_t**2)
    cos_p, sin_p = azimuth(rng, n)
    return np.stack([sin_t * cos_p, sin_t * sin_p, cos_t], axis=1)


def mass_of(p: np.ndarray) -> np.ndarray:
    return np.sqrt(np.maximum(p[:, 0] ** 2 - p[:, 1] ** 2 - p[:, 2] ** 2 - p[:, 3] ** 2, 0))


def two_body(rng: np.random.Generator, parent: np.ndarray, m1: np.ndarray | float, m2: np.ndarray | float):
    """Isotropic two-body decays of `parent` into masses m1 and m2, returned in the lab frame."""
    mass = mass_of(parent)
    m1, m2 = np.broadcast_to(m1, mass.shape), np.broadcast_to(m2, mass.shape)
    p_star = np.sqrt(np.maximum((mass**2 - (m1 + m2) ** 2) * (mass**2 - (m1 - m2) ** 2), 0)) / (2 * mass)
    direction = isotropic(rng, len(mass)) * p_star[:, None]
    d1 = np.concatenate([np.sqrt(m1**2 + p_star**2)[:, None], direction], axis=1)
    d2 = np.concatenate([np.sqrt(m2**2 + p_star**2)[:, None], -direction], axis=1)
    beta = parent[:, 1:] / parent[:, :1]
    return boost(d1, beta), boost(d2, beta)


def power_law(rng: np.random.Generator, shape: int | tuple[int, ...], minimum: float, power: float) -> np.ndarray:
    """Transverse momenta falling as pt^-(power+1) above `minimum`."""
    return minimum * (1 - rng.random(shape)) ** (-1 / power)


def hard_spectrum(rng: np.random.Generator, n: int, k: int, mean: float, tail: int) -> np.ndarray:
    """(n, k) positive values of the given mean, each an exponential whose scale is shared within its event and
    varies between events (a Gamma of shape `tail` in the rate): each value follows a Lomax law, with a power-law
    tail of index `tail`, and values of one event are correlated, as the jets of a hard event are all hard."""
    return mean * (tail - 1) * exponential(rng, (n, k)) / erlang(rng, (n, 1), tail, 1.0)


def boost_width(gen: Generation) -> float:
    """Width of the longitudinal boost that an event's initial-state partons and hard system share."""
    return gen.isr_eta_width * np.sqrt(gen.isr_eta_correlation)


@dataclass
class Radiation:
    """Initial-state partons of a batch of events, (n, MAX_ISR + MAX_SOFT) with hard ones first and zero pT where
    absent. Their transverse momenta exist for every event, since the hard system recoils against them; their
    pseudorapidities are drawn by `partons` for the events still kept, which saves most of the work."""

    pt: np.ndarray
    cos: np.ndarray
    sin: np.ndarray
    slices: np.ndarray
    """Number of hard partons of each event (its generator slice)."""
    boost: np.ndarray
    """The event's longitudinal boost, a rapidity shared with the hard system (see `recoiling_system`)."""

    def recoil(self) -> np.ndarray:
        """Transverse momentum sum (n, 2)."""
        return np.stack([slot_sum(self.pt * self.cos), slot_sum(self.pt * self.sin)], axis=1)

    def select(self, rows: np.ndarray) -> Radiation:
        return Radiation(*(getattr(self, f.name)[rows] for f in fields(self)))

    def partons(self, rng: np.random.Generator, gen: Generation) -> np.ndarray:
        """Four-vectors (n, K, 4), all zero for absent partons."""
        own = gen.isr_eta_width * np.sqrt(1 - gen.isr_eta_correlation)
        return from_pt_eta_phi(self.pt, self.boost[:, None] + normal(rng, self.pt.shape, own), self.cos, self.sin)


def initial_state(rng: np.random.Generator, n: int, process: Process, gen: Generation) -> Radiation:
    """Initial-state radiation: hard partons (their number is the event's slice) and soft ones, which mostly make
    jets below the 30 GeV threshold, seen only in MET and sum ET."""
    slices = categorical(rng, n, process.isr_probs)
    hard = gen.isr_pt_min + hard_spectrum(rng, n, MAX_ISR, process.isr_pt_scale, gen.isr_pt_tail)
    hard *= np.arange(MAX_ISR)[None, :] < slices[:, None]
    soft = gen.soft_parton_pt[0] + (gen.soft_parton_pt[1] - gen.soft_parton_pt[0]) * rng.random((n, MAX_SOFT))
    soft *= np.arange(MAX_SOFT)[None, :] < categorical(rng, n, gen.soft_parton_probs)[:, None]
    pt = np.concatenate([hard, soft], axis=1)
    cos, sin = azimuth(rng, pt.shape)
    turn = normal(rng, n, gen.isr_recoil_spread)
    cos_turn, sin_turn = np.cos(turn), np.sin(turn)
    cos[:, 1], sin[:, 1] = sin[:, 0] * sin_turn - cos[:, 0] * cos_turn, -sin[:, 0] * cos_turn - cos[:, 0] * sin_turn
    return Radiation(pt, cos, sin, slices, normal(rng, n, boost_width(gen)))


def recoiling_system(rng: np.random.Generator, mass: np.ndarray, recoil: np.ndarray, rapidity_width: float,
                     boost: np.ndarray, gen: Generation):
    """Four-vector of a system of the given mass whose transverse momentum balances `recoil` (n, 2); its rapidity
    is the event's shared `boost` plus its own Gaussian part, together of width `rapidity_width`."""
    px, py = -recoil[:, 0], -recoil[:, 1]
    mt = np.sqrt(mass**2 + px**2 + py**2)
    own = np.sqrt(max(rapidity_width**2 - boost_width(gen) ** 2, 0.0))
    growth = np.exp(boost + normal(rng, len(mass), own))
    return np.stack([mt * (growth + 1 / growth) / 2, px, py, mt * (growth - 1 / growth) / 2], axis=1)


def slot_sum(objects: np.ndarray) -> np.ndarray:
    """Sum over the object axis of (n, K, ...) arrays (explicit adds: numpy's reduction over a short axis is slow)."""
    total = objects[:, 0].copy()
    for k in range(1, objects.shape[1]):
        total += objects[:, k]
    return total


def _transverse_sum(partons: np.ndarray) -> np.ndarray:
    return slot_sum(partons[:, :, 1:3])


def soft_kick(rng: np.random.Generator, n: int, gen: Generation) -> np.ndarray:
    return normal(rng, (n, 2), gen.soft_kt)


def _michel_table() -> np.ndarray:
    grid = np.linspace(0, 1, 20_001)
    return np.interp(np.linspace(0, 1, MICHEL_TABLE + 1), 2 * grid**3 - grid**4, grid)


MICHEL_INVERSE = _michel_table()
"""Inverse distribution function of the lepton energy fraction in tau -> l nu nu, on a uniform grid."""


def michel_fraction(rng: np.random.Generator, n: int) -> np.ndarray:
    """Lepton energy over its maximum in tau -> l nu nu (rest frame, unpolarised): density 2 x^2 (3 - 2x)."""
    position = rng.random(n) * MICHEL_TABLE
    index = position.astype(np.int64)
    low = MICHEL_INVERSE[index]
    return low + (position - index) * (MICHEL_INVERSE[index + 1] - low)


def tau_to_lepton(rng: np.random.Generator, tau: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Leptonic tau decays: the (massless) lepton and the two neutrinos together."""
    energy = michel_fraction(rng, len(tau)) * TAU_MASS / 2
    lepton_rest = np.concatenate([energy[:, None], isotropic(rng, len(tau)) * energy[:, None]], axis=1)
    lepton = boost(lepton_rest, tau[:, 1:] / tau[:, :1])
    return lepton, tau - lepton


def tau_to_hadrons(rng: np.random.Generator, tau: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hadronic tau decays tau -> h nu with the modes' visible-mass line shapes: (visible, neutrino)."""
    n = len(tau)
    mode = categorical(rng, n, [m.share for m in HADRONIC_MODES])
    mass = np.empty(n)
    for i, m in enumerate(HADRONIC_MODES):
        chosen = mode == i
        mass[chosen] = cauchy_truncated(rng, int(chosen.sum()), m.mass, m.width, 0.28, TAU_MASS - 0.05)
    return two_body(rng, tau, mass, 0.0)


def w_to_lepton(rng: np.random.Generator, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """W -> l nu, directly or through a leptonic tau: (lepton, all neutrinos)."""
    via_tau = rng.random(len(w)) < TAU_TO_LEPTON_SHARE
    lepton, nu = two_body(rng, w, 0.0, 0.0)
    tau, nu_w = two_body(rng, w[via_tau], TAU_MASS, 0.0)
    lepton[via_tau], nus_tau = tau_to_lepton(rng, tau)
    nu[via_tau] = nu_w + nus_tau
    return lepton, nu


def _partons(*groups: np.ndarray) -> np.ndarray:
    """Parton groups (n, k, 4) side by side (each topology has its own number of parton slots)."""
    return np.concatenate(groups, axis=1)


def _boson_mass(rng: np.random.Generator, process: Process, n: int) -> np.ndarray:
    return cauchy_truncated(rng, n, process.mass, process.width, 0.6 * process.mass, 2.0 * process.mass)


def _lepton_may_pass(lepton: np.ndarray, sel: Selection) -> np.ndarray:
    return within(lepton, sel.truth_lep_pt, sel.lep_eta)


def _tau_may_pass(tau: np.ndarray, sel: Selection) -> np.ndarray:
    return within(tau, sel.truth_tau_pt, sel.tau_eta)


def _ditau_with_partons(rng: np.random.Generator, boson: np.ndarray, isr: Radiation, gen: Generation, sel: Selection,
                        other: np.ndarray | None = None, invisible: np.ndarray | float = 0.0) -> Truth:
    """Boson -> tau tau, one leptonic and one hadronic decay, keeping events whose visible taus may pass; `other`
    partons (n, k, 4) come before the radiation's, `invisible` adds undetected particles to the neutrinos."""
    tau_a, tau_b = two_body(rng, boson, TAU_MASS, TAU_MASS)
    lepton, nus = tau_to_lepton(rng, tau_a)
    nus += invisible
    keep = np.flatnonzero(_lepton_may_pass(lepton, sel))
    visible, nu_b = tau_to_hadrons(rng, tau_b[keep])
    passing = _tau_may_pass(visible, sel)
    rows = keep[passing]
    isr = isr.select(rows)
    partons = isr.partons(rng, gen) if other is None else _partons(other[rows], isr.partons(rng, gen))
    return Truth(lepton[rows], visible[passing], nus[rows] + nu_b[passing], partons, isr.slices)


def ditau(rng: np.random.Generator, process: Process, n: int, gen: Generation, sel: Selection) -> Truth:
    """gg -> H or Drell-Yan Z/gamma* -> tau tau with initial-state radiation."""
    isr = initial_state(rng, n, process, gen)
    recoil = isr.recoil() + soft_kick(rng, n, gen)
    boson = recoiling_system(rng, _boson_mass(rng, process, n), recoil, process.boson_rapidity, isr.boost, gen)
    return _ditau_with_partons(rng, boson, isr, gen, sel)


def vbf(rng: np.random.Generator, process: Process, n: int, gen: Generation, sel: Selection) -> Truth:
    """Vector-boson fusion: two forward tag quarks in opposite hemispheres and a central Higgs."""
    isr = initial_state(rng, n, process, gen)
    side = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    eta = np.stack([side, -side], axis=1) * (gen.vbf_tag_eta + normal(rng, (n, 2), gen.vbf_tag_eta_width))
    pt = gen.vbf_tag_pt * np.exp(normal(rng, (n, 2), gen.vbf_tag_pt_spread))
    tags = from_pt_eta_phi(pt, eta, *azimuth(rng, (n, 2)))
    recoil = _transverse_sum(tags) + isr.recoil() + soft_kick(rng, n, gen)
    higgs = recoiling_system(rng, _boson_mass(rng, process, n), recoil, process.boson_rapidity, isr.boost, gen)
    return _ditau_with_partons(rng, higgs, isr, gen, sel, other=tags)


def vh(rng: np.random.Generator, process: Process, n: int, gen: Generation, sel: Selection) -> Truth:
    """Associated production: H -> tau tau with a W or Z decaying to two quarks."""
    isr = initial_state(rng, n, process, gen)
    recoil = isr.recoil() + soft_kick(rng, n, gen)
    is_w = rng.random(n) < gen.vh_w_share
    w_mass, z_mass = (cauchy_truncated(rng, n, W_MASS, W_WIDTH, 60, 100),
                      cauchy_truncated(rng, n, Z_MASS, Z_WIDTH, 70, 110))
    v_mass = np.where(is_w, w_mass, z_mass)
    h_mass = _boson_mass(rng, process, n)
    system_mass = h_mass + v_mass + exponential(rng, n, gen.vh_mass_excess)
    system = recoiling_system(rng, system_mass, recoil, process.boson_rapidity, isr.boost, gen)
    higgs, boson = two_body(rng, system, h_mass, v_mass)
    q1, q2 = two_body(rng, boson, 0.0, 0.0)
    hadronic = (rng.random(n) < gen.vh_hadronic_share)[:, None]
    quarks = np.stack([q1, q2], axis=1) * hadronic[:, :, None]
    return _ditau_with_partons(rng, higgs, isr, gen, sel, other=quarks, invisible=boson * ~hadronic)


def fake_tau(rng: np.random.Generator, jet: np.ndarray, gen: Generation) -> np.ndarray:
    """The tau candidate made of a misidentified jet; the rest of the jet joins the soft, unclustered recoil."""
    share = kumaraswamy(rng, len(jet), *gen.fake_fraction)
    pt = pt_of(jet)
    visible = share * pt
    return from_pt_eta_phi(visible, eta_of(jet), jet[:, 1] / pt, jet[:, 2] / pt, FAKE_TAU_MASS)


def _b_vetoed(rng: np.random.Generator, b_quarks: np.ndarray, sel: Selection) -> np.ndarray:
    """Events with a b-tagged jet (truth b quark in the tracker acceptance, tagged with the tagger's efficiency)."""
    taggable = within(b_quarks, sel.jet_pt, sel.b_tag_eta)
    return np.any(taggable & (rng.random(taggable.shape) < sel.b_tag_efficiency), axis=1)


def ttbar(rng: np.random.Generator, process: Process, n: int, gen: Generation, sel: Selection) -> Truth:
    """Top pairs, t -> W b, with no b-tagged jet: one W -> l nu, the other W -> tau nu or two quarks faking a tau."""
    isr = initial_state(rng, n, process, gen)
    recoil = isr.recoil() + soft_kick(rng, n, gen)
    system_mass = 2 * TOP_MASS + exponential(rng, n, gen.ttbar_mass_excess)
    system = recoiling_system(rng, system_mass, recoil, process.boson_rapidity, isr.boost, gen)
    top_a, top_b = two_body(rng, system, *(cauchy_truncated(rng, n, TOP_MASS, TOP_WIDTH, 160, 185) for _ in "ab"))
    w_a, b_a = two_body(rng, top_a, cauchy_truncated(rng, n, W_MASS, W_WIDTH, 60, 100), B_MASS)
    w_b, b_b = two_body(rng, top_b, cauchy_truncated(rng, n, W_MASS, W_WIDTH, 60, 100), B_MASS)
    b_quarks = np.stack([b_a, b_b], axis=1)
    lepton, nus = w_to_lepton(rng, w_a)
    keep = ~_b_vetoed(rng, b_quarks, sel) & _lepton_may_pass(lepton, sel)
    n = int(keep.sum())
    w_b, lepton, nus, b_quarks = (a[keep] for a in (w_b, lepton, nus, b_quarks))
    real_tau = rng.random(n) < gen.ttbar_hadronic_tau
    tau = np.empty((n, 4))
    light = np.zeros((n, 4))
    tau_w, nu_w = two_body(rng, w_b[real_tau], TAU_MASS, 0.0)
    tau[real_tau], nu_tau = tau_to_hadrons(rng, tau_w)
    nus[real_tau] += nu_w + nu_tau
    q1, light[~real_tau] = two_body(rng, w_b[~real_tau], 0.0, 0.0)
    tau[~real_tau] = fake_tau(rng, q1, gen)
    rows = _tau_may_pass(tau, sel)
    isr = isr.select(np.flatnonzero(keep)[rows])
    partons = _partons(b_quarks[rows], light[rows, None], isr.partons(rng, gen))
    return Truth(lepton[rows], tau[rows], nus[rows], partons, isr.slices)


def wjets(rng: np.random.Generator, process: Process, n: int, gen: Generation, sel: Selection) -> Truth:
    """W -> l nu produced with jets, one of which is misidentified as the hadronic tau."""
    isr = initial_state(rng, n, process, gen)
    jet_pt = power_law(rng, n, gen.fake_pt_min, gen.fake_pt_power)
    jet = from_pt_eta_phi(jet_pt, normal(rng, n, gen.fake_eta_width), *azimuth(rng, n))
    recoil = jet[:, 1:3] + isr.recoil() + soft_kick(rng, n, gen)
    w = recoiling_system(rng, _boson_mass(rng, process, n), recoil, process.boson_rapidity, isr.boost, gen)
    lepton, nus = w_to_lepton(rng, w)
    tau = fake_tau(rng, jet, gen)
    keep = np.flatnonzero(_lepton_may_pass(lepton, sel) & _tau_may_pass(tau, sel))
    isr = isr.select(keep)
    return Truth(lepton[keep], tau[keep], nus[keep], isr.partons(rng, gen), isr.slices)


TOPOLOGIES = {"ditau": ditau, "vbf": vbf, "vh": vh, "ttbar": ttbar, "wjets": wjets}
"""Generator of each topology named in the process table."""
