"""Synthetic jet-substructure data, written to ROOT files with uproot.

The generator mimics the 16 high-level features of boosted-jet tagging at pT ~ 1 TeV for five classes
(g, q, W, Z, t). It is a toy, not a shower simulation, but each feature follows the physics that makes
the task hard:

* groomed jet mass peaks at mW = 80.4 GeV, mZ = 91.2 GeV (detector resolution ~10 %, so W and Z overlap)
  and mt = 173 GeV; a fraction of W/Z jets loses a prong in grooming (falls to QCD-like masses) and
  a fraction of top jets only contains the W (mass peak at 80 GeV, 2-prong);
* quark and gluon jets have falling mass spectra, gluons heavier and with more constituents;
* N-subjettiness ratios tau21 / tau32 and energy-correlation ratios C2 / D2 / N2 / M2 separate 1-, 2- and
  3-prong jets; a shared "radiation" latent variable per jet correlates multiplicity, Σz log z and the
  shape variables, as soft radiation does in real jets.

Running `write_root` puts the events into a TTree so the demo reads its data through the same uproot path
a user's real files take.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

#: Class names, in label order.
JET_CLASSES = ("g", "q", "W", "Z", "t")

#: The 16 feature branches, in model-input order.
JET_FEATURES = (
    "j_mass_mmdt",
    "j_multiplicity",
    "j_zlogz",
    "j_tau21_b1",
    "j_tau32_b1",
    "j_tau21_b2",
    "j_tau32_b2",
    "j_c1_b0_mmdt",
    "j_c1_b1_mmdt",
    "j_c1_b2_mmdt",
    "j_c2_b1_mmdt",
    "j_c2_b2_mmdt",
    "j_d2_b1_mmdt",
    "j_d2_b2_mmdt",
    "j_m2_b1_mmdt",
    "j_n2_b1_mmdt",
)

LABEL_BRANCH = "label"


def _clip01(x):
    return np.clip(x, 0.02, 1.0)


def make_jets(n_events: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Generate `n_events` jets, classes in equal proportion.

    Returns a dict of 1-D arrays of length `n_events`: the 16 `JET_FEATURES` (float32; mass in GeV,
    multiplicity as a count) and `label` (int32, index into `JET_CLASSES`).
    """
    if n_events <= 0:
        raise ValueError(f"n_events must be positive, got {n_events}")
    rng = np.random.default_rng(seed)
    n = n_events
    label = rng.permutation(np.arange(n) % len(JET_CLASSES)).astype(np.int32)
    g, q, w, z, t = (label == k for k in range(5))

    pt = 1000.0 * (1.0 + 0.08 * rng.standard_normal(n))  # GeV
    radiation = rng.standard_normal(n)  # shared soft-radiation latent, correlates shapes
    u = rng.random(n)

    # Groomed mass [GeV] and number of hard prongs that survived grooming.
    mass = np.empty(n)
    prongs = np.ones(n)
    mass[g] = 15.0 + rng.gamma(2.4, 24.0, g.sum())
    mass[q] = 10.0 + rng.gamma(1.9, 21.0, q.sum())
    for cls, peak in ((w, 80.4), (z, 91.2)):
        kept = cls & (u < 0.88)
        lost = cls & ~(u < 0.88)
        mass[kept] = rng.normal(peak, 0.085 * peak, kept.sum())
        prongs[kept] = 2
        mass[lost] = 10.0 + rng.gamma(1.6, 18.0, lost.sum())
    top3 = t & (u < 0.76)
    top2 = t & (u >= 0.76) & (u < 0.93)
    top1 = t & (u >= 0.93)
    mass[top3] = rng.normal(173.0, 17.0, top3.sum())
    prongs[top3] = 3
    mass[top2] = rng.normal(80.4, 10.0, top2.sum())
    prongs[top2] = 2
    mass[top1] = 15.0 + rng.gamma(2.0, 22.0, top1.sum())
    mass = np.clip(mass, 1.0, None)

    # Constituent multiplicity: gluons > quarks; colour-singlet W/Z radiate less than top.
    mean_mult = np.select([g, q, w, z, t], [50.0, 30.0, 36.0, 38.0, 54.0])
    mult = rng.poisson(mean_mult * np.exp(0.16 * radiation) * (pt / 1000.0) ** 0.3).astype(np.float64)
    mult = np.clip(mult, 2, None)

    # N-subjettiness ratios, by number of prongs, smeared and correlated with radiation.
    tau21_mu = np.select([prongs == 1, prongs == 2, prongs == 3], [0.62, 0.40, 0.50])
    tau32_mu = np.select([prongs == 1, prongs == 2, prongs == 3], [0.80, 0.76, 0.56])
    tau21 = _clip01(tau21_mu + 0.05 * radiation + 0.10 * rng.standard_normal(n))
    tau32 = _clip01(tau32_mu + 0.03 * radiation + 0.10 * rng.standard_normal(n))
    tau21_b2 = _clip01(tau21**1.4 + 0.06 * rng.standard_normal(n))
    tau32_b2 = _clip01(tau32**1.3 + 0.06 * rng.standard_normal(n))

    # Momentum sharing: sum_i z_i log z_i (negative; more negative for many equal-sharing constituents).
    zlogz = -(0.85 * np.log(mult) + 0.15 * (prongs - 1) + 0.25 * rng.standard_normal(n))

    # Energy correlation functions; e_2^(beta) ~ (m / pT)^beta.
    rho = mass / pt
    c1_b0 = _clip01(0.5 * (1.0 - np.exp(zlogz / 3.0)) + 0.03 * rng.standard_normal(n))
    c1_b1 = rho * np.exp(0.12 * rng.standard_normal(n)) * 1.2
    c1_b2 = rho**2 * np.exp(0.18 * rng.standard_normal(n)) * 1.5
    c2_b1 = np.abs(0.08 + 0.30 * tau21 + 0.02 * radiation + 0.05 * rng.standard_normal(n))
    c2_b2 = np.abs(0.05 + 0.28 * tau21_b2 + 0.05 * rng.standard_normal(n))
    d2_b1 = np.abs(0.6 + 3.2 * tau21 * (1 + 0.3 * (prongs == 3)) + 0.15 * radiation + 0.45 * rng.standard_normal(n))
    d2_b2 = np.abs(0.4 + 2.5 * tau21_b2 + 0.40 * rng.standard_normal(n))
    m2_b1 = np.abs(0.02 + 0.10 * tau21 * tau32 + 0.03 * rng.standard_normal(n))
    n2_b1 = np.abs(0.10 + 0.35 * tau21 + 0.02 * radiation + 0.06 * rng.standard_normal(n))

    values = (mass, mult, zlogz, tau21, tau32, tau21_b2, tau32_b2, c1_b0, c1_b1, c1_b2, c2_b1, c2_b2,
              d2_b1, d2_b2, m2_b1, n2_b1)
    out = {name: v.astype(np.float32) for name, v in zip(JET_FEATURES, values)}
    out[LABEL_BRANCH] = label
    return out


