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
#: `struct NAME : nnet::BASE {` and, for configurations that only group others (separable convolutions'
#: `struct config2 { typedef ... depthwise_config; ... }`), `struct NAME {`.
_STRUCT = re.compile(r"struct\s+(\w+)\s*(?::\s*(?:public\s+)?nnet::(\w+)\s*)?\{")
_FIELD = re.compile(r"static\s+(?:const|constexpr)\s+[\w:<> ]+?\s+(\w+)\s*=\s*([^;]+);")


@dataclass
class Layer:
    """One layer call of the firmware: its hls4ml name, the nnet function, configuration and types."""

    name: str
    function: str
    config: dict = field(default_factory=dict)
    #: The configuration struct of the call (e.g. "config2"): HLS reports name their modules after it.
    config_name: str = ""
    input_types: list = field(default_factory=list)
    output_type: Fixed | None = None
    #: {"pack": values per stream word of the (first) input, "pack_out": of the output} (1 for io_parallel arrays).
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
    #: io_stream FIFOs between layers: (variable, depth, bits of one value, values per word).
    streams: list = field(default_factory=list)
    #: The top function's input and output variables, in order, with their Fixed types.
    ports: list = field(default_factory=list)
    #: Variables that name another (`auto& a = b;`, io_stream clones, io_parallel reshapes): {alias: source}.
    aliases: dict = field(default_factory=dict)
    #: The top function is a dataflow region (`#pragma HLS DATAFLOW`): layers overlap, arrays become FIFOs.
    dataflow: bool = False
    #: What the project's files say of the flow that wrote and builds it: {"backend": the hls4ml backend named in
    #: hls4ml_config.yml or project.tcl ("vivado", "vitis", "vivadoaccelerator") or None, "layout": "project.tcl"
    #: (hls4ml >= 0.6), "build_prj.tcl" (older) or "none"}; `hepfpga.estimate` guesses the HLS tool from it.
    flow: dict = field(default_factory=dict)
    #: What the reader had to assume (no Tcl file: default part and clock), said in the estimate.
    assumptions: list = field(default_factory=list)
    #: Implementation choices of the hls4ml version that wrote the project, read from its own nnet_utils:
    #: "rom_bram" (hls4ml >= 0.8 puts Resource-strategy weights in block RAM whatever their size).
    traits: frozenset = frozenset()

    @property
    def effective_clock_ns(self) -> float:
        """The clock period the scheduler fills: period minus uncertainty."""
        return self.clock_ns - self.uncertainty_ns


#: Part and clock assumed for a project without any Tcl file (hepfpga's own defaults, hepfpga.options).
DEFAULT_PART = "xcvu13p-flga2577-2-e"
DEFAULT_CLOCK_NS = 5.0


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
    part, clock, uncertainty, mul_impl, flow, assumptions = _tcl(root)
    text = top.read_text(errors="replace")
    layers = [_layer(call, structs, typedefs, numbers, firmware / "weights")
              for call in _CALL.finditer(_strip_comments_but_names(text))]
    layers = [layer for layer in layers if layer is not None]
    if not layers:
        raise DataError(f"{top} calls no nnet:: layer functions: not an hls4ml firmware top function")
    io_type = "io_stream" if any(layer.get("io_type") == "io_stream" for layer in layers) or \
        "hls::stream" in text else "io_parallel"
    dataflow = re.search(r"#pragma\s+HLS\s+DATAFLOW", _strip_comments_but_names(text), re.I) is not None
    return Firmware(root, top.stem, part, clock, uncertainty, mul_impl, io_type, layers, _streams(text, typedefs),
                    _ports(text, top.stem, typedefs), _aliases(text), dataflow, flow, assumptions, _traits(firmware))


def _traits(firmware: Path) -> frozenset:
    """Implementation choices visible in the project's own nnet_utils (absent: none assumed)."""
    resource = firmware / "nnet_utils" / "nnet_dense_resource.h"
    text = resource.read_text(errors="replace") if resource.is_file() else ""
    return frozenset({"rom_bram"} if "ROM_nP_BRAM" in text else set())


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


def _streams(text: str, typedefs: dict) -> list[tuple[str, int, int, int]]:
    """The FIFOs the top function declares: `hls::stream<T> name` with `#pragma HLS STREAM ... depth=N`, as
    (name, depth, bits of one value, values per word)."""
    types = {m.group(2): m.group(1) for m in re.finditer(r"hls::stream\s*<\s*(\w+)\s*>\s+(\w+)", text)}
    out = []
    for m in re.finditer(r"#pragma\s+HLS\s+STREAM\s+variable=(\w+)\s+depth=(\d+)", text):
        t, pack = _fixed(types.get(m.group(1)), typedefs)
        out.append((m.group(1), int(m.group(2)), t.width if t is not None else 16, pack))
    return out


def _strip_comments_but_names(text: str) -> str:
    """Drop block comments and whole-line comments (the `// name` after a call stays)."""
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return "\n".join(line for line in text.splitlines() if not line.strip().startswith("//"))


