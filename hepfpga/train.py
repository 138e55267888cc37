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
    model.compile(optimizer=tf.keras.optimizers.Adam(learning_rate), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    return _fit_classifier(model, model.output_shape[-1], x_train, y_train, x_val, y_val, epochs, batch_size,
                           callbacks, early_stopping, verbose)


def _fit_classifier(trainable, n_classes: int, x_train, y_train, x_val, y_val, epochs, batch_size, callbacks,
                    early_stopping: bool, verbose: int):
    """`trainable.fit` on one-hot labels with the shared callbacks (early stopping when asked, learning rate
    halved on a plateau): the common end of `fit` and `fit_distilled`."""
    import tensorflow as tf

    y_train = tf.keras.utils.to_categorical(y_train, n_classes)
    y_val = tf.keras.utils.to_categorical(y_val, n_classes)
    cbs = list(callbacks)
    if early_stopping:
        cbs.append(tf.keras.callbacks.EarlyStopping(monitor="val_loss", patience=5, restore_best_weights=True))
    cbs.append(tf.keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=3, min_lr=1e-5))
    return trainable.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=epochs, batch_size=batch_size,
                         callbacks=cbs, verbose=verbose)


def fit_task(model, x_train, y_train, x_val, y_val, task: str, epochs: int = 10, batch_size: int = 256,
             learning_rate: float = 1e-3, callbacks=(), early_stopping: bool = False, from_logits: bool = False,
             verbose: int = 0, seed: int = 0):
    """Compile and fit any model for `task`: "classification" (labels as class indices (N,), categorical
    cross-entropy; one output: binary) or "regression" (targets shaped like the output, mean squared error).
    Inputs may be one array or a list (several inputs). `from_logits`: the model ends without its softmax or
    sigmoid. Returns the Keras History."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)
    n_out = int(np.prod(model.output_shape[1:]))
    if task == "classification":
        if n_out == 1:
            loss = tf.keras.losses.BinaryCrossentropy(from_logits=from_logits)
            y_train, y_val = (np.asarray(y, dtype=np.float32).reshape(-1, 1) for y in (y_train, y_val))
        else:
            loss = tf.keras.losses.CategoricalCrossentropy(from_logits=from_logits)
            y_train, y_val = (tf.keras.utils.to_categorical(y, n_out) for y in (y_train, y_val))
        metrics = ["accuracy"]
    else:
        loss, metrics = "mse", []
    model.compile(optimizer=tf.keras.optimizers.Adam(learning_rate), loss=loss, metrics=metrics)
    cbs = list(callbacks)
    if early_stopping:
        cbs.append(tf.keras.callbacks.EarlyStopping(monitor="val_loss", patience=6, restore_best_weights=True))
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


def _logits_layer(model):
    """The layer named "logits" of `model`, looking through tfmot pruning wrappers."""
    for layer in model.layers:
        if getattr(layer, "layer", layer).name == "logits":
            return layer
    raise ValueError(f"{model.name!r} has no layer named 'logits' (the classifier builders name their last Dense so)")


def fit_distilled(student, teacher, x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray,
                  temperature: float = 4.0, weight: float = 0.1, epochs: int = 30, batch_size: int = 1024,
                  learning_rate: float = 1e-3, callbacks=(), early_stopping: bool = True, verbose: int = 2,
                  seed: int = 0):
    """Knowledge distillation (Hinton et al. 2015): train `student` on
    weight * CE(labels, student) + (1 - weight) * T^2 * KL(softmax(teacher / T) || softmax(student / T)),
    with T = `temperature`, on the logits of both (their layers named "logits"); the teacher is not trained.
    Validation loss: the labels' cross-entropy. Otherwise as `fit`; returns the Keras History."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)
    student_logits = tf.keras.Model(student.inputs, _logits_layer(student).output)
    teacher_logits = tf.keras.Model(teacher.inputs, _logits_layer(teacher).output)
    distiller = _Distiller(student_logits, teacher_logits, float(temperature), float(weight))
    distiller.compile(optimizer=tf.keras.optimizers.Adam(learning_rate))
    return _fit_classifier(distiller, student.output_shape[-1], x_train, y_train, x_val, y_val, epochs, batch_size,
                           callbacks, early_stopping, verbose)


