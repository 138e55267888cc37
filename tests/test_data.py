"""Synthetic generator, uproot reader, split and scaler."""

import numpy as np
import pytest
import uproot

from hepfpga.data import JET_CLASSES, JET_FEATURES, Scaler, make_jets, read_root, split, write_jets_root
from hepfpga.errors import DataError


def test_generator_shapes_balance_and_seed():
    a, b, c = make_jets(5000, seed=1), make_jets(5000, seed=1), make_jets(5000, seed=2)
    assert set(a) == {*JET_FEATURES, "label"}
    assert all(a[f].shape == (5000,) and a[f].dtype == np.float32 for f in JET_FEATURES)
    assert np.bincount(a["label"]).tolist() == [1000] * 5
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["j_mass_mmdt"], c["j_mass_mmdt"])
    assert all(np.isfinite(a[f]).all() for f in JET_FEATURES)


def test_generator_physics():
    """Mass peaks, prong structure and multiplicity ordering follow the physics the docstring names."""
    d = make_jets(50_000, seed=3)
    by = {name: d["label"] == k for k, name in enumerate(JET_CLASSES)}
    median = lambda f, c: float(np.median(d[f][by[c]]))  # noqa: E731
    assert 75 < median("j_mass_mmdt", "W") < 86
    assert 85 < median("j_mass_mmdt", "Z") < 97
    assert 155 < median("j_mass_mmdt", "t") < 180
    assert median("j_mass_mmdt", "q") < median("j_mass_mmdt", "g") < median("j_mass_mmdt", "W")
    assert median("j_tau21_b1", "W") < median("j_tau21_b1", "q") - 0.1  # 2-prong vs 1-prong
    assert median("j_tau32_b1", "t") < median("j_tau32_b1", "W") - 0.1  # 3-prong vs 2-prong
    assert median("j_multiplicity", "q") < median("j_multiplicity", "g")
    # W and Z overlap: a mass window around mW keeps a large share of Z jets.
    window = lambda c: np.mean((d["j_mass_mmdt"][by[c]] > 70) & (d["j_mass_mmdt"][by[c]] < 90))  # noqa: E731
    assert window("Z") > 0.3 and window("W") > 0.6


def test_root_round_trip(jets_root):
    x, y = read_root(jets_root, "jets", JET_FEATURES)
    ref = make_jets(3000, seed=7)
    assert x.shape == (3000, 16) and x.dtype == np.float32 and y.dtype == np.int32
    np.testing.assert_array_equal(x[:, 0], ref["j_mass_mmdt"])
    np.testing.assert_array_equal(y, ref["label"])
    assert uproot.open(jets_root).classnames()["jets;1"] == "TTree"


def test_one_hot_labels_and_feature_order(jets_root):
    x, y = read_root(jets_root, "jets", ["j_tau21_b1", "j_mass_mmdt"], label_branch=[f"j_{c}" for c in JET_CLASSES])
    ref = make_jets(3000, seed=7)
    np.testing.assert_array_equal(x[:, 1], ref["j_mass_mmdt"])
    np.testing.assert_array_equal(y, ref["label"])


def test_one_file_per_class(tmp_path):
    files = {}
    for k, cls in enumerate(["sig", "bkg"]):
        files[cls] = tmp_path / f"{cls}.root"
        with uproot.recreate(files[cls]) as f:
            f.mktree("t", {"a": np.float32, "b": np.float32}).extend(
                {"a": np.full(10 + k, k, np.float32), "b": np.arange(10 + k, dtype=np.float32)})
    x, y = read_root(files, "t", ["a", "b"])
    assert x.shape == (21, 2)
    assert y.tolist() == [0] * 10 + [1] * 11
    np.testing.assert_array_equal(x[:, 0], y)


