"""`python -m hepfpga.cli`: the `hepfpga` command."""

import sys

from hepfpga.cli import main

sys.exit(main())
