"""The `hepfpga` command. Each sub-command builds its options from the API's dataclasses (`hepfpga.options`),
validates them, and calls one Python API function."""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import sys
import tempfile
import threading
import warnings
from pathlib import Path

from hepfpga.cli.commands import build_parser, demo_parser, estimate_parser, models, scan_parser
from hepfpga.cli.compress import compress_parser
from hepfpga.cli.convert import convert_parser, csim_parser
from hepfpga.cli.rtl import rtl_parser


def _quiet_libraries() -> None:
    """Silence start-up chatter of TensorFlow and known-harmless warnings of the pinned stack."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    for message in (r"You are saving your model as an HDF5 file", r"The `keras.constraints.serialize\(\)` API",
                    r"Softmax layer .* is converted from a frontend not supporting bit-exact softmax"):
        warnings.filterwarnings("ignore", message=message)
    import logging

    logging.getLogger("tensorflow").setLevel(logging.ERROR)  # without importing TensorFlow: `estimate` needs none


def _parser() -> argparse.ArgumentParser:
    from hepfpga import __version__

    parser = argparse.ArgumentParser(prog="hepfpga", description="Keras/QKeras models to FPGA firmware via hls4ml.",
                                     allow_abbrev=False)
    parser.add_argument("--version", action="version", version=f"hepfpga {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (demo_parser, convert_parser, compress_parser, csim_parser, build_parser, estimate_parser, scan_parser,
                rtl_parser):
        add(sub)
    p = sub.add_parser("models", allow_abbrev=False,
                       help="list the model builders and their options")
    p.set_defaults(func=models)
    for command in sub.choices.values():
        command.add_argument("--debug", action="store_true", help="show the Python traceback of an error")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns its exit code (see hepfpga.errors: 2 bad input, 3 target missed, 4 tool
    failure, 130 interrupted, 143 terminated). A traceback is shown only with --debug."""
    from hepfpga import errors

    args = _parser().parse_args(argv)
    _quiet_libraries()
    name = f"hepfpga {args.command}"
    with _private_temp(), _terminate_as_interrupt():
        try:
            return args.func(args)
        except errors.HepfpgaError as err:
            if args.debug:
                raise
            print(f"{name}: error: {err}", file=sys.stderr)
            return err.exit_code
        except errors.Terminated:
            print(f"{name}: terminated (SIGTERM); no partial output was left behind", file=sys.stderr)
            return errors.EXIT_TERMINATED
        except KeyboardInterrupt:
            print(f"{name}: interrupted; no partial output was left behind", file=sys.stderr)
            return errors.EXIT_INTERRUPTED
        except OSError as err:  # a full disk, a read-only folder, a vanished file
            if args.debug:
                raise
            where = f": {err.filename}" if err.filename else ""
            print(f"{name}: error: {err.strerror or err}{where}. Nothing was left half-written; free space or "
                  "choose a writable folder and run again.", file=sys.stderr)
            return errors.EXIT_BAD_INPUT
        except Exception as err:
            if args.debug:
                raise
            print(f"{name}: internal error ({type(err).__name__}: {str(err)[:500]}). Nothing was left "
                  "half-written. Run again with --debug for the traceback and report it.", file=sys.stderr)
            return errors.EXIT_TOOL_FAILED


@contextlib.contextmanager
def _terminate_as_interrupt():
    """Turn SIGTERM (a batch system's time limit) into an exception, so staged outputs are removed."""
    from hepfpga.errors import Terminated

    def handler(signum, frame):
        raise Terminated()

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


TEMP_PREFIX = "hepfpga-run-"


@contextlib.contextmanager
def _private_temp():
    """Give the run its own temporary folder (TensorFlow's autograph files, hls4ml's scratch files go there)
    and remove it afterwards; folders of earlier runs that were killed are removed first."""
    base = Path(tempfile.gettempdir())
    for old in base.glob(f"{TEMP_PREFIX}*"):
        pid = old.name[len(TEMP_PREFIX):].split("-")[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    folder = tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-", dir=base)
    saved = os.environ.get("TMPDIR"), tempfile.tempdir
    os.environ["TMPDIR"], tempfile.tempdir = folder, folder
    try:
        yield
    finally:
        if saved[0] is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved[0]
        tempfile.tempdir = saved[1]
        shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