def test_missing_file_tree_branch(jets_root, tmp_path):
    with pytest.raises(DataError, match="ROOT file not found"):
        read_root(tmp_path / "nope.root", "jets", JET_FEATURES)
    with pytest.raises(DataError, match=r"no tree 'events'.*trees in the file: jets"):
        read_root(jets_root, "events", JET_FEATURES)
    with pytest.raises(DataError, match=r"no branch 'j_pt'.*branches in the tree: j_mass_mmdt"):
        read_root(jets_root, "jets", ["j_pt", *JET_FEATURES])
    with pytest.raises(DataError, match="no branch 'truth'"):
        read_root(jets_root, "jets", JET_FEATURES, label_branch="truth")


def test_corrupt_and_truncated_files(jets_root, tmp_path):
    junk = tmp_path / "junk.root"
    junk.write_bytes(b"this is not a ROOT file" * 100)
    with pytest.raises(DataError, match="cannot read .*junk.root"):
        read_root(junk, "jets", JET_FEATURES)
    cut = tmp_path / "cut.root"
    cut.write_bytes(jets_root.read_bytes()[: jets_root.stat().st_size // 2])
    with pytest.raises(DataError):
        read_root(cut, "jets", JET_FEATURES)


def test_split_reproducible_and_disjoint():
    x = np.arange(1000, dtype=np.float32)[:, None]
    y = np.zeros(1000, np.int32)
    a, b = split(x, y, seed=5), split(x, y, seed=5)
    assert [len(p[0]) for p in a] == [600, 150, 250]
    for (xa, _), (xb, _) in zip(a, b):
        np.testing.assert_array_equal(xa, xb)
    seen = np.concatenate([p[0][:, 0] for p in a])
    assert sorted(seen.tolist()) == list(range(1000))
    with pytest.raises(DataError, match="sum to 1"):
        split(x, y, (0.5, 0.2, 0.2))


def test_scaler_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(5.0, 3.0, size=(2000, 3)).astype(np.float32)
    x[:, 2] = 1.0  # a constant feature must not divide by zero
    s = Scaler.fit(x, ["a", "b", "c"])
    z = s.transform(x)
    np.testing.assert_allclose(z[:, :2].mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(z[:, :2].std(0), 1, atol=1e-4)
    assert np.all(z[:, 2] == 0)
    loaded = Scaler.load(s.save(tmp_path / "scaler.json"))
    np.testing.assert_array_equal(loaded.transform(x), z)
    assert loaded.features == ["a", "b", "c"]
    with pytest.raises(DataError, match="expects 3 features"):
        loaded.transform(x[:, :2])


def test_nan_rejected():
    x = np.ones((10, 2), np.float32)
    x[3, 1] = np.nan
    with pytest.raises(DataError, match=r"1 NaN/inf values \(first at index \[3, 1\]\)"):
        Scaler.fit(x, ["a", "b"])


def test_write_is_atomic(tmp_path):
    out = write_jets_root(tmp_path / "sub" / "j.root", 10)
    assert out.is_file() and not list(out.parent.glob("*.part"))


def test_particle_and_image_datasets_round_trip_through_root(tmp_path):
    """Fixed-size array branches (per-particle values, image pixels) come back as (N, *S, F)."""
    from hepfpga.data import (
        IMAGE_BRANCH,
        PARTICLE_BRANCHES,
        make_constituents,
        make_jet_images,
        write_constituents_root,
        write_jet_images_root,
    )

    x, y = read_root(write_constituents_root(tmp_path / "p.root", 200, 8, seed=4), "particles", PARTICLE_BRANCHES)
    x0, y0 = make_constituents(200, 8, seed=4)
    assert x.shape == (200, 8, 3) and np.array_equal(x, x0) and np.array_equal(y, y0)
    images, yi = read_root(write_jet_images_root(tmp_path / "i.root", 50, 12, seed=4), "images", [IMAGE_BRANCH])
    images0, yi0 = make_jet_images(50, 12, seed=4)
    assert images.shape == (50, 12, 12, 1) and np.array_equal(images, images0) and np.array_equal(yi, yi0)


def test_jagged_and_mismatched_branches_rejected(tmp_path):
    import awkward as ak

    path = tmp_path / "jagged.root"
    with uproot.recreate(path) as f:
        f.mktree("t", {"pt": "var * float32", "eta": ("f4", (3,)), "mass": "f4", "label": "i4"})
        f["t"].extend({"pt": ak.Array([[1.0, 2.0], [3.0]]), "eta": np.zeros((2, 3), np.float32),
                       "mass": np.ones(2, np.float32), "label": np.zeros(2, np.int32)})
    with pytest.raises(DataError, match="branch 'pt' .* is jagged .* give --pad N to pad with zeros or truncate"):
        read_root(path, "t", ["pt"])
    with pytest.raises(DataError, match=r"different shapes per entry: eta \(3,\), mass \(scalar\)"):
        read_root(path, "t", ["eta", "mass"])


def test_several_inputs_from_npz_root_and_testbench(tmp_path):
    """A two-input model's data (GarNet-like: hits (8, 3) and a count (1,)) from each format gives the same
    arrays; each kind of mismatch names what is wrong."""
    from hepfpga.data import load_model_inputs

    shapes = {"hits": (8, 3), "n_hits": (1,)}
    rng = np.random.default_rng(0)
    hits = rng.standard_normal((50, 8, 3)).astype(np.float32)
    count = rng.integers(1, 9, (50, 1)).astype(np.float32)
    np.savez(tmp_path / "in.npz", n_hits=count, hits=hits)  # order in the file does not matter
    with uproot.recreate(tmp_path / "in.root") as f:
        f["t"] = {"pt": hits[..., 0], "eta": hits[..., 1], "phi": hits[..., 2], "n": count[:, 0]}
    np.savetxt(tmp_path / "tb_input_features.dat", np.concatenate([hits.reshape(50, -1), count], 1), fmt="%.7g")
    groups = dict(tree="t", branches="hits=pt,eta,phi;n_hits=n")
    for path, kw in ((tmp_path / "in.npz", {}), (tmp_path / "in.root", groups),
                     (tmp_path / "tb_input_features.dat", {})):
        got = load_model_inputs(path, shapes, **kw)
        np.testing.assert_allclose(got[0], hits, rtol=1e-6, err_msg=str(path))
        np.testing.assert_array_equal(got[1], count)
    with pytest.raises(DataError, match=r"line 1 has 24 values; the model's inputs need 25 per event \(hits \(8, 3\) "
                                        r"= 24 \+ n_hits \(1,\) = 1"):
        np.savetxt(tmp_path / "short.dat", hits.reshape(50, -1))
        load_model_inputs(tmp_path / "short.dat", shapes)
    np.savez(tmp_path / "one.npz", hits=hits)
    with pytest.raises(DataError, match=r"holds arrays \['hits'\]; the model's inputs are \['hits', 'n_hits'\]"):
        load_model_inputs(tmp_path / "one.npz", shapes)
    np.savez(tmp_path / "uneven.npz", hits=hits, n_hits=count[:40])
    with pytest.raises(DataError, match="different numbers of events: hits: 50, n_hits: 40"):
        load_model_inputs(tmp_path / "uneven.npz", shapes)
    with pytest.raises(DataError, match=r"branch groups for \['hits'\], the model's inputs are \['hits', 'n_hits'\]"):
        load_model_inputs(tmp_path / "in.root", shapes, tree="t", branches="hits=pt,eta,phi")
    with pytest.raises(DataError, match="has no '='"):
        load_model_inputs(tmp_path / "in.root", shapes, tree="t", branches="pt,eta,phi")
    np.save(tmp_path / "hits.npy", hits)
    with pytest.raises(DataError, match=r"the model has 2 inputs \(hits, n_hits\): give an .npz"):
        load_model_inputs(tmp_path / "hits.npy", shapes)
