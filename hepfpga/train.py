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


def fit_gan(generator, discriminator, x_real: np.ndarray, epochs: int = 10, batch_size: int = 256,
            learning_rate: float = 2e-4, seed: int = 0, log=print):
    """Adversarial training: the discriminator learns real `x_real` (N, n_outputs) from generated samples,
    the generator learns to fool it (non-saturating loss, Adam). Returns per-epoch (d_loss, g_loss)."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)
    latent = generator.input_shape[-1]
    bce = tf.keras.losses.BinaryCrossentropy()
    g_opt, d_opt = tf.keras.optimizers.Adam(learning_rate, 0.5), tf.keras.optimizers.Adam(learning_rate, 0.5)

    @tf.function
    def step(real):
        z = tf.random.normal((tf.shape(real)[0], latent), seed=seed)
        with tf.GradientTape() as gt, tf.GradientTape() as dt:
            fake = generator(z, training=True)
            p_real, p_fake = discriminator(real, training=True), discriminator(fake, training=True)
            d_loss = bce(tf.ones_like(p_real), p_real) + bce(tf.zeros_like(p_fake), p_fake)
            g_loss = bce(tf.ones_like(p_fake), p_fake)
        d_opt.apply_gradients(zip(dt.gradient(d_loss, discriminator.trainable_variables),
                                  discriminator.trainable_variables))
        g_opt.apply_gradients(zip(gt.gradient(g_loss, generator.trainable_variables), generator.trainable_variables))
        return d_loss, g_loss

    data = tf.data.Dataset.from_tensor_slices(x_real.astype(np.float32)).shuffle(len(x_real), seed=seed)
    history = []
    for epoch in range(epochs):
        losses = [step(batch) for batch in data.batch(batch_size)]
        d, g = (float(np.mean([float(loss[k]) for loss in losses])) for k in (0, 1))
        history.append((d, g))
        log(f"epoch {epoch + 1}/{epochs} - discriminator loss {d:.3f} - generator loss {g:.3f}")
    return history
