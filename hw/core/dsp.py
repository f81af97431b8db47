"""A signed multiplier with registered operands and product, built as the target's DSP block.

Why a component of its own: on ECP5 Yosys maps a multiplication onto a MULT18X18D but leaves the
registers around it in the fabric, and merges equal registers of different lanes into one. The
MAC lanes' copies of the event value became one register driving every lane's multipliers
across the chip, which limited the deep pipeline at P = 8 (docs/synthesis.md). A MULT18X18D
instantiated with its own input and output registers keeps a copy of each operand inside every
DSP block, so the paths into and out of the multiplier are a register's, and the multiplier's
own delay is inside the block.
"""

from amaranth.hdl import ClockSignal, Instance, Module, Shape, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hw.fixed import reject

DSP_PRIMITIVES = {"ecp5": "MULT18X18D"}
"""Device family -> the DSP primitive RegisteredMultiplier instantiates for it."""
DSP_FAMILIES = tuple(DSP_PRIMITIVES)

ECP5_WIDTH = 18
"""The MULT18X18D's operand width (signed)."""


class DspPlatform:
    """The ``platform`` handed to ``elaborate`` when the Verilog is for synthesis on ``family``:
    it carries nothing but the family, for the components that build a primitive of it.
    Simulation and the generic Verilog elaborate with ``platform=None``."""

    def __init__(self, family: str):
        if family not in DSP_FAMILIES:
            raise ValueError(f"DspPlatform: family must be one of {', '.join(DSP_FAMILIES)}, got {family!r}")
        self.dsp_family = family

    def __repr__(self):
        return f"DspPlatform({self.dsp_family!r})"


def dsp_family(platform) -> str | None:
    """The DSP family a platform asks for (None: generic logic, Yosys infers the multiplier)."""
    return getattr(platform, "dsp_family", None)


def dsp_platform(family: str):
    """The platform to elaborate a design for synthesis on ``family`` with: a DspPlatform where
    this package instantiates the family's DSP primitive, else None (generic Verilog)."""
    return DspPlatform(family) if family in DSP_FAMILIES else None


def dsp_primitive(family: str) -> str:
    """What a design elaborated for ``family`` multiplies with, for reports and run stamps:
    the primitive's name, or "inferred" (Yosys maps generic multiplications)."""
    return DSP_PRIMITIVES.get(family, "inferred")


class RegisteredMultiplier(wiring.Component):
    """``p`` = ``a`` x ``b``, signed, two cycles later: the operands are registered, then the
    product. Latency 2, throughput one product per cycle; no reset and no enable (a caller
    tells valid products apart with a valid flag of its own).

    With ``platform=None`` the registers and the multiplication are generic logic. With a
    DspPlatform("ecp5") and operands of at most 18 bits it is one MULT18X18D with its A, B and
    output registers on CLK0 (REG_INPUTA/B_CLK, REG_OUTPUT_CLK), which nextpnr times as such;
    wider operands stay generic (Yosys splits the product over several blocks). ``p`` is as
    wide as the exact product, ``a``'s width plus ``b``'s.
    """

    LATENCY = 2

    def __init__(self, a_shape, b_shape):
        shapes = []
        for name, shape in (("a_shape", a_shape), ("b_shape", b_shape)):
            try:
                shape = Shape.cast(shape)
            except TypeError:
                reject(self, TypeError(f"RegisteredMultiplier: {name} must be a shape, got {shape!r}"))
            if not shape.signed or shape.width < 2:
                reject(self, ValueError(f"RegisteredMultiplier: {name} must be signed and at least 2 bits wide, "
                                        f"got {shape!r}"))
            shapes.append(shape)
        self._a_shape, self._b_shape = shapes
        super().__init__({"a": In(self._a_shape), "b": In(self._b_shape),
                          "p": Out(signed(self._a_shape.width + self._b_shape.width))})

    def uses_primitive(self, platform) -> bool:
        """Whether elaborating for ``platform`` instantiates the DSP primitive."""
        return dsp_family(platform) == "ecp5" and max(self._a_shape.width, self._b_shape.width) <= ECP5_WIDTH

    def elaborate(self, platform):
        m = Module()
        if self.uses_primitive(platform):
            a, b = Signal(signed(ECP5_WIDTH), name="dsp_a"), Signal(signed(ECP5_WIDTH), name="dsp_b")
            p = Signal(signed(2 * ECP5_WIDTH), name="dsp_p")
            m.d.comb += [a.eq(self.a), b.eq(self.b), self.p.eq(p)]  # sign-extended in; the exact product out
            ports = {f"i_A{i}": a[i] for i in range(ECP5_WIDTH)}
            ports.update({f"i_B{i}": b[i] for i in range(ECP5_WIDTH)})
            ports.update({f"i_C{i}": 0 for i in range(ECP5_WIDTH)})
            ports.update({f"o_P{i}": p[i] for i in range(2 * ECP5_WIDTH)})
            registered = {f"p_REG_{reg}_{what}": value for reg in ("INPUTA", "INPUTB", "OUTPUT")
                          for what, value in (("CLK", "CLK0"), ("CE", "CE0"), ("RST", "RST0"))}
            m.submodules.mult = Instance(
                "MULT18X18D", **registered,
                p_REG_INPUTC_CLK="NONE", p_REG_PIPELINE_CLK="NONE", p_GSR="DISABLED", p_RESETMODE="SYNC",
                p_MULT_BYPASS="DISABLED", p_SOURCEB_MODE="B_SHIFT", p_CAS_MATCH_REG="FALSE",
                i_CLK0=ClockSignal(), i_CE0=1, i_RST0=0, i_SIGNEDA=1, i_SIGNEDB=1, i_SOURCEA=0, i_SOURCEB=0,
                **ports)
        else:
            a = Signal(self._a_shape, name="a_q", reset_less=True)
            b = Signal(self._b_shape, name="b_q", reset_less=True)
            p = Signal(self.p.shape(), name="p_q", reset_less=True)
            m.d.sync += [a.eq(self.a), b.eq(self.b), p.eq(a * b)]
            m.d.comb += self.p.eq(p)
        return m