def _distiller_class():
    import tensorflow as tf

    class Distiller(tf.keras.Model):
        """The student's training step with the distillation loss (the Keras guide's pattern)."""

        def __init__(self, student, teacher, temperature: float, weight: float):
            super().__init__()
            self.student, self.teacher = student, teacher
            self.temperature, self.weight = temperature, weight
            self.loss_tracker = tf.keras.metrics.Mean(name="loss")
            self.accuracy = tf.keras.metrics.CategoricalAccuracy(name="accuracy")

        @property
        def metrics(self):
            return [self.loss_tracker, self.accuracy]

        def call(self, x, training=False):
            return self.student(x, training=training)

        def _hard(self, y, logits):
            return tf.reduce_mean(tf.keras.losses.categorical_crossentropy(y, logits, from_logits=True))

        def train_step(self, data):
            x, y = data
            t = self.temperature
            soft_targets = tf.nn.softmax(self.teacher(x, training=False) / t)
            with tf.GradientTape() as tape:
                logits = self.student(x, training=True)
                soft = tf.reduce_mean(tf.keras.losses.kl_divergence(soft_targets, tf.nn.softmax(logits / t)))
                loss = self.weight * self._hard(y, logits) + (1.0 - self.weight) * t * t * soft
                loss += tf.add_n(self.student.losses) if self.student.losses else 0.0
            variables = self.student.trainable_variables
            self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
            self.loss_tracker.update_state(loss)
            self.accuracy.update_state(y, logits)
            return {m.name: m.result() for m in self.metrics}

        def test_step(self, data):
            x, y = data
            logits = self.student(x, training=False)
            self.loss_tracker.update_state(self._hard(y, logits))
            self.accuracy.update_state(y, logits)
            return {m.name: m.result() for m in self.metrics}

    return Distiller


def _Distiller(*args):  # noqa: N802 (a class made on first use: TensorFlow is imported lazily)
    return _distiller_class()(*args)


def fit_diffusion(model, x_train: np.ndarray, schedule, time_features: int = 8, x_val: np.ndarray | None = None,
                  epochs: int = 30, batch_size: int = 256, learning_rate: float = 1e-3, verbose: int = 2,
                  seed: int = 0, target: str = "v"):
    """Train a diffusion denoiser (`hepfpga.models.diffusion`): each epoch draws a step t ~ U{1..T} and noise
    eps ~ N(0, 1) for every sample and fits denoiser_inputs(x_t, t) -> `target` with the mean squared error:
    "v" = sqrt(abar_t) eps - sqrt(1 - abar_t) x0 (Salimans & Ho 2022; sample with the same target) or the
    noise "eps" (Ho et al. 2020). `x_val` gets one fixed draw. Returns the per-epoch losses
    {"loss": [...], "val_loss": [...]}."""
    import tensorflow as tf

    from hepfpga.models.diffusion import check_target, denoiser_inputs, training_target

    check_target(target)
    tf.keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)

    def draw(x):
        t = rng.integers(1, schedule.steps + 1, len(x))
        eps = rng.standard_normal(x.shape).astype(np.float32)
        abar = schedule.alpha_bar()[t].reshape(-1, *([1] * (x.ndim - 1)))
        inputs = denoiser_inputs(schedule.noisy(x, t, eps), t, schedule.steps, time_features)
        return inputs, training_target(x, eps, abar, target).astype(np.float32)

    model.compile(optimizer=tf.keras.optimizers.Adam(learning_rate), loss="mse")
    validation = draw(x_val) if x_val is not None else None
    history: dict[str, list[float]] = {"loss": [], "val_loss": []}
    for epoch in range(epochs):
        inputs, targets = draw(x_train)
        h = model.fit(inputs, targets, batch_size=batch_size, epochs=1, validation_data=validation, verbose=0)
        history["loss"].append(float(h.history["loss"][0]))
        if validation is not None:
            history["val_loss"].append(float(h.history["val_loss"][0]))
        if verbose:
            shown = f" - val_loss {history['val_loss'][-1]:.4f}" if validation is not None else ""
            print(f"epoch {epoch + 1}/{epochs} - loss {history['loss'][-1]:.4f}{shown}")
    return history
