"""The verification step every conversion shares: run all events through the integer emulator and trace
some layer by layer, check it bit for bit against hls4ml's compiled C++ on the first of them, compare with
Keras."""

from __future__ import annotations

import numpy as np

from hepfpga.csim import compare, emulate
from hepfpga.csim.fast import predict_compiled
from hepfpga.data import head, n_events, per_input
from hepfpga.report import metrics

#: g++ optimisation of the C++ build that checks the emulator. It runs few events, so its compile time
#: dominates: on hls4ml's three-layer Conv1D example (100 steps, 32 filters of width 40) g++ took 611 s at
#: hls4ml's -O3 and 38 s at -O0 (benchmarks/convert_time.py). ap_fixed arithmetic is integer arithmetic: the
#: outputs are the same at every level, and they are compared with the emulator's bit for bit.
CHECK_OPTIMISATION = "-O0"
#: Products (multiplications) the -O0 check build may compute, over all its events (~0.4 us each measured):
#: a heavy model is checked on fewer events (at least `MIN_CHECKED`), its layers traced by the emulator.
CHECK_PRODUCTS = 25_000_000
MIN_CHECKED = 5


def products_per_event(firmware) -> int:
    """Multiplications per event of a firmware (`hepfpga.firmware.Firmware`): each layer's weights times its
    output positions (1 for dense layers, the output pixels for convolutions)."""
    total = 0
    for layer in firmware.layers:
        size = sum(int(np.size(w)) for w in layer.weights.values())
        positions = 1
        for key in ("out_width", "out_height"):
            try:
                positions *= max(1, int(layer.get(key, 1)))
            except (TypeError, ValueError):
                pass
        total += size * positions
    return total


def trace_and_run(hls_model, x, trace_events: int, engine: str = "emulate", log=print):
    """Run every event of `x` (N, *input_shape) or [x1, x2, ...] through the firmware and trace its first
    `trace_events` events layer by layer (for the layers configured with `Trace: True`).

    engine "emulate": the compile-free integer emulator runs and traces, trusted only if its outputs and
    layer values equal the compiled C++ firmware's bit for bit on the first events (hls4ml's trace build,
    compiled at `CHECK_OPTIMISATION`, on as many of the traced events as `CHECK_PRODUCTS` allows); else, and
    for projects it does not cover, the compiled engine with a one-line notice. engine "cxx": the batched
    engine on the compiled library.

    Returns (outputs as hls4ml's `predict` returns them (float64), {layer: traced outputs (n_traced, ...)},
    {"engine": the engine that ran, "traced_events", "checked_events" (of those, run through the C++ too),
    "values_differing" (emulator vs C++ on them, outputs and layer values), "notice" (why the compiled
    engine ran instead, if it did)}).
    """
    from hepfpga.csim.bitexact import Emulator, NotCovered

    n = n_events(head(x, trace_events))
    info = {"engine": "cxx", "traced_events": n}
    if engine == "emulate":
        try:
            project = hls_model.config.get_output_dir()
            tracer = Emulator(project, fuse=False)
            checked = max(1, min(n, max(MIN_CHECKED, CHECK_PRODUCTS // max(1, products_per_event(tracer.firmware)))))
            cxx_out, cxx_traces = emulate.run(hls_model, head(x, checked), trace=True, log=log,
                                              level=CHECK_OPTIMISATION)
            traces = tracer.trace(head(x, n))
            out = Emulator(project).predict(x)
            differing = sum(int(np.count_nonzero(a.reshape(b.shape) != b)) for a, b in
                            zip(per_input(head(out, checked)), per_input(cxx_out)))
            differing += sum(int(np.count_nonzero(traces[name][:checked].reshape(np.shape(values)) != values))
                             for name, values in cxx_traces.items() if name in traces)
            info.update(checked_events=checked, values_differing=differing)
            if differing == 0:
                return out, {name: traces[name] for name in cxx_traces if name in traces}, {**info, "engine": "emulate"}
            info["notice"] = (f"the emulator differs from the compiled firmware in {differing} values of the "
                              f"{checked} events checked (please report it); using the compiled firmware")
        except NotCovered as err:
            info["notice"] = f"{err}; using the compiled firmware"
        log(f"  note: {info['notice']}")
    _, traces = emulate.run(hls_model, head(x, trace_events), trace=True, log=log)
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
