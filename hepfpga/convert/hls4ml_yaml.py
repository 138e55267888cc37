"""hls4ml's project YAML: read one a user already has, and write one of what hepfpga chose.

hls4ml's command line (`hls4ml convert -c project.yml`) and its `convert_from_config` take a YAML with the
model (`KerasModel`, or the older `KerasJson` + `KerasH5`, or `KerasH5` alone), `OutputDir`, `ProjectName`,
`Backend`, `Part`, `ClockPeriod`, `IOType`, `InputData`/`OutputPredictions` (testbench files) and
`HLSConfig` (`Model` and `LayerName` entries: precision, reuse factor, strategy).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from hepfpga.errors import ConfigError
from hepfpga.project import HLS4ML_YAML_LOADER

#: hls4ml YAML key -> hepfpga firmware option.
FIRMWARE_KEYS = {"Backend": "backend", "Part": "part", "ClockPeriod": "clock_period", "IOType": "io_type"}
#: Name of the YAML `hepfpga convert` writes into the project's hepfpga/ folder.
EXPORT_FILE = "hls4ml_project.yml"


@dataclass
class Hls4mlProject:
    """What a user's hls4ml project YAML asks for, paths resolved."""

    path: Path
    model: Path  # full model (.h5/.keras/SavedModel) or architecture .json
    weights: Path | None = None  # weights .h5 for a .json architecture
    output_dir: str | None = None
    project_name: str | None = None
    options: dict = field(default_factory=dict)  # hepfpga firmware options (backend, part, ...)
    override: dict = field(default_factory=dict)  # HLSConfig parts merged over hepfpga's configuration
    input_data: Path | None = None
    output_predictions: Path | None = None
    ignored: list[str] = field(default_factory=list)  # what hepfpga does not take over, and why


def _resolve(value, yaml_path: Path, key: str) -> Path:
    """A path as hls4ml's command line resolved it (relative to the current folder), else relative to the
    YAML's folder; ConfigError naming both when neither exists."""
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{yaml_path}: {key} must be a file path, got {value!r}")
    here, beside = Path(value), yaml_path.parent / value
    for candidate in (here, beside):
        if candidate.exists():
            return candidate
    raise ConfigError(f"{yaml_path}: {key} {value!r} not found (looked in the current folder: {here.resolve()}, and "
                      f"beside the YAML: {beside.resolve()})")


