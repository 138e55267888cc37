"""Options of a design scan (`hepfpga scan`) besides the design space: data, workers, training, constraints."""

from __future__ import annotations

from dataclasses import dataclass

from hepfpga.options import CLOCK_NS, PART, option
from hepfpga.scan.point import Schedule


@dataclass
class ScanOptions:
    """Options of `scan` / `hepfpga scan` besides the design space."""

    events: int = option(100_000, "synthetic jets generated when no --data is given", low=1000)
    workers: int | None = option(None, "Dask worker processes of the local cluster (default: one per core)", low=1,
                                 high=256)
    scheduler: str | None = option(None, "address of a running Dask scheduler (e.g. tcp://host:8786) instead of a "
                                         "local cluster")
    part: str = option(PART, "FPGA part of the estimates and the recommendation", pattern=r"x[a-z0-9]+(-[a-z0-9]+)*")
    clock_period: float = option(CLOCK_NS, "target clock period", unit="ns", low=0.0, low_open=True, high=1000.0)
    teacher_epochs: int = option(30, "float teacher training epochs (early stopping)", low=1)
    float_epochs: int = option(20, "epochs of students trained from scratch (early stopping)", low=1)
    prune_epochs: int = option(8, "fine-tune epochs while pruning (or after removing neurons)", low=1)
    qat_epochs: int = option(8, "quantization-aware fine-tune epochs", low=1)
    batch_size: int = option(512, "training batch size", low=1)
    max_lut: float | None = option(None, "recommendation: at most this many LUTs", low=0)
    max_dsp: float | None = option(None, "recommendation: at most this many DSPs", low=0)
    max_latency_ns: float | None = option(None, "recommendation: at most this latency", unit="ns", low=0)
    accuracy_tolerance: float | None = option(None, "recommendation: the cheapest point at most this far below the "
                                              "best accuracy (default: one standard error on the test set)",
                                              unit="pp", low=0, high=100)
    seed: int = option(42, "seed of the data split and the teacher (each point has its own)")
    retry_failed: bool = option(False, "run points recorded as failed again")

    def schedule(self) -> Schedule:
        return Schedule(self.float_epochs, self.prune_epochs, self.qat_epochs, self.batch_size, self.part,
                        self.clock_period)
