"""Options: one source of defaults for the API and the command line, every value checked before work."""

import argparse

import pytest

from hepfpga import options as opts
from hepfpga.errors import ConfigError


@pytest.mark.parametrize("change, message", [
    (dict(reuse_factor=-4), r"--reuse-factor \(reuse_factor\) must be >= 1"),
    (dict(reuse_factor=0), r"must be >= 1"),
    (dict(clock_period=0.0), r"--clock-period \(clock_period\) must be > 0.0 ns"),
    (dict(target_error=0.0), r"--target-error .* must be > 0.0"),
    (dict(headroom_bits=-50), r"--headroom-bits .* must be >= 0 bits"),
    (dict(min_agreement=2.0), r"--min-agreement .* must be <= 1.0"),
    (dict(table_size=1000), r"--table-size .* power of two"),
    (dict(io_type="io_serial"), r"--io-type .* must be one of io_parallel, io_stream"),
    (dict(max_events=1.5), r"--max-events .* must be an integer"),
    (dict(clock_period=float("nan")), r"must be a finite number"),
])
def test_bad_values_are_named(change, message):
    with pytest.raises(ConfigError, match=message):
        opts.check(opts.ConvertOptions(**change))


def test_defaults_pass_and_cli_shows_them():
    opts.check(opts.ConvertOptions())
    opts.check(opts.CsimOptions())
    parser = argparse.ArgumentParser()
    opts.add_arguments(parser, opts.ConvertOptions)
    text = parser.format_help()
    assert "(default: 5.0 ns)" in text and "(default: xcvu13p-flga2577-2-e)" in text and "(default: 2^-8)" in text
    args = parser.parse_args(["--reuse-factor", "4", "--part", "xcu250-figd2104-2L-e"])
    converted = opts.from_arguments(opts.ConvertOptions, args)
    assert converted.reuse_factor == 4 and converted.part == "xcu250-figd2104-2L-e"
    assert converted.clock_period == opts.CLOCK_NS
