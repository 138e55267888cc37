"""Read an hls4ml project as the HLS tool reads it: the layer calls in `firmware/<project>.cpp`, their
configurations in `parameters.h`, the types in `defines.h`, the weights in `firmware/weights/`, and the part,
clock and multiplier mapping in the Tcl files.

Works on projects of any hls4ml version that writes these files, with or without `hls4ml_config.yml`
(which may be stale when a project was edited by hand: the firmware and Tcl files are the truth).
Written here because hls4ml reads only projects it wrote itself, from its own YAML.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hepfpga.errors import DataError
from hepfpga.fixed import Fixed

_CALL = re.compile(r"nnet::(\w+)\s*<([^;]*?)>\s*\(([^;]*?)\)\s*;[ \t]*(?://[ \t]*(\S+))?")
_TYPEDEF = re.compile(r"typedef\s+(.+?)\s+(\w+)\s*;")
_DEFINE = re.compile(r"#define\s+(\w+)\s+(\d+)")
_STRUCT = re.compile(r"struct\s+(\w+)\s*:\s*nnet::(\w+)\s*\{")
_FIELD = re.compile(r"static\s+(?:const|constexpr)\s+[\w:<> ]+?\s+(\w+)\s*=\s*([^;]+);")


@dataclass
class Layer:
    """One layer call of the firmware: its hls4ml name, the nnet function, configuration and types."""

    name: str
    function: str
    config: dict = field(default_factory=dict)
    input_types: list = field(default_factory=list)
    output_type: Fixed | None = None
    #: {"pack": values per stream word of the (first) input} (1 for io_parallel arrays).
    sizes: dict = field(default_factory=dict)
    #: Variables of the call: the inputs it reads and the output it writes.
    inputs: list = field(default_factory=list)
    output: str = ""
    #: Weight arrays by variable name (as written in the call), in value units.
    weights: dict = field(default_factory=dict)
    #: The Fixed type of each typedef the configuration names (accum_t, weight_t, ...).
    types: dict = field(default_factory=dict)

    def get(self, key: str, default=None):
        return self.config.get(key, default)

    def type_of(self, key: str):
        """The Fixed type a configuration typedef (e.g. "accum_t") stands for, or None."""
        return self.types.get(key)


@dataclass
class Firmware:
    """What determines the hardware of an hls4ml project."""

    path: Path
    name: str
    part: str
    clock_ns: float
    uncertainty_ns: float
    mul_impl: str  # "dsp", "fabric" or "auto" (the tool decides)
    io_type: str
    layers: list[Layer]
    #: io_stream FIFOs between layers: (variable, depth, bits per word).
    streams: list = field(default_factory=list)
    #: The top function's input and output variables, in order, with their Fixed types.
    ports: list = field(default_factory=list)
    #: Variables that name another (`auto& a = b;`, io_stream clones, io_parallel reshapes): {alias: source}.
    aliases: dict = field(default_factory=dict)

    @property
    def effective_clock_ns(self) -> float:
        """The clock period the scheduler fills: period minus uncertainty."""
        return self.clock_ns - self.uncertainty_ns


def read_firmware(project_dir: str | Path) -> Firmware:
    """Read the firmware of the hls4ml project in `project_dir`; DataError naming what is missing."""
    root = Path(project_dir)
    if not root.is_dir():
        raise DataError(f"{root} is not a folder; give the path of an hls4ml project (it holds firmware/)")
    firmware = root / "firmware"
    tops = sorted(p for p in firmware.glob("*.cpp")) if firmware.is_dir() else []
    needed = [firmware / "parameters.h", firmware / "defines.h"]
    if not tops or not all(p.is_file() for p in needed):
        missing = [str(p.relative_to(root)) for p in needed if not p.is_file()] or ["firmware/<project>.cpp"]
        raise DataError(f"{root} is not an hls4ml project: {', '.join(missing)} missing (an hls4ml project holds "
                        "firmware/<project>.cpp, firmware/parameters.h and firmware/defines.h)")
    top = next((p for p in tops if (firmware / f"{p.stem}.h").is_file()), tops[0])
    defines = (firmware / "defines.h").read_text(errors="replace")
    numbers = {m.group(1): int(m.group(2)) for m in _DEFINE.finditer(defines)}
    typedefs = {m.group(2): m.group(1) for m in _TYPEDEF.finditer(defines)}
    structs = _structs((firmware / "parameters.h").read_text(errors="replace"), numbers)
    part, clock, uncertainty, mul_impl = _tcl(root)
    layers = [_layer(call, structs, typedefs, numbers, firmware / "weights")
              for call in _CALL.finditer(_strip_comments_but_names(top.read_text(errors="replace")))]
    layers = [layer for layer in layers if layer is not None]
    if not layers:
        raise DataError(f"{top} calls no nnet:: layer functions: not an hls4ml firmware top function")
    io_type = "io_stream" if any(layer.get("io_type") == "io_stream" for layer in layers) or \
        "hls::stream" in top.read_text(errors="replace") else "io_parallel"
    text = top.read_text(errors="replace")
    return Firmware(root, top.stem, part, clock, uncertainty, mul_impl, io_type, layers, _streams(text, typedefs),
                    _ports(text, top.stem, typedefs), _aliases(text))


def _ports(text: str, name: str, typedefs: dict) -> list[tuple[str, Fixed | None]]:
    """(variable, type) of each parameter of the top function `name`: its inputs, then its outputs."""
    match = re.search(rf"void\s+{name}\s*\((.*?)\)\s*\{{", text, re.S)
    ports = []
    for param in _split_args(match.group(1)) if match else []:
        param = _strip_comments_but_names(param).strip()
        words = re.match(r"(?:hls::stream\s*<\s*(\w+)\s*>|(\w+))\s*&?\s*(\w+)", param)
        if words:
            ports.append((words.group(3), _fixed(words.group(1) or words.group(2), typedefs)[0]))
    return ports


def _aliases(text: str) -> dict[str, str]:
    """Variables that name another: `auto& a = b;` and the copies of nnet::clone_stream / repack."""
    out = {m.group(1): m.group(2) for m in re.finditer(r"auto\s*&\s*(\w+)\s*=\s*(\w+)\s*;", text)}
    for m in re.finditer(r"nnet::(clone_stream|repack_stream)\s*<[^;]*?>\s*\(([^;]*?)\)\s*;", text):
        source, *copies = [a.strip() for a in _split_args(m.group(2))]
        out.update({copy: source for copy in copies})
    return out


def _streams(text: str, typedefs: dict) -> list[tuple[str, int, int]]:
    """The FIFOs the top function declares: `hls::stream<T> name` with `#pragma HLS STREAM ... depth=N`."""
    types = {m.group(2): m.group(1) for m in re.finditer(r"hls::stream\s*<\s*(\w+)\s*>\s+(\w+)", text)}
    out = []
    for m in re.finditer(r"#pragma\s+HLS\s+STREAM\s+variable=(\w+)\s+depth=(\d+)", text):
        t, pack = _fixed(types.get(m.group(1)), typedefs)
        out.append((m.group(1), int(m.group(2)), (t.width if t is not None else 16) * pack))
    return out


def _strip_comments_but_names(text: str) -> str:
    """Drop block comments and whole-line comments (the `// name` after a call stays)."""
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return "\n".join(line for line in text.splitlines() if not line.strip().startswith("//"))


def _tcl(root: Path) -> tuple[str, float, float, str]:
    """(part, clock period ns, clock uncertainty ns, multiplier mapping) from project.tcl / build_prj.tcl."""
    text = "\n".join(p.read_text(errors="replace") for p in (root / "project.tcl", root / "build_prj.tcl")
                     if p.is_file())
    if not text:
        raise DataError(f"{root} has neither project.tcl nor build_prj.tcl: the part and the clock are unknown")
    part = _tcl_value(text, r"set\s+part\s+\"?\{?([\w-]+)") or _tcl_value(text, r"set_part\s+\{?([\w-]+)")
    clock = _tcl_value(text, r"set\s+clock_period\s+([\d.]+)") or _tcl_value(text, r"create_clock\s+-period\s+([\d.]+)")
    if part is None or clock is None:
        raise DataError(f"the Tcl files of {root} name no {'part' if part is None else 'clock period'}")
    uncertainty = _tcl_value(text, r"set\s+clock_uncertainty\s+([\d.]+%?)") or "12.5%"
    clock = float(clock)
    unc = clock * float(uncertainty[:-1]) / 100 if uncertainty.endswith("%") else float(uncertainty)
    impl = _tcl_value(text, r"^\s*config_op\s+mul\s+.*-impl\s+(\w+)")
    return part, clock, unc, impl if impl in ("dsp", "fabric") else "auto"


def _tcl_value(text: str, pattern: str) -> str | None:
    match = re.search(pattern, text, flags=re.M)
    return match.group(1) if match else None


def _structs(text: str, numbers: dict) -> dict[str, dict]:
    """Every `struct NAME : nnet::BASE { ... };` of parameters.h as {NAME: fields}; fields hold numbers,
    booleans, enum names (their last word), typedef targets ("typedef X accum_t" -> accum_t: "X") and
    "_base" (BASE)."""
    structs = {}
    for match in _STRUCT.finditer(text):
        depth, i = 1, match.end()
        while depth and i < len(text):
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        body = text[match.end(): i - 1]
        fields = {"_base": match.group(2)}
        for f in _FIELD.finditer(body):
            fields[f.group(1)] = _value(f.group(2), {**numbers, **fields})
        for t in _TYPEDEF.finditer(body):
            fields[t.group(2)] = t.group(1)
        structs[match.group(1)] = fields
    return structs


def _value(expr: str, names: dict):
    """A C++ constant expression of parameters.h as a Python value (None when it cannot be evaluated)."""
    expr = expr.strip()
    if expr in ("true", "false"):
        return expr == "true"
    if "::" in expr and not re.search(r"[\d(]", expr.split("::")[-1]):
        return expr.split("::")[-1]  # an enum: nnet::latency -> latency
    py = re.sub(r"DIV_ROUNDUP\s*\(([^,]+),([^)]+)\)", r"(-(-(\1)//(\2)))", expr)
    py = re.sub(r"(?<![/])/(?![/])", "//", py)
    py = re.sub(r"\b(\d+)[uUlL]+\b", r"\1", py)
    if not re.fullmatch(r"[\w\s+\-*/%()<>.]*", py):
        return None
    try:
        return eval(py, {"__builtins__": {}}, {k: v for k, v in names.items() if isinstance(v, (int, float))})
    except Exception:  # an expression of names this reader does not know
        return None


def _fixed(type_text: str | None, typedefs: dict) -> tuple[Fixed | None, int]:
    """The Fixed type a C++ type name stands for, following typedefs, and the values per stream word."""
    seen, pack = 0, 1
    while type_text in typedefs and seen < 10:
        type_text, seen = typedefs[type_text], seen + 1
    if type_text is None:
        return None, pack
    array = re.fullmatch(r"\s*nnet::array\s*<\s*(.+?)\s*,\s*([\d* ]+)\s*>\s*", type_text)
    if array:
        inner, size = array.groups()
        pack = int(eval(size, {"__builtins__": {}}))  # "8*1"
        return _fixed(inner, typedefs)[0], pack
    try:
        return Fixed.parse(type_text), pack
    except Exception:  # float, bool, or a type this reader does not model
        return None, pack


#: nnet functions with one data type template argument but an input and an output array: the output's type
#: (None: the input's).
SINGLE_TYPE = {"resize_nearest": None, "normalize_binary_tanh": "ap_uint<1>", "normalize_ternary_tanh": "ap_int<2>"}


def _layer(call, structs: dict, typedefs: dict, numbers: dict, weights_dir: Path) -> Layer | None:
    function, template, args, name = call.group(1), call.group(2), call.group(3), call.group(4)
    template_args = [a.strip() for a in _split_args(template)]
    config_name = next((a for a in reversed(template_args) if a in structs), None)
    if config_name is None:
        return None  # a helper without a configuration (e.g. nnet::copy)
    config = dict(structs[config_name])
    for key, value in list(config.items()):  # nested configurations (conv's mult_config, merge's ...)
        if isinstance(value, str) and value in structs and key.endswith("config"):
            config[key] = structs[value]
    type_args = template_args[: template_args.index(config_name)]
    if function in SINGLE_TYPE and len(type_args) == 1:  # the output's type is not a template argument
        type_args.append(SINGLE_TYPE[function] or type_args[0])
    types = [_fixed(t, typedefs) for t in type_args]
    sizes = {"pack": types[0][1]} if types else {}
    layer = Layer(name=name or config_name, function=function, config=config,
                  input_types=[t for t, _ in types[:-1]] or [types[0][0]] if types else [],
                  output_type=types[-1][0] if types else None, sizes=sizes)
    layer.types = {k: _fixed(v, typedefs)[0] for k, v in config.items() if k.endswith("_t") and isinstance(v, str)}
    arg_names = [a.strip() for a in _split_args(args)]
    n_data = len(type_args)  # inputs and the output come first, then the weights
    layer.inputs, layer.output = arg_names[: n_data - 1], arg_names[n_data - 1] if n_data else ""
    for var in arg_names[n_data:]:
        layer.weights[var] = _read_weights(weights_dir, var)
    return layer


def _split_args(text: str) -> list[str]:
    """Split a C++ argument list at top-level commas."""
    parts, depth, current = [], 0, ""
    for ch in text:
        depth += {"<": 1, "(": 1, ">": -1, ")": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    return [p for p in (*parts, current) if p.strip()]


def _read_weights(weights_dir: Path, var: str) -> np.ndarray:
    """Values of weight array `var` from `weights/<var>.txt`, else from the initialiser in `weights/<var>.h`."""
    txt, header = weights_dir / f"{var}.txt", weights_dir / f"{var}.h"
    try:
        if txt.is_file():
            return np.array([float(v) for v in txt.read_text().replace("\n", ",").split(",") if v.strip()])
        if header.is_file():
            text = header.read_text(errors="replace")
            init = re.search(r"=\s*\{([^}]*)\}", text)
            if init:
                return np.array([float(v) for v in init.group(1).split(",") if v.strip()])
    except ValueError as err:
        raise DataError(f"cannot read the weights {var} in {weights_dir}: {err}") from err
    raise DataError(f"the weights {var} are missing: neither {txt} nor an initialised {header} exists; the "
                    "estimate counts multiplications by non-zero weights, so it needs them")
