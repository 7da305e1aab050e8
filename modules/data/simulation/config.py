"""The toy simulation's physics and detector constants, as data: processes, tau decays, resolutions and selection.

Every number the generator uses lives here, so tuning the simulation towards the real events means editing a table,
never the code. Bump VERSION whenever a change alters the generated events (it names cached files and results).
"""

from __future__ import annotations

from dataclasses import dataclass

GENERATOR = "higgsml-lumin toy simulation"
VERSION = 5
DEFAULT_SEED = 2014
FIRST_EVENT_ID = 100_000
SIGNAL_FRACTION = 0.3427
"""Share of signal events in the file (85,667 of the 250,000 training events of the real file)."""

TAU_MASS = 1.777
W_MASS, W_WIDTH = 80.4, 2.1
Z_MASS, Z_WIDTH = 91.19, 2.5
H_MASS, H_WIDTH = 125.0, 0.004
TOP_MASS, TOP_WIDTH = 172.5, 1.4
B_MASS = 4.8
TAU_TO_LEPTON_SHARE = 0.26
"""Share of W -> lepton decays that go through a leptonic tau (BR(tau -> l nu nu) = 0.35, before cuts)."""


@dataclass(frozen=True)
class Process:
    """One physics process: how to generate it and how many events and how much weight it gets in its class."""

    name: str
    label: str
    topology: str
    """Which generator builds it: ditau (H or Z -> tau tau), vbf, vh, ttbar, wjets."""
    mass: float
    width: float
    event_share: float
    """Fraction of its class's events (the simulated samples' sizes, as in the real file)."""
    yield_share: float
    """Fraction of its class's summed weight (cross-section x acceptance, as in the real file)."""
    isr_probs: tuple[float, float, float, float]
    """Probability of 0, 1, 2, 3 hard initial-state partons (the generator slices of the real samples)."""
    isr_weights: tuple[float, float, float, float]
    """Relative event weight of each slice: sliced samples give weight clusters, as the real file shows."""
    isr_pt_scale: float
    """Hard initial-state parton pT is Generation.isr_pt_min plus a falling spectrum of this mean (GeV): above any
    threshold their spectrum keeps this slope, as the real jets' does."""
    weight_spread: float
    """Log-normal spread of per-event weight factors (trigger and identification scale factors)."""
    boson_rapidity: float
    """Gaussian width of the produced system's rapidity."""
    activity: float = 1.0
    """Scale of the underlying event's transverse energy: gluon-initiated processes radiate more than
    quark-initiated ones."""


PROCESSES: tuple[Process, ...] = (
    Process("ggH", "s", "ditau", H_MASS, H_WIDTH, 0.387, 0.876, (0.505, 0.28, 0.108, 0.107), (1, 1, 1, 1), 28.0, 0.0,
            1.4),
    Process("VBF", "s", "vbf", H_MASS, H_WIDTH, 0.523, 0.095, (0.857, 0.018, 0.09, 0.035), (1, 1, 1, 1), 35.0,
            0.0, 1.3),
    Process("VH", "s", "vh", H_MASS, H_WIDTH, 0.090, 0.029, (0.559, 0.379, 0.021, 0.042), (1, 1, 1, 1), 17.0,
            0.0, 1.3),
    Process("Ztautau", "b", "ditau", Z_MASS, Z_WIDTH, 0.309, 0.1125, (0.112, 0.357, 0.126, 0.405), (1, 0.7, 0.3, 0.15),
            28.0, 0.0, 1.8, activity=0.85),
    Process("ttbar", "b", "ttbar", TOP_MASS, TOP_WIDTH, 0.058, 0.0174, (0.577, 0.173, 0.24, 0.011), (1, 1, 1, 1),
            19.0, 0.0, 1.0),
    Process("Wjets", "b", "wjets", W_MASS, W_WIDTH, 0.633, 0.870, (0.44, 0.28, 0.19, 0.09), (1, 0.55, 0.45, 0.3),
            24.0, 0.25, 2.0, activity=0.85),
)


@dataclass(frozen=True)
class HadronicMode:
    """A hadronic tau decay tau -> h nu, with the mass line shape of its visible system h."""

    name: str
    share: float
    mass: float
    width: float


HADRONIC_MODES: tuple[HadronicMode, ...] = (
    HadronicMode("pi", 0.17, 0.1396, 0.0),
    HadronicMode("rho", 0.40, 0.775, 0.149),
    HadronicMode("a1", 0.43, 1.23, 0.40),
)
"""Shares among hadronic decays (PDG: pi 10.8%, rho 25.5%, a1-like three-pion modes ~18% of all tau decays)."""


