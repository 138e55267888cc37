"""`hepfpga compress` on models and data hepfpga never made, timed: a ~10k-parameter functional CNN (a residual
block with a skip connection, batch normalisation) on 1,500 images, and a regression MLP, at 50 % magnitude
pruning and 6-bit QKeras (the defaults), each step's metric printed; with --hgq also HGQ.

Usage: python benchmarks/compress_any.py [--hgq]
"""

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import tensorflow as tf  # noqa: E402
from test_compress_any import pair_masses, shapes  # noqa: E402  (the tests' data sets: hepfpga never saw them)


def cnn(x, y):
    """A functional CNN with a residual block (skip connection) and batch normalisation, trained."""
    tf.keras.utils.set_random_seed(1)
    inp = tf.keras.Input((16, 16, 1), name="image")
    h = tf.keras.layers.Conv2D(16, 3, padding="same", name="c1")(inp)
    h = tf.keras.layers.BatchNormalization(name="bn1")(h)
    h = tf.keras.layers.MaxPooling2D(2, name="p1")(tf.keras.layers.Activation("relu", name="r1")(h))
    g = tf.keras.layers.Conv2D(16, 3, padding="same", name="c2")(h)
    g = tf.keras.layers.Activation("relu", name="r2")(tf.keras.layers.BatchNormalization(name="bn2")(g))
    h = tf.keras.layers.MaxPooling2D(2, name="p2")(tf.keras.layers.Add(name="skip")([h, g]))
    h = tf.keras.layers.Dense(24, activation="relu", name="d1")(tf.keras.layers.Flatten(name="flat")(h))
    model = tf.keras.Model(inp, tf.keras.layers.Dense(4, activation="softmax", name="out")(h), name="shapes_cnn")
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=30, batch_size=64, verbose=0)
    return model


def mlp(x, y):
    tf.keras.utils.set_random_seed(2)
    model = tf.keras.Sequential([tf.keras.Input((8,)), tf.keras.layers.Dense(32, activation="relu", name="h1"),
                                 tf.keras.layers.Dense(32, activation="relu", name="h2"),
                                 tf.keras.layers.Dense(1, name="mass")], name="mass_mlp")
    model.compile("adam", "mse")
    model.fit(x, y, epochs=40, batch_size=128, verbose=0)
    return model


def main():
    from hepfpga import CompressOptions, compress_model

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hgq", action="store_true", help="also compress with HGQ (beta 1e-6)")
    args = parser.parse_args()
    tf.config.experimental.enable_op_determinism()
    cases = [("CNN (skip, batch norm)", cnn, shapes(1500, 1)), ("regression MLP", mlp, pair_masses(6000, 1))]
    methods = [CompressOptions()] + ([CompressOptions(method="hgq", beta=1e-6, pruning="none")] if args.hgq else [])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, make, (x, y) in cases:
            model = make(x, y)
            for k, options in enumerate(methods):
                t0 = time.perf_counter()
                report = compress_model(model, x, y, Path(tmp) / f"{model.name}-{k}", options, log=lambda *a: None)
                seconds = time.perf_counter() - t0
                rows.append((name, model.count_params(), options.method, report, seconds))
    for name, params, method, report, seconds in rows:
        m = report["metrics"]
        print(f"{name} ({params} parameters, {report['data']['train']} training events), {method}: "
              + ", ".join(f"{k} {v:.4g}" for k, v in m.items())
              + f" ({report['metric']}); loss {report['loss']:+.3g}, {'passed' if report['passed'] else 'MISSED'}; "
              f"{seconds:.0f} s; estimate: {report['estimate']['verdict']}")
    print(json.dumps([{"case": n, "method": me, "seconds": round(s, 1), "metrics": r["metrics"]}
                      for n, _, me, r, s in rows], indent=1))


if __name__ == "__main__":
    main()
