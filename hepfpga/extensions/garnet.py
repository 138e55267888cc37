"""hls4ml's GarNet layer with a configurable distance type.

hls4ml 1.3.0's GarNet config template (backends/vivado/passes/garnet_templates.py) writes the type of
the aggregator distances as `ap_fixed<12, 4, AP_TRN, AP_SAT>` whatever the configuration says, and looks
the edge weight exp(-d^2) up in a table of 2^12 entries indexed by those 12 bits: 8 fractional bits of the
distance, the largest error left in a converted GarNet once its other internal types are widened
(`hepfpga.convert.rules.garnet_types`). The template below is hls4ml's, with the distance type taken from
the layer's `Precision: {distance: fixed<W,I>}` when the configuration sets one (the table then has 2^W
entries). hls4ml has no option for it, so the registered template object is replaced.
"""

from __future__ import annotations

import re

DEFAULT_WIDTH = 12  # hls4ml's


def _configured(node):
    """(width, integer bits) of the configured distance type, or None (hls4ml's default)."""
    precision, type_name = node.model.config.get_precision(node, var="distance")
    if type_name.endswith("default_t"):
        return None
    return precision.width, precision.integer


def _with_distance(text: str, node) -> str:
    configured = _configured(node)
    if configured is None:
        return text
    width, integer = configured
    text = re.sub(r"distance_width = \d+;", f"distance_width = {width};", text)
    return re.sub(r"typedef ap_fixed<\d+, *\d+, AP_TRN, AP_SAT> distance_t;",
                  f"typedef ap_fixed<{width}, {integer}, AP_TRN, AP_SAT> distance_t;", text)


def register_templates() -> None:
    """Replace hls4ml's GarNet and GarNetStack config templates (every backend that registered them) by ones
    that honour the configured distance type."""
    from hls4ml.backends.vivado.passes import garnet_templates as hls
    from hls4ml.model.optimizer.optimizer import optimizer_map

    class GarNetConfig(hls.GarNetConfigTemplate):
        def format(self, node):
            return _with_distance(super().format(node), node)

    class GarNetStackConfig(hls.GarNetStackConfigTemplate):
        def format(self, node):
            return _with_distance(super().format(node), node)

    for name, opt in list(optimizer_map.items()):
        if type(opt) is hls.GarNetConfigTemplate:
            optimizer_map[name] = GarNetConfig()
        elif type(opt) is hls.GarNetStackConfigTemplate:
            optimizer_map[name] = GarNetStackConfig()
