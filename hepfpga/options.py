"""Every default in one place, and the option dataclasses the Python API and the command line share.

An option is a dataclass field made with `option(default, help, unit=..., low=..., high=...)`; the command
line builds its flags from the same fields (`add_arguments`), so `--help` shows each default and unit,
and `check` validates every value, for API and command line alike, before any work starts.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field

from hepfpga.errors import ConfigError

# -- firmware target ----------------------------------------------------------------------------------
BACKENDS = ("Vitis", "Vivado")
BACKEND = "Vitis"
#: A Virtex UltraScale+ of the kind Level-1 trigger boards carry (CMS/ATLAS Phase-2).
PART = "xcvu13p-flga2577-2-e"
CLOCK_NS = 5.0
IO_TYPES = ("io_parallel", "io_stream")
IO_TYPE = "io_parallel"
STRATEGIES = ("Latency", "Resource", "distributed_arithmetic")
STRATEGY = "Latency"
REUSE_FACTOR = 1

# -- precision choice ---------------------------------------------------------------------------------
#: Quantization step of every value at most this fraction of its RMS over calibration data.
TARGET_ERROR = 2.0**-8
#: Extra integer bits above the largest magnitude seen in calibration.
HEADROOM_BITS = 1
#: Entries of the softmax/sigmoid/tanh lookup tables (a power of two).
TABLE_SIZE = 4096
#: Width of lookup-table types chosen from data.
TABLE_BITS = 18

# -- verification -------------------------------------------------------------------------------------
MIN_AGREEMENT = 0.99
MAX_RELATIVE_ERROR = 0.01
MAX_EVENTS = 10_000
#: Rebuilds with widened types after a C-sim that misses the agreement target (hepfpga.convert.refine).
MAX_REFINEMENTS = 2
TRACE_EVENTS = 1_000
#: How firmware outputs are computed: the compile-free integer emulator (hepfpga.csim.bitexact), hls4ml's
#: C++ compiled with g++ (hepfpga.csim.fast), or the project's own HLS testbench (hepfpga.csim.testbench).
ENGINES = ("emulate", "cxx", "testbench")
ENGINE = "emulate"


#: Python types of option fields by their annotation (None-able options take the type when given).
_KINDS = {"int": int, "float": float, "str": str, "bool": bool, "int | None": int, "float | None": float,
          "str | None": str}


def option(default, help: str, unit: str | None = None, low=None, high=None, low_open: bool = False,
           choices: tuple | None = None, flag: str | None = None, power_of_two: bool = False,
           pattern: str | None = None):
    """A dataclass field carrying its help text, unit, allowed range (`low`/`high`, inclusive unless
    `low_open`; for a list, of each element), choices and text `pattern`; mutable defaults (lists) are
    copied per instance."""
    meta = dict(help=help, unit=unit, low=low, high=high, low_open=low_open, choices=choices, flag=flag,
                power_of_two=power_of_two, pattern=pattern)
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class FirmwareOptions:
    """What the HLS project targets: backend, FPGA part, clock, interface and parallelism."""

    backend: str = option(BACKEND, "hls4ml backend", choices=BACKENDS)
    part: str = option(PART, "FPGA part (resources and % in estimates come from it)",
                       pattern=r"x[a-z0-9]+(-[a-z0-9]+)*")
    clock_period: float = option(CLOCK_NS, "target clock period", unit="ns", low=0.0, low_open=True, high=1000.0)
    io_type: str = option(IO_TYPE, "interface between layers", choices=IO_TYPES)
    reuse_factor: int = option(REUSE_FACTOR, "multiplications sharing one multiplier (1: fully parallel)", low=1,
                               high=100_000)
    strategy: str = option(STRATEGY, "hls4ml strategy", choices=STRATEGIES)


#: Share of each resource of the part a design found by --fit may use.
MAX_SHARE = 0.8


@dataclass
class FitOptions:
    """What `--fit` makes a design meet (`hepfpga.estimate.search`): the part's resources, and optionally a
    latency and the interval at which new inputs arrive."""

    fit: bool = option(False, "when the estimate misses the part (or the latency/interval asked), choose per-layer "
                              "reuse factors and strategies (and io_stream if needed) that meet it, with the estimate "
                              "in the loop")
    max_share: float = option(MAX_SHARE, "--fit: largest share of each resource of the part to use", low=0.0,
                              low_open=True, high=1.0)
    max_latency_ns: float | None = option(None, "--fit: latency the design must stay within", unit="ns", low=0.0,
                                          low_open=True)
    min_interval: int | None = option(None, "--fit: cycles between new inputs (the trigger's event spacing): the "
                                            "design's initiation interval must not exceed it", unit="cycles", low=1)


@dataclass
class ConvertOptions(FitOptions, FirmwareOptions):
    """Options of `convert_model` / `hepfpga convert`."""

    target_error: float = option(TARGET_ERROR, "float models: quantization step per layer <= this x the layer's RMS",
                                 low=0.0, low_open=True, high=1.0)
    headroom_bits: int = option(HEADROOM_BITS, "extra integer bits above the calibration range", unit="bits", low=0,
                                high=16)
    table_size: int = option(TABLE_SIZE, "entries of softmax/sigmoid/tanh lookup tables", low=2, high=2**16,
                             power_of_two=True)
    min_agreement: float = option(MIN_AGREEMENT, "classifiers: argmax agreement with Keras required", low=0.0,
                                  high=1.0)
    max_relative_error: float = option(MAX_RELATIVE_ERROR, "other outputs: max |firmware - Keras| allowed, as a "
                                       "fraction of the Keras output range", low=0.0, high=1.0)
    max_events: int = option(MAX_EVENTS, "events verified in C-sim", low=1)
    trace_events: int = option(TRACE_EVENTS, "of these, events traced layer by layer to locate a divergence", low=1)
    engine: str = option(ENGINE, "firmware outputs of all events: the integer emulator (checked bit for bit against "
                         "the compiled C++ on the traced events) or the compiled C++", choices=ENGINES[:2])
    max_refinements: int = option(MAX_REFINEMENTS, "when agreement misses the target: rebuilds with the types of the "
                                  "diverging layers widened", low=0, high=10)


TASKS = ("classification", "regression")
PRUNING = ("magnitude", "neurons", "none")
METHODS = ("qkeras", "hgq")


@dataclass
class CompressOptions(FitOptions, FirmwareOptions):
    """Options of `compress_model` / `hepfpga compress`: pruning, quantization-aware training, the firmware."""

    task: str | None = option(None, "classification or regression (default: classification when the model ends in "
                                    "a softmax or sigmoid, else regression)", choices=TASKS)
    sparsity: float = option(0.5, "magnitude pruning: fraction of the weights set to zero; neurons: fraction of "
                                  "each hidden Dense layer's neurons removed", low=0.0, high=0.99)
    pruning: str = option("magnitude", "magnitude (tfmot, every prunable layer), neurons (whole Dense neurons "
                                       "removed), or none", choices=PRUNING)
    weight_bits: int = option(6, "qkeras: bits of every weight and bias", unit="bits", low=2, high=16)
    activation_bits: int = option(6, "qkeras: bits of every ReLU output", unit="bits", low=2, high=16)
    method: str = option("qkeras", "qkeras: fixed bit widths; hgq: per-weight bit widths learned under --beta",
                         choices=METHODS)
    beta: float = option(1e-5, "hgq: weight of the resource (bit operations) regulariser", low=0.0)
    float_epochs: int = option(0, "train the float model first for this many epochs (0: it is trained already)",
                               low=0)
    epochs: int = option(30, "fine-tune epochs of each step (pruning, quantization-aware training)", low=1)
    batch_size: int | None = option(None, "training batch size (default: about 100 steps per epoch, 32 to 1024)",
                                    low=1)
    learning_rate: float = option(2e-3, "fine-tune learning rate (halved whenever the validation loss stalls)", low=0.0,
                                  low_open=True)
    max_loss: float | None = option(None, "largest loss of the firmware against float allowed: accuracy points "
                                          "(classification, default 1) or relative MSE (regression, default 0.1)",
                                    low=0.0)
    validation_fraction: float = option(0.2, "share of --data held out for validation when no --validation is given",
                                        low=0.0, low_open=True, high=0.9)
    max_events: int = option(100_000, "validation events the firmware is run on (all of them up to this)", low=1)
    seed: int = option(42, "random seed of the split and of training", low=0)


@dataclass
class CsimOptions:
    """Options of `hepfpga csim` (C-simulation of an existing project)."""

    engine: str = option(ENGINE, "emulate: integer emulator, no compiling (the compiled C++ where it does not cover "
                         "a layer); cxx: hls4ml's C++ compiled with g++; testbench: the project's HLS testbench "
                         "(outputs as it prints them, 6 digits)", choices=ENGINES)
    jobs: int | None = option(None, "threads of the emulation (default: all cores)", low=1, high=1024)
    testbench: bool = option(False, "also compile and run the project's HLS testbench with g++")
    testbench_events: int = option(1000, "events run through the HLS testbench", low=1)
    min_agreement: float = option(MIN_AGREEMENT, "argmax agreement with Keras required", low=0.0, high=1.0)


def check(options) -> None:
    """Raise ConfigError naming the first option of dataclass `options` outside its allowed values."""
    for f in dataclasses.fields(options):
        meta, value = f.metadata, getattr(options, f.name)
        if not meta or (value is None and f.default is None):
            continue
        name = f"--{f.name.replace('_', '-')}"
        kind = _KINDS.get(str(f.type))
        if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise ConfigError(f"{name} ({f.name}) must be an integer, got {value!r}")
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if kind is float and not (number and math.isfinite(value)):
            raise ConfigError(f"{name} ({f.name}) must be a finite number, got {value!r}")
        if meta.get("choices") and value not in meta["choices"]:
            raise ConfigError(f"{name} ({f.name}) must be one of {', '.join(map(str, meta['choices']))}, got {value!r}")
        if meta.get("pattern") and not (isinstance(value, str) and re.fullmatch(meta["pattern"], value, re.I)):
            raise ConfigError(f"{name} ({f.name}) {value!r} is not of the form of a Xilinx part, e.g. {f.default}")
        if isinstance(value, list):
            if not value or (meta.get("low") is not None and any(
                    isinstance(v, (int, float)) and v < meta["low"] for v in value)):
                raise ConfigError(f"{name} ({f.name}) must be a non-empty list of values >= {meta.get('low')}, "
                                  f"got {value!r}")
            continue
        low, high = meta.get("low"), meta.get("high")
        if low is not None and (value < low or (meta.get("low_open") and value == low)):
            bound = f"> {low}" if meta.get("low_open") else f">= {low}"
            raise ConfigError(f"{name} ({f.name}) must be {bound}{_unit(meta)}, got {value!r}")
        if high is not None and value > high:
            raise ConfigError(f"{name} ({f.name}) must be <= {high}{_unit(meta)}, got {value!r}")
        if meta.get("power_of_two") and value & (value - 1):
            raise ConfigError(f"{name} ({f.name}) must be a power of two, got {value!r}")


def _unit(meta) -> str:
    return f" {meta['unit']}" if meta.get("unit") else ""


def add_arguments(parser, cls, skip: tuple[str, ...] = ()) -> None:
    """Add one command-line flag per field of dataclass `cls` (help shows default and unit)."""
    for f in dataclasses.fields(cls):
        if f.name in skip or not f.metadata:
            continue
        meta = f.metadata
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        kind = _KINDS.get(str(f.type), None)
        shown = f" (default: {_show(default)}{_unit(meta)})" if default is not None else ""
        text = meta["help"].replace("%", "%%") + shown
        flag = meta.get("flag") or f"--{f.name.replace('_', '-')}"
        if kind is bool:
            parser.add_argument(flag, dest=f.name, action="store_true", default=default, help=text)
        elif isinstance(default, list):
            parser.add_argument(flag, dest=f.name, type=_list_of(type(default[0]) if default else str),
                                default=default, help=text.replace("(default", "(comma-separated; default"))
        else:
            parser.add_argument(flag, dest=f.name, type=kind or str, default=default, help=text,
                                choices=meta.get("choices"), metavar=None if meta.get("choices") else f.name.upper())


def from_arguments(cls, args, **extra):
    """An instance of dataclass `cls` from parsed command-line `args` (fields without a flag keep defaults)."""
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if hasattr(args, f.name)}
    return cls(**{**values, **extra})


def _show(value) -> str:
    if isinstance(value, float) and value > 0 and math.log2(value).is_integer() and value < 1:
        return f"2^{int(math.log2(value))}"
    if isinstance(value, list):
        return ",".join(map(str, value))
    return str(value)


def _list_of(kind):
    def parse(text: str):
        try:
            return [kind(v) for v in text.split(",") if v.strip()]
        except ValueError as err:  # argparse reports it as an invalid value of this option
            raise ValueError(f"expected a comma-separated list of {kind.__name__}, got {text!r}") from err

    parse.__name__ = f"list of {kind.__name__}"
    return parse