def _write_tree(path: str | Path, tree: str, branches: dict[str, np.ndarray]) -> Path:
    """Write `branches` (arrays of shape (N, ...)) to a classic TTree with uproot, atomically."""
    import uproot

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    with uproot.recreate(tmp) as f:
        # mktree: a classic TTree (assigning a dict would write an RNTuple in uproot >= 5.7); a branch of
        # shape (N, *S) becomes a fixed-size array branch.
        types = {k: (v.dtype, v.shape[1:]) if v.ndim > 1 else v.dtype for k, v in branches.items()}
        f.mktree(tree, types).extend(branches)
    tmp.replace(path)
    return path


#: Branches of `write_constituents_root`, in the order of the last axis of `make_constituents`.
PARTICLE_BRANCHES = ("part_ptfrac", "part_deta", "part_dphi")
#: Branch of `write_jet_images_root`.
IMAGE_BRANCH = "image"


def write_constituents_root(path: str | Path, n_events: int, n_particles: int = 16, seed: int = 0,
                            tree: str = "particles") -> Path:
    """`make_constituents` written to ROOT: fixed-size (n_particles) branches `PARTICLE_BRANCHES` and the
    integer `label`. `read_root(path, tree, PARTICLE_BRANCHES)` gives back (N, n_particles, 3)."""
    x, label = make_constituents(n_events, n_particles, seed)
    return _write_tree(path, tree, {**{b: np.ascontiguousarray(x[:, :, k]) for k, b in enumerate(PARTICLE_BRANCHES)},
                                    LABEL_BRANCH: label})