def _tcl(root: Path) -> tuple[str, float, float, str, dict, list]:
    """(part, clock period ns, clock uncertainty ns, multiplier mapping, flow, assumptions) from project.tcl /
    build_prj.tcl; a project without them gets hepfpga's default part and clock, said in `assumptions`."""
    files = [p for p in (root / "project.tcl", root / "build_prj.tcl") if p.is_file()]
    text = "\n".join(p.read_text(errors="replace") for p in files)
    config = root / "hls4ml_config.yml"
    yaml_text = config.read_text(errors="replace") if config.is_file() else ""
    yaml_backend = _tcl_value(yaml_text, r"^Backend:\s*['\"]?(\w+)")
    flow = {"backend": (yaml_backend or _tcl_value(text, r"set\s+backend\s+\"?(\w+)") or "").lower() or None,
            "layout": files[0].name if files else "none"}
    part = _tcl_value(text, r"set\s+part\s+\"?\{?([\w-]+)") or _tcl_value(text, r"set_part\s+\{?([\w-]+)")
    clock = _tcl_value(text, r"set\s+clock_period\s+([\d.]+)") or _tcl_value(text, r"create_clock\s+-period\s+([\d.]+)")
    assumptions = []
    if part is None:
        part = DEFAULT_PART
        assumptions.append(f"no part in the project's Tcl files ({', '.join(p.name for p in files) or 'none found'}): "
                           f"assumed {DEFAULT_PART}")
    if clock is None:
        clock = DEFAULT_CLOCK_NS
        assumptions.append(f"no clock period in the project's Tcl files: assumed {DEFAULT_CLOCK_NS:g} ns")
    uncertainty = _tcl_value(text, r"set\s+clock_uncertainty\s+([\d.]+%?)") or "12.5%"
    clock = float(clock)
    unc = clock * float(uncertainty[:-1]) / 100 if uncertainty.endswith("%") else float(uncertainty)
    impl = _tcl_value(text, r"^\s*config_op\s+mul\s+.*-impl\s+(\w+)")
    return part.lower(), clock, unc, impl if impl in ("dsp", "fabric") else "auto", flow, assumptions


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
        fields = {"_base": match.group(2) or ""}
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
    if config_name is None and re.fullmatch(r"\w+_da_\d+", function) and len(template_args) == 2:
        # hls4ml's distributed-arithmetic kernel (da4ml strategy): generated code, no configuration or weights
        types = [_fixed(t, typedefs)[0] for t in template_args]
        arg_names = [a.strip() for a in _split_args(args)]
        return Layer(name=name or function, function="dense_da", input_types=types[:1], output_type=types[1],
                     inputs=arg_names[:1], output=arg_names[1] if len(arg_names) > 1 else "",
                     sizes={"pack": 1, "pack_out": 1})
    if config_name is None:
        return None  # a helper without a configuration (e.g. nnet::copy)
    config = _resolve(structs[config_name], structs)
    type_args = template_args[: template_args.index(config_name)]
    if function in SINGLE_TYPE and len(type_args) == 1:  # the output's type is not a template argument
        type_args.append(SINGLE_TYPE[function] or type_args[0])
    types = [_fixed(t, typedefs) for t in type_args]
    sizes = {"pack": types[0][1], "pack_out": types[-1][1]} if types else {}
    layer = Layer(name=name or config_name, function=function, config=config, config_name=config_name,
                  input_types=[t for t, _ in types[:-1]] or [types[0][0]] if types else [],
                  output_type=types[-1][0] if types else None, sizes=sizes)
    layer.types = {k: _fixed(v, typedefs)[0] for k, v in config.items() if k.endswith("_t") and isinstance(v, str)}
    _nested_types(config, typedefs)
    arg_names = [a.strip() for a in _split_args(args)]
    n_data = len(type_args)  # inputs and the output come first, then the weights
    # a type argument without a data argument (a separable convolution's depthwise output type): the data
    # arguments end where the weight files begin
    while n_data > 1 and (weights_dir / f"{arg_names[n_data - 1]}.txt").is_file() or \
            n_data > 1 and (weights_dir / f"{arg_names[n_data - 1]}.h").is_file():
        n_data -= 1
    layer.inputs, layer.output = arg_names[: n_data - 1], arg_names[n_data - 1] if n_data else ""
    for var in arg_names[n_data:]:
        layer.weights[var] = _read_weights(weights_dir, var)
    return layer


def _resolve(fields: dict, structs: dict, depth: int = 0) -> dict:
    """A configuration with the configurations it names (conv's mult_config, a GRU's mult_config1 and
    activation configs, a separable convolution's depthwise/pointwise configs) resolved into dicts."""
    out = dict(fields)
    for key, value in fields.items():
        if isinstance(value, str) and value in structs and not key.endswith("_t") and depth < 4:
            out[key] = _resolve(structs[value], structs, depth + 1)
    return out


def _nested_types(config: dict, typedefs: dict) -> None:
    """Give every nested configuration of `config` a "_types" entry: the Fixed type of each of its typedefs."""
    for key, value in list(config.items()):
        if isinstance(value, dict) and key != "_types":
            value["_types"] = {k: _fixed(v, typedefs)[0] for k, v in value.items()
                               if k.endswith("_t") and isinstance(v, str)}
            _nested_types(value, typedefs)


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
            return _numbers(txt.read_text())
        if header.is_file():
            text = header.read_text(errors="replace")
            init = re.search(r"=\s*\{([^}]*)\}", text)
            if init:
                return _numbers(init.group(1))
    except ValueError as err:
        raise DataError(f"cannot read the weights {var} in {weights_dir}: {err}") from err
    raise DataError(f"the weights {var} are missing: neither {txt} nor an initialised {header} exists; the "
                    "estimate counts multiplications by non-zero weights, so it needs them")


def _numbers(text: str) -> np.ndarray:
    """The comma- or line-separated numbers of `text` as float64 (ValueError naming a bad one)."""
    fields = np.array(text.replace("\n", ",").split(","))
    fields = np.char.strip(fields)
    return fields[fields != ""].astype(np.float64)
