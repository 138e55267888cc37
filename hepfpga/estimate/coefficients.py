"""Coefficients of the resource and latency model (`hepfpga.estimate.model`), calibrated on Vitis HLS 2021.1
reports of 24 projects (docs/estimates.md); `tools/fit_estimate.py` fits the dense-layer ones again."""

#: Delay the scheduler assigns one adder level, a DSP multiplication, a LUT constant multiplication (ns).
ADDER_NS = 3.3
DSP_MULT_NS = 2.1
FABRIC_MULT_NS = 2.0
#: LUTs per accumulator bit per adder of a sum; per bit of a two-digit (one-adder) constant product; per
#: bit per extra digit of a constant product built in fabric.
LUT_PER_SUM_BIT = 1.18
LUT_PER_SHIFT_ADD_BIT = 1.0
LUT_PER_FABRIC_DIGIT_BIT = 1.6
#: Flip-flops per accumulator bit per adder (pipeline registers of the sums); per input bit per stage.
FF_PER_SUM_BIT = 1.48
FF_PER_INPUT_BIT_STAGE = 0.13
#: Share of registers saved when a layer starts a new input only every II > 1 cycles.
FF_SAVING_AT_II = 0.36
#: Cycles a queue on an allocation-limited multiplier adds (DSP / fabric).
LIMIT_EXTRA_CYCLES = {"dsp": 2, "fabric": 1}
#: Products of a constant weight with data at least this wide go to DSPs when the tool chooses (assumed:
#: the calibration set forces the choice; hls4ml's own DSP objective uses 9 bits).
DSP_MIN_DATA_BITS = 10
#: hls4ml documents 4096 multiplications as the limit of a fully unrolled Latency-strategy layer; beyond it
#: the HLS tool pipelines the input loop, this many inputs per cycle (one calibration layer, 196x56).
UNROLL_LIMIT = 4096
INPUTS_PER_CYCLE_BEYOND_LIMIT = 4
#: Element-wise casts (ReLU, linear): LUTs per bit of the input, of a rounding output, of a saturating one.
LUT_PER_CAST_BIT = 1.34
#: Softmax: fixed delay (ns) of its two table reads and, with a DSP, its final multiplication; LUTs and
#: flip-flops per class and input bit.
SOFTMAX_FIXED_NS = 14.5
SOFTMAX_DSP_NS = 8.5
SOFTMAX_LUT_PER_CLASS_BIT = 5.5
SOFTMAX_FF_PER_CLASS_BIT = 7.0
#: A 18x18 multiplication in fabric (LUTs), for variable x variable products not on a DSP.
LUT_PER_FABRIC_MULT_BIT2 = 1.1
#: ROMs up to this many bits stay in LUTs (64 bits per LUT); larger ones take 18 Kb block RAMs.
ROM_LUT_BITS = 4096
#: Block RAM shapes (depth, width) of one 18 Kb block.
BRAM_SHAPES = ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36))
#: FIFOs up to this many bits are shift registers in LUTs (32 bits per LUT), larger ones block RAM.
FIFO_LUT_BITS = 8192
