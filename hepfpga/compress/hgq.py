"""HGQ (high-granularity quantization, the Keras-2 `HGQ` 0.2.x) models: the form hls4ml converts.

An HGQ model learns a bit width per weight and activation. hls4ml does not convert its training layers
(HQuantize, HDense, ...) but the "proxy" HGQ derives from them: plain Keras layers with FixedPointQuantizer
layers that carry every type, from which hls4ml's bit-exact pass builds firmware that computes what the
proxy computes. HGQ is an optional dependency (`pip install hepfpga[hgq]`).
"""

from __future__ import annotations


def is_hgq(model) -> bool:
    """True if `model` has HGQ training layers (HQuantize, HDense, HConv2D, ...)."""
    return any(type(layer).__module__.startswith("HGQ.layers") for layer in model.layers)


def is_proxy(model) -> bool:
    """True if `model` is an HGQ proxy (FixedPointQuantizer / UnaryLUT layers fix its types)."""
    return any(type(layer).__module__.startswith("HGQ.proxy") for layer in model.layers)


def proxy_model(model, calibration):
    """The proxy of HGQ model `model`: its activation ranges traced on `calibration` (HGQ's `trace_minmax`,
    the step HGQ requires before conversion; it updates `model`'s recorded ranges), then `to_proxy_model`."""
    from HGQ import to_proxy_model, trace_minmax

    trace_minmax(model, calibration, verbose=False)
    return to_proxy_model(model)