def read_project_yaml(path: str | Path) -> Hls4mlProject:
    """Parse an hls4ml project YAML; ConfigError on anything hepfpga cannot honour as asked."""
    import yaml

    path = Path(path)
    try:
        raw = yaml.load(path.read_text(), Loader=HLS4ML_YAML_LOADER)  # noqa: S506 - a SafeLoader subclass
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise ConfigError(f"cannot read the hls4ml project YAML {path}: {err}") from err
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} is not an hls4ml project YAML (a mapping with KerasModel/KerasH5, HLSConfig, ...)")
    for other in ("OnnxModel", "PytorchModel"):
        if other in raw:
            raise ConfigError(f"{path} names an {other}: hepfpga converts Keras/QKeras models only")
    if "KerasModel" in raw:
        project = Hls4mlProject(path, _resolve(raw["KerasModel"], path, "KerasModel"))
    elif "KerasJson" in raw:
        if "KerasH5" not in raw:
            raise ConfigError(f"{path}: KerasJson needs KerasH5 (the weights)")
        project = Hls4mlProject(path, _resolve(raw["KerasJson"], path, "KerasJson"),
                                weights=_resolve(raw["KerasH5"], path, "KerasH5"))
    elif "KerasH5" in raw:
        project = Hls4mlProject(path, _resolve(raw["KerasH5"], path, "KerasH5"))
    else:
        raise ConfigError(f"{path} names no model: give KerasModel, or KerasJson and KerasH5, or KerasH5")
    project.output_dir = raw.get("OutputDir")
    project.project_name = raw.get("ProjectName")
    if project.project_name not in (None, "myproject"):
        project.ignored.append(f"ProjectName {project.project_name!r}: hepfpga's projects are named 'myproject'")
    project.options = {opt: raw[key] for key, opt in FIRMWARE_KEYS.items() if key in raw}
    if "XilinxPart" in raw and "Part" not in raw:  # hls4ml before 0.5 named the part so
        project.options["part"] = raw["XilinxPart"]
        project.ignored.append(f"XilinxPart {raw['XilinxPart']!r} read as Part (hls4ml 1.3 ignores the older key)")
    if "Backend" in project.options:
        project.options["backend"] = str(project.options["backend"]).capitalize()
    if "ClockPeriod" in raw:
        try:
            project.options["clock_period"] = float(raw["ClockPeriod"])
        except (TypeError, ValueError) as err:
            raise ConfigError(f"{path}: ClockPeriod must be a number of ns, got {raw['ClockPeriod']!r}") from err
    for key, name in (("InputData", "input_data"), ("OutputPredictions", "output_predictions")):
        if raw.get(key):
            setattr(project, name, _resolve(raw[key], path, key))
    hls = raw.get("HLSConfig") or {}
    if not isinstance(hls, dict):
        raise ConfigError(f"{path}: HLSConfig must be a mapping (Model, LayerName, ...)")
    model = dict(hls.get("Model") or {})
    if "ReuseFactor" in model:
        project.options["reuse_factor"] = model.pop("ReuseFactor")
    if "Strategy" in model:
        project.options["strategy"] = str(model.pop("Strategy")).capitalize()
    if "Precision" in model:
        project.ignored.append(f"HLSConfig Model Precision {model.pop('Precision')!r}: hepfpga chooses every layer's "
                               "types (set a layer's under LayerName to force it)")
    project.override = {k: v for k, v in hls.items() if k not in ("Model",)}
    if model:
        project.override["Model"] = model
    return project


def precision_sources(layer_names, override: dict | None) -> dict[str, str]:
    """Per hls4ml layer: "hls4ml config" if the user's configuration set any of its precisions, else "hepfpga"."""
    chosen = (override or {}).get("LayerName") or {}
    return {name: "hls4ml config" if (chosen.get(name) or {}).get("Precision") else "hepfpga" for name in layer_names}


def export_project_yaml(project_dir: Path, model_file: str, tb_input: str | None, tb_output: str | None) -> Path:
    """Write `hepfpga/hls4ml_project.yml` into `project_dir`: hls4ml's own record of the conversion (the
    `hls4ml_config.yml` it wrote, with every type hepfpga chose) with paths relative to the project folder, so
    that `hls4ml.converters.convert_from_config` rebuilds the same project into `hls4ml_rebuild/`."""
    import yaml

    from hepfpga.project import RESULTS

    written = project_dir / "hls4ml_config.yml"
    config = yaml.load(written.read_text(), Loader=HLS4ML_YAML_LOADER)  # noqa: S506 - a SafeLoader subclass
    config.pop("Stamp", None)
    config.update(KerasModel=model_file, OutputDir="hls4ml_rebuild")
    for key, value in (("InputData", tb_input), ("OutputPredictions", tb_output)):
        if value:
            config[key] = value
        else:
            config.pop(key, None)
    out = project_dir / RESULTS / EXPORT_FILE
    out.write_text("# What hepfpga convert gave hls4ml, paths relative to the project folder. From that folder:\n"
                   "#   float models: hls4ml convert -c hepfpga/hls4ml_project.yml\n"
                   "#   QKeras models (hls4ml's loader lacks QKeras' custom objects), in Python:\n"
                   "#     cfg = hls4ml.converters.parse_yaml_config('hepfpga/hls4ml_project.yml')\n"
                   "#     cfg['KerasModel'] = hepfpga.models.load.load_model(cfg['KerasModel'])\n"
                   "#     hls4ml.converters.convert_from_config(cfg).write()\n"
                   + yaml.safe_dump(config, sort_keys=False))
    return out
