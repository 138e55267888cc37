"""Make a design fit: per-layer reuse factors and strategies chosen with the estimate in the loop.

`fit_design(firmware, budget)` starts from the project as written and, while the estimate exceeds the part's
resources (a share of each, `Budget.max_share`), raises the reuse factor of the layer that holds most of the
resource that binds, to the next reuse factor hls4ml accepts (switching that layer to the Resource strategy,
which shares multipliers *and* adders), as long as the latency and the initiation interval stay within the
budget. Each candidate is estimated in memory (the project's layers with another configuration), so a search
of hundreds of steps takes about a second. `convert --fit` writes and verifies the design found; `estimate
--fit` only reports it. Written here because hls4ml chooses reuse factors only from a target cycle count
(`set_target_reuse_factor`), not from a resource budget.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from hepfpga.estimate.layers import layer_cost
from hepfpga.estimate.model import Cost, NotEstimated, raw_weights
from hepfpga.estimate.project import RESOURCES, combine, figures, project_target, top_overhead
from hepfpga.firmware import Firmware, Layer

#: Layer kinds whose reuse factor and strategy the search may change (hls4ml's dense and convolutions).
PRODUCTS = ("dense", "conv_1d_cl", "conv_2d_cl", "pointwise_conv_1d_cl", "pointwise_conv_2d_cl")
MAX_STEPS = 2000


@dataclass
class Budget:
    """What a design must meet: at most `max_share` of each resource of the part, and optionally a latency
    (ns) and the interval (cycles) at which it must accept new inputs."""

    max_share: float = 0.8
    max_latency_ns: float | None = None
    min_interval: int | None = None


@dataclass
class Design:
    """One design: per product layer its (reuse factor, strategy), and its estimate."""

    settings: dict  # layer name -> (reuse factor, "Latency" | "Resource")
    total: Cost
    percent: dict
    changes: list = field(default_factory=list)
    costs: list = field(default_factory=list)  # per layer of the firmware: its Cost (None: not estimated)

    def fits(self, budget: Budget, clock_ns: float) -> bool:
        return not self.misses(budget, clock_ns)

    def misses(self, budget: Budget, clock_ns: float) -> list[str]:
        """What the design misses, in words (empty when it meets the budget)."""
        out = [f"{r.upper().replace('_18K', '')} {self.percent[r]:.0f} % > {100 * budget.max_share:.0f} %"
               for r in RESOURCES if self.percent[r] is not None and self.percent[r] > 100 * budget.max_share]
        if budget.max_latency_ns is not None and self.total.latency * clock_ns > budget.max_latency_ns:
            out.append(f"latency {self.total.latency * clock_ns:.0f} ns > {budget.max_latency_ns:g} ns")
        if budget.min_interval is not None and self.total.interval > budget.min_interval:
            out.append(f"interval {self.total.interval} > {budget.min_interval} cycles")
        return out


def valid_reuse_factors(n_in: int, n_out: int) -> list[int]:
    """The reuse factors hls4ml accepts for an n_in x n_out product (its FPGABackend._validate_reuse_factor,
    the same three conditions: the multipliers divide into the outputs, a reuse factor above n_in is a multiple
    of it, and it divides n_in * n_out)."""
    total = n_in * n_out
    out = []
    for rf in _divisors(total):
        multiplier_limit = math.ceil(total / min(n_in, rf))
        if (multiplier_limit % n_out == 0 or rf >= n_in) and (rf % n_in == 0 or rf < n_in):
            out.append(rf)
    return out


def _divisors(n: int) -> list[int]:
    small = [d for d in range(1, int(math.isqrt(n)) + 1) if n % d == 0]
    return sorted(set(small + [n // d for d in small]))


def _sizes(layer: Layer) -> tuple[int, int, dict] | None:
    """(n_in, n_out, configuration holding the product's reuse factor) of a product layer."""
    mult = layer.get("mult_config")
    if isinstance(mult, dict):
        return int(mult.get("n_in") or 0), int(mult.get("n_out") or 0), mult
    if layer.get("n_in") and layer.get("n_out"):
        return int(layer.get("n_in")), int(layer.get("n_out")), layer.config
    return None


def configured(layer: Layer, rf: int, strategy: str) -> Layer:
    """`layer` as hls4ml writes it with reuse factor `rf` and `strategy` (its multiplier_limit with it)."""
    n_in, n_out, _ = _sizes(layer)
    if "_zeros" not in layer.__dict__:
        raw = raw_weights(layer, "w", "weight_t")
        layer.__dict__["_zeros"] = int(np.count_nonzero(raw == 0)) if raw is not None else 0
    zeros = layer.__dict__["_zeros"]
    settings = {"reuse_factor": rf, "strategy": strategy.lower(),
                "multiplier_limit": math.ceil(n_in * n_out / rf) - zeros // rf}
    config = dict(layer.config)
    if isinstance(config.get("mult_config"), dict):
        config["mult_config"] = {**config["mult_config"], **settings}
    config.update(settings)
    new = dataclasses.replace(layer, config=config)
    # the weights and their analysis are the same
    new.__dict__.update(_products=layer.__dict__.setdefault("_products", {}),
                        _raw=layer.__dict__.setdefault("_raw", {}), _zeros=zeros)
    return new


def _cost(layer: Layer, target) -> Cost | None:
    try:
        return layer_cost(layer, target)
    except NotEstimated:
        return None


def fit_design(fw: Firmware, budget: Budget | None = None, part: str | None = None, tool: str | None = None,
               log=None) -> dict:
    """The design search on firmware `fw`. Returns {"fits", "misses": [...] (of the best design found),
    "before"/"after": {"total", "percent"}, "changes": [{"layer", "from", "to"}], "settings": {layer: {"ReuseFactor",
    "Strategy"}} (hls4ml LayerName entries), "steps"}."""
    budget = budget or Budget()
    target, device, tool, _, _ = project_target(fw, part, tool)
    if device is None:
        raise NotEstimated(f"part {part or fw.part!r} is not in hepfpga's part table: no resources to fit into")
    available = device.available()

    # hls4ml's PipelineStyle "auto" makes the top function a dataflow region as soon as one layer uses the
    # Resource strategy (its SetPipelineStyle pass): the arrays between layers become FIFOs
    flows = {style: dataclasses.replace(fw, dataflow=style) for style in (False, True)}
    overheads = {style: top_overhead(flows[style], target, tool) for style in (False, True)}

    def design(costs, settings, changes) -> Design:
        style = fw.dataflow or any(strategy == "Resource" for _, strategy in settings.values())
        total = combine([c for c in costs if c is not None], overheads[style], flows[style], target)
        percent = {r: 100.0 * getattr(total, r) / available[r] for r in RESOURCES}
        return Design(dict(settings), total, percent, list(changes), list(costs))

    layers = list(fw.layers)
    settings = {layer.name: (int(_sizes(layer)[2].get("reuse_factor") or layer.get("reuse_factor") or 1),
                             "Resource" if str(_sizes(layer)[2].get("strategy") or "").startswith("resource")
                             else "Latency")
                for layer in layers if layer.function in PRODUCTS and _sizes(layer)}
    start = current = design([_cost(layer, target) for layer in layers], settings, [])
    best, steps = current, 0
    frozen: set[str] = set()
    while not current.fits(budget, fw.clock_ns) and steps < MAX_STEPS:
        move = _best_move(fw, layers, current, frozen, budget, design, target)
        if move is None:
            break
        index, layer, candidate = move
        layers[index] = layer
        current = candidate
        steps += 1
        if _score(current, budget) < _score(best, budget):
            best = current
        if log and steps % 25 == 0:
            log(f"[fit] {steps} steps: {', '.join(current.misses(budget, fw.clock_ns)) or 'fits'}")
    if best.fits(budget, fw.clock_ns):  # spend what is left of the budget on latency
        best = _shorten(fw, layers, best, budget, design, target)
    changes = [{"layer": name, "from": {"ReuseFactor": start.settings[name][0], "Strategy": start.settings[name][1]},
                "to": {"ReuseFactor": rf, "Strategy": strategy}}
               for name, (rf, strategy) in best.settings.items() if (rf, strategy) != start.settings[name]]
    return {"fits": best.fits(budget, fw.clock_ns), "misses": best.misses(budget, fw.clock_ns),
            "before": {"total": figures(start.total, fw.clock_ns), "percent": start.percent},
            "after": {"total": figures(best.total, fw.clock_ns), "percent": best.percent},
            "changes": changes, "steps": steps,
            "settings": {name: {"ReuseFactor": rf, "Strategy": strategy}
                         for name, (rf, strategy) in best.settings.items()},
            "budget": dataclasses.asdict(budget), "part": device.device, "tool": tool}


def _score(d: Design, budget: Budget) -> float:
    """How far a design is from the budget: the largest resource share over it (0 when within), then latency."""
    return _excess(d, budget) * 1e6 + d.total.latency


def _excess(d: Design, budget: Budget) -> float:
    """The resource shares above the budget, summed (0 when every resource is within it)."""
    return sum(max(0.0, (p or 0) / 100 - budget.max_share) for p in d.percent.values())


def _shorten(fw, layers, design_: Design, budget: Budget, design, target) -> Design:
    """From a design that fits: while some layer's other setting cuts latency and the design still fits, take the
    one that cuts most."""
    current = design_
    for _ in range(MAX_STEPS):
        best = None
        for index, layer in enumerate(layers):
            if layer.name not in current.settings:
                continue
            for rf, strategy, _, cost in _options(layer, target):
                costs = list(current.costs)
                costs[index] = cost
                candidate = design(costs, {**current.settings, layer.name: (rf, strategy)}, current.changes)
                if candidate.total.latency < (best or current).total.latency and candidate.fits(budget, fw.clock_ns):
                    best = candidate
        if best is None:
            return current
        current = best
    return current


def _options(layer: Layer, target) -> list[tuple[int, str, Layer, Cost]]:
    """Every (reuse factor, strategy) hls4ml accepts for a product layer, with the layer so configured and its
    cost (kept on the layer: the search asks again at every step)."""
    cache = layer.__dict__.setdefault("_options", {})
    key = id(target)
    if key not in cache:
        n_in, n_out, _ = _sizes(layer)
        out = []
        for rf in valid_reuse_factors(n_in, n_out):
            for strategy in (("Latency",) if rf == 1 else ("Latency", "Resource")):
                changed = configured(layer, rf, strategy)
                cost = _cost(changed, target)
                if cost is not None:
                    out.append((rf, strategy, changed, cost))
        cache[key] = out
    return cache[key]


def _best_move(fw, layers, current: Design, frozen: set, budget: Budget, design, target):
    """The change of one layer to another reuse factor and strategy that removes most resource excess per cycle
    of latency it adds, within the latency and interval budget; None if no change removes any."""
    best, best_gain = None, 0.0
    excess = _excess(current, budget)
    for index, layer in enumerate(layers):
        if layer.name not in current.settings or layer.name in frozen:
            continue
        for rf, strategy, changed, cost in _options(layer, target):
            if (rf, strategy) == current.settings[layer.name]:
                continue
            costs = list(current.costs)
            costs[index] = cost
            candidate = design(costs, {**current.settings, layer.name: (rf, strategy)}, current.changes)
            if budget.min_interval is not None and candidate.total.interval > budget.min_interval:
                continue
            if budget.max_latency_ns is not None and candidate.total.latency * fw.clock_ns > budget.max_latency_ns:
                continue
            saved = excess - _excess(candidate, budget)
            if saved <= 1e-9:
                continue
            gain = saved / max(1, candidate.total.latency - current.total.latency)
            if gain > best_gain:
                best, best_gain = (index, changed, candidate), gain
    return best
