"""Exceptions hepfpga raises for bad input.

Each carries a message written for the physicist at the keyboard: what is wrong and how to fix it.
The command-line interface prints the message and exits non-zero; the Python API lets it propagate.
"""


class HepfpgaError(Exception):
    """Base class of every error hepfpga raises on purpose."""


class DataError(HepfpgaError):
    """Input data is missing, malformed or does not match what the model expects."""


class ConfigError(HepfpgaError):
    """An option, a configuration or a builder argument is outside its allowed range."""


class ProjectExistsError(HepfpgaError):
    """The output folder exists and `force` was not given."""


class CompilerError(HepfpgaError):
    """The C++ compiler is missing or the firmware emulation failed to build."""


def log_tail(text: str, lines: int = 15) -> str:
    """The last `lines` lines of a tool's output, for an error message."""
    return "\n".join(text.strip().splitlines()[-lines:])