@dataclass(frozen=True)
class Generation:
    """Shapes of the generator-level spectra."""

    isr_pt_min: float = 18.0
    isr_pt_tail: int = 5
    """Power-law index of the hard partons' pT spectrum far above its mean (the real jets' tail is longer than an
    exponential's)."""
    isr_recoil_spread: float = 1.3
    """The second hard parton's azimuth is opposite the first's, give or take a Gaussian of this width (radians):
    in multijet events the jets partly balance each other."""
    isr_eta_width: float = 1.9
    isr_eta_correlation: float = 0.35
    """Initial-state partons' pseudorapidities are Gaussian of this width, correlated within an event by this
    coefficient (they share the longitudinal boost of the colliding partons)."""
    soft_parton_probs: tuple[float, float, float] = (0.49, 0.36, 0.15)
    soft_parton_pt: tuple[float, float] = (12.0, 25.0)
    """Probability of 0, 1, 2 soft initial-state partons, with pT uniform in this range."""
    soft_kt: float = 13.5
    """Gaussian width (per component) of the soft, unclustered recoil against the hard system."""
    vbf_tag_pt: float = 45.0
    vbf_tag_pt_spread: float = 0.6
    """Tag-quark pT is log-normal around vbf_tag_pt with this spread."""
    vbf_tag_eta: float = 2.4
    vbf_tag_eta_width: float = 1.0
    vh_mass_excess: float = 120.0
    vh_w_share: float = 0.6
    vh_hadronic_share: float = 0.75
    """Share of VH events whose W or Z decays to quarks; the others are taken as invisible (Z -> nu nu and
    W -> l nu with the lepton lost)."""
    ttbar_mass_excess: float = 60.0
    ttbar_hadronic_tau: float = 0.5
    """Share of ttbar events whose tau candidate is a real hadronic tau (the rest: a light jet faking one)."""
    fake_pt_min: float = 22.0
    fake_pt_power: float = 3.5
    fake_eta_width: float = 1.3
    fake_fraction: tuple[float, float] = (9.0, 1.5)
    """Kumaraswamy(a, b) share of a jet's momentum carried by the tau candidate it fakes."""
    underlying_event: tuple[int, float] = (2, 30.0)
    """Gamma(integer shape, scale) scalar transverse energy of the underlying event and pile-up (GeV)."""


@dataclass(frozen=True)
class Detector:
    """Resolutions and responses of the toy detector."""

    lepton_resolution: float = 0.02
    tau_resolution: float = 0.10
    jet_noise: float = 2.0
    jet_stochastic: float = 0.75
    jet_constant: float = 0.05
    """Jet sigma(pT)/pT = sqrt((noise/pT)^2 + stochastic^2/pT + constant^2)."""
    met_jet_pt: float = 20.0
    """Jets above this pT enter MET and sum ET at their calibrated scale (below: with the soft term's response)."""
    soft_response: float = 0.08
    met_resolution: float = 0.3
    """Extra MET noise per component: met_resolution * sqrt(sum ET), in GeV."""
    met_resolution_spread: float = 0.9
    """Log-normal event-to-event spread of that resolution (pile-up and calorimeter fluctuations give MET a
    narrower core and longer tails than one Gaussian)."""
    muon_share: float = 0.5
    muon_deposit: float = 3.0
    """Share of the leptons that are muons, which leave only this much (GeV) in the calorimeters: sum ET counts
    calorimeter energy, so in real events it can be less than the pT of the objects."""


@dataclass(frozen=True)
class Selection:
    """The lepton-hadron selection visible in the real rows."""

    tau_pt: float = 20.0
    lep_pt: float = 26.0
    jet_pt: float = 30.0
    tau_eta: float = 2.5
    lep_eta: float = 2.5
    jet_eta: float = 4.5
    min_delta_r: float = 0.2
    jet_radius: float = 0.4
    """Partons closer than this in (eta, phi) make one jet."""
    lepton_isolation: float = 0.7
    tau_isolation: float = 0.5
    """Events are rejected when a jet above Detector.met_jet_pt lies this close to the lepton or the tau."""
    b_tag_efficiency: float = 0.7
    b_tag_eta: float = 2.5
    truth_lep_pt: float = 24.0
    truth_tau_pt: float = 14.0
    """Generated events are dropped early when the true lepton or tau pT is below these: more than four resolutions
    under the cuts, so the detector could never bring them above (keep them so when changing resolutions)."""


@dataclass(frozen=True)
class MassEstimator:
    """The likelihood mass estimator standing in for the MMC."""

    met_sigma: float = 0.7
    """Assumed MET resolution per component, times sqrt(sum ET)."""
    hadronic_prior: tuple[float, float] = (0.45, 0.45)
    leptonic_prior: tuple[float, float] = (0.65, 0.55)
    """Gaussian priors (mean, sigma) of neutrino over visible transverse momentum on each side."""
    minimum_neutrinos: tuple[float, float] = (0.15, 0.3)
    """Least neutrino over visible transverse momentum (hadronic, leptonic side) the fit may return."""
    max_pull: float = 7.0
    """Fail (-999) when the fitted neutrinos leave more than this many MET resolutions unexplained."""
    scatter: float = 0.06
    """Log-normal scatter of the fitted mass (applied to real events, the fit differs from the real MMC by 0.14,
    part of it systematic; 0.06 is what best matches the real MMC's joint distribution with the other features)."""


GENERATION = Generation()
DETECTOR = Detector()
SELECTION = Selection()
MASS_ESTIMATOR = MassEstimator()
