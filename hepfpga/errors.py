"""The errors hepfpga raises, and the exit code of each on the command line.

Each carries a message written for the physicist at the keyboard: what is wrong and how to fix it. The
command line prints it and exits with the class's `exit_code` (a traceback only with --debug); the Python
API lets it propagate.

Exit codes: 0 success; 2 bad input or usage (data, options, configuration, an existing output, a tool
that is not installed);
3 a target missed (firmware disagrees with Keras beyond the allowed, a demo target); 4 a tool failed (the
C++ compiler, Vivado/Vitis HLS) or an internal error; 130 interrupted (Ctrl-C); 143 terminated (SIGTERM).
"""

import re

EXIT_BAD_INPUT = 2
EXIT_TARGET_MISSED = 3
EXIT_TOOL_FAILED = 4
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


class HepfpgaError(Exception):
    """Base class of every error hepfpga raises on purpose."""

    exit_code = EXIT_BAD_INPUT


class DataError(HepfpgaError):
    """Input data is missing, malformed or does not match what the model expects."""


class ConfigError(HepfpgaError):
    """An option, a configuration or a builder argument is outside its allowed range."""


class ProjectExistsError(HepfpgaError):
    """The output folder exists and `force` was not given."""


class CompilerError(HepfpgaError):
    """The C++ compiler is missing or the firmware emulation failed to build."""

    exit_code = EXIT_TOOL_FAILED


class MissingToolError(CompilerError):
    """A tool hepfpga needs (g++, Vivado/Vitis HLS) is not installed: a setup problem, exit code 2."""

    exit_code = EXIT_BAD_INPUT


class Terminated(KeyboardInterrupt):
    """The process received SIGTERM (a batch system's time limit): unwinds like Ctrl-C, so nothing half-written
    stays behind."""


def log_tail(text: str, lines: int = 15) -> str:
    """The last `lines` lines of a tool's output, for an error message."""
    return "\n".join(text.strip().splitlines()[-lines:])


def error_lines(text: str, most: int = 12) -> str:
    """The lines of a compiler's or tool's output that report errors (with the line after each), else its
    last lines: what a message should show of a long log."""
    lines = text.strip().splitlines()
    hits = [i for i, line in enumerate(lines) if re.search(r"\berror\b|ERROR|fatal|undefined reference", line)]
    if not hits:
        return log_tail(text, most)
    keep = sorted({j for i in hits for j in (i, i + 1) if j < len(lines)})[:most]
    return "\n".join(lines[j] for j in keep)
