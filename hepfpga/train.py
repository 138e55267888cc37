"""Training with Keras callbacks: one function every stage (float, pruning, QAT) calls."""

from __future__ import annotations

import numpy as np


def fit(model, x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray,
        epochs: int = 30, batch_size: int = 1024, learning_rate: float = 1e-3, callbacks=(),
        early_stopping: bool = True, verbose: int = 2, seed: int = 0):
    """Compile `model` (Adam, categorical cross-entropy, accuracy) and fit it; returns the Keras History.

    Labels are integer class indices, shape (N,). With `early_stopping`, training stops when the
    validation loss has not improved for 5 epochs and the best weights are restored (do not combine
    with pruning, whose schedule must run to its end). `verbose=2` prints one line per epoch.
    """
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)
    n_classes = model.output_shape[-1]
    y_train = tf.keras.utils.to_categorical(y_train, n_classes)
    y_val = tf.keras.utils.to_categorical(y_val, n_classes)
    model.compile(optimizer=tf.keras.optimizers.Adam(learning_rate), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    cbs = list(callbacks)
    if early_stopping:
        cbs.append(tf.keras.callbacks.EarlyStopping(monitor="val_loss", patience=5, restore_best_weights=True))
    cbs.append(tf.keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=3, min_lr=1e-5))
    return model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=epochs, batch_size=batch_size,
                     callbacks=cbs, verbose=verbose)


def fit_autoencoder(model, x_train: np.ndarray, x_val: np.ndarray, epochs: int = 20, batch_size: int = 256,
                    learning_rate: float = 1e-3, noise: float = 0.0, callbacks=(), verbose: int = 2, seed: int = 0):
    """Train `model` to reproduce its inputs (mean squared error); returns the Keras History.

    `noise` > 0 trains a denoising autoencoder: Gaussian noise of that standard deviation is added to the
    inputs (fixed per event, drawn with `seed`) while the targets stay clean.
    """
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)
    noisy = x_train + noise * np.random.default_rng(seed).standard_normal(x_train.shape).astype(x_train.dtype) \
        if noise > 0 else x_train
    model.compile(optimizer=tf.keras.optimizers.Adam(learning_rate), loss="mse")
    return model.fit(noisy, x_train, validation_data=(x_val, x_val), epochs=epochs, batch_size=batch_size,
                     callbacks=list(callbacks), verbose=verbose)
