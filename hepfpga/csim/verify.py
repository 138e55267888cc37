"""The verification step every conversion shares: trace some events layer by layer through the compiled
firmware, run all events through the emulator (checked against the traced ones), compare with Keras."""

from __future__ import annotations

import numpy as np

from hepfpga.csim import compare, emulate
from hepfpga.csim.fast import predict_compiled
from hepfpga.data import head, n_events, per_input
from hepfpga.report import metrics


def trace_and_run(hls_model, x, trace_events: int, engine: str = "emulate", log=print):
    """Compile `hls_model`'s C++ emulation with g++, trace its first `trace_events` events layer by layer
    (hls4ml's one-event loop, for the layers configured with `Trace: True`) and run every event of `x`
    (N, *input_shape) or [x1, x2, ...] through `engine`: "emulate" (the compile-free integer emulator,
    trusted only if its outputs on the traced events equal the compiled firmware's bit for bit; else, and
    for projects it does not cover, the compiled engine with a one-line notice) or "cxx" (the batched engine
    on the compiled library).

    Returns (outputs as hls4ml's `predict` returns them (float64), {layer: traced outputs (n_traced, ...)},
    {"engine": the engine that ran, "traced_events", "values_differing" (emulator vs C++ on the traced
    events), "notice" (why the compiled engine ran instead, if it did)}).
    """
    from hepfpga.csim.bitexact import Emulator, NotCovered

    traced_out, traces = emulate.run(hls_model, head(x, trace_events), trace=True, log=log)
    n = n_events(head(x, trace_events))
    info = {"engine": "cxx", "traced_events": n}
    if engine == "emulate":
        try:
            emulator = Emulator(hls_model.config.get_output_dir())
            out = emulator.predict(x)
            differing = sum(int(np.count_nonzero(a.reshape(b.shape) != b)) for a, b in
                            zip(per_input(head(out, n)), per_input(traced_out)))
            info["values_differing"] = differing
            if differing == 0:
                return out, traces, {**info, "engine": "emulate"}
            info["notice"] = (f"the emulator differs from the compiled firmware in {differing} values of the "
                              f"{n} traced events (please report it); using the compiled firmware")
        except NotCovered as err:
            info["notice"] = f"{err}; using the compiled firmware"
        log(f"  note: {info['notice']}")
    return predict_compiled(hls_model, x, log=log), traces, info


def verify(model, hls_model, x, keras_out: np.ndarray, trace_events: int, min_agreement: float,
           max_relative_error: float, engine: str = "emulate", log=print) -> tuple[dict, np.ndarray, dict]:
    """Run `x` through the firmware (`trace_and_run`) and compare it with Keras outputs `keras_out`.

    Passing: for a softmax classifier, argmax agreement >= `min_agreement`; otherwise max |firmware - Keras|
    <= `max_relative_error` x the Keras output range. Returns (results: agreement, per_output, pre_softmax,
    layers, first_divergence, traced_events, passed; the firmware outputs shaped like `keras_out`; the
    Keras layer outputs of the traced events under hls4ml's names).
    """
    fw_out, traces, engine = trace_and_run(hls_model, x, trace_events, engine, log=log)
    fw_out = fw_out.reshape(keras_out.shape)
    keras_layers = compare.keras_layer_outputs(model, head(x, trace_events))
    rows = compare.layer_by_layer(keras_layers, traces, hls_model)
    agreement = metrics.agreement(keras_out, fw_out, compare.softmax_table_step(hls_model))
    span = float(keras_out.max() - keras_out.min())
    agreement["relative_max_abs_diff"] = agreement["max_abs_diff"] / span if span > 0 else agreement["max_abs_diff"]
    logits = compare.pre_softmax(hls_model, keras_layers, traces)
    passed = agreement["argmax_agreement"] >= min_agreement if logits is not None \
        else agreement["relative_max_abs_diff"] <= max_relative_error
    per_output = np.abs(keras_out.reshape(len(keras_out), -1) - fw_out.reshape(len(fw_out), -1))
    results = {
        "traced_events": min(len(keras_out), trace_events),
        "engine": engine,
        "agreement": agreement,
        "per_output": {"max_abs_diff": per_output.max(0).tolist(), "mean_abs_diff": per_output.mean(0).tolist()},
        "pre_softmax": logits,
        "layers": rows,
        "first_divergence": compare.first_divergence(rows),
        "passed": bool(passed),
    }
    return results, fw_out, keras_layers