def write_jet_images_root(path: str | Path, n_events: int, size: int = 16, seed: int = 0, tree: str = "images") -> Path:
    """`make_jet_images` written to ROOT: a fixed-size (size, size) branch `image` and the integer `label`.
    `read_root(path, tree, [IMAGE_BRANCH])` gives back (N, size, size, 1)."""
    images, label = make_jet_images(n_events, size, seed)
    return _write_tree(path, tree, {IMAGE_BRANCH: np.ascontiguousarray(images[..., 0]), LABEL_BRANCH: label})


def write_jets_root(path: str | Path, n_events: int, seed: int = 0, tree: str = "jets") -> Path:
    """Generate `n_events` jets with `make_jets` and write them to a ROOT TTree with uproot.

    The tree holds the 16 feature branches, the integer `label` branch and one-hot branches
    `j_g, j_q, j_W, j_Z, j_t` (int32) as in public jet-tagging datasets. Returns the path written.
    """
    jets = make_jets(n_events, seed)
    for k, name in enumerate(JET_CLASSES):
        jets[f"j_{name}"] = (jets[LABEL_BRANCH] == k).astype(np.int32)
    return _write_tree(path, tree, jets)


#: Number of hard prongs and their typical angular separation (in units of 0.1 rad) per class.
_PRONGS = {0: (1, 0.0), 1: (1, 0.0), 2: (2, 4.5), 3: (2, 5.0), 4: (3, 6.0)}
#: Angular spread (0.1 rad) of radiation around each prong: gluons radiate most.
_SPREAD = {0: 1.6, 1: 0.9, 2: 0.8, 3: 0.8, 4: 0.9}


def make_constituents(n_events: int, n_particles: int = 16, seed: int = 0):
    """Jet constituents for the 5 classes of `JET_CLASSES`, as an unordered particle set.

    Returns (x, label): x of shape (n_events, n_particles, 3) float32 with per particle
    (pT fraction, delta-eta, delta-phi) relative to the jet axis (angles in units of 0.1 rad), particles
    in random order; label (n_events,) int32. Particles cluster around 1 (g, q), 2 (W, Z) or 3 (t)
    prongs whose separation grows with the resonance mass; gluon jets spread widest.
    """
    if n_events <= 0 or n_particles <= 0:
        raise ValueError("n_events and n_particles must be positive")
    rng = np.random.default_rng(seed)
    label = rng.permutation(np.arange(n_events) % len(JET_CLASSES)).astype(np.int32)
    x = np.zeros((n_events, n_particles, 3), np.float32)
    for k in range(len(JET_CLASSES)):
        idx = np.flatnonzero(label == k)
        m = len(idx)
        prongs, sep = _PRONGS[k]
        angle = rng.uniform(0, 2 * np.pi, m)
        centres = np.zeros((m, prongs, 2))
        for p in range(1, prongs):
            d = sep * rng.normal(1.0, 0.15, m)
            a = angle + 2 * np.pi * p / prongs
            centres[:, p] = np.stack([d * np.cos(a), d * np.sin(a)], 1)
        centres -= centres.mean(1, keepdims=True)
        which = rng.integers(0, prongs, (m, n_particles))
        pos = centres[np.arange(m)[:, None], which] + rng.normal(0, _SPREAD[k], (m, n_particles, 2))
        pt = rng.exponential(1.0, (m, n_particles)) * (1 + 2 * (which == 0))
        x[idx, :, 0] = pt / pt.sum(1, keepdims=True)
        x[idx, :, 1:] = pos
    order = rng.permuted(np.tile(np.arange(n_particles), (n_events, 1)), axis=1)
    return np.take_along_axis(x, order[:, :, None], axis=1), label


def make_jet_images(n_events: int, size: int = 16, seed: int = 0):
    """Jet images: the constituents of `make_constituents` as pT-weighted (size x size) pixel grids.

    Returns (images of shape (n_events, size, size, 1) float32, label (n_events,) int32); the image spans
    +-0.8 rad around the jet axis and each image sums to its in-window pT fraction (<= 1).
    """
    parts, label = make_constituents(n_events, 32, seed)
    edges = np.linspace(-8, 8, size + 1)
    ix = np.clip(np.digitize(parts[:, :, 1], edges) - 1, 0, size - 1)
    iy = np.clip(np.digitize(parts[:, :, 2], edges) - 1, 0, size - 1)
    images = np.zeros((n_events, size, size), np.float32)
    np.add.at(images, (np.arange(n_events)[:, None], ix, iy), parts[:, :, 0])
    return images[..., None], label
