"""The arithmetic specification (hw/spec.py): rounding, saturation, formats, lookup tables and
the configuration's validation, at their edges."""

import math

import pytest

from hw.spec import EGRUConfig, lut_index, make_lut, quantize_value, rshift_round, saturate, signed_bits


@pytest.mark.parametrize("v,s,expected", [
    (5, 1, 3), (4, 1, 2), (3, 1, 2), (-3, 1, -1), (-4, 1, -2), (-5, 1, -2),  # halves go up
    (7, 2, 2), (6, 2, 2), (5, 2, 1), (-6, 2, -1), (-7, 2, -2), (0, 3, 0),
    (3, 0, 3), (3, -2, 12), (-3, -1, -6),                                    # s <= 0 shifts left
])
def test_rshift_round_is_round_half_up(v, s, expected):
    assert rshift_round(v, s) == expected
    if s > 0:
        assert expected == math.floor(v / 2 ** s + 0.5)


def test_saturate_clamps_to_the_signed_range():
    assert [saturate(v, 8) for v in (-129, -128, 0, 127, 128, 10**9)] == [-128, -128, 0, 127, 127, 127]


def test_quantize_value_rounds_half_up_and_saturates():
    assert quantize_value(0.5, 1, 8) == 1
    assert quantize_value(-0.25, 1, 8) == 0      # -0.5 LSB rounds up to 0
    assert quantize_value(-0.75, 1, 8) == -1
    assert quantize_value(1.0, 7, 8) == 127      # 128 saturates
    assert quantize_value(-1.0, 7, 8) == -128


def test_signed_bits_holds_plus_and_minus_magnitude():
    for m in (1, 2, 127, 128, 255, 1 << 20):
        b = signed_bits(m)
        assert -(1 << (b - 1)) <= -m and m <= (1 << (b - 1)) - 1
        assert not (m <= (1 << (b - 2)) - 1)  # and it is the smallest such width


DIGITS = EGRUConfig(input_size=8, hidden_size=64, num_classes=10, kernel_frac=(5,), recurrent_frac=(5,))


@pytest.mark.parametrize("kind,fn,frac", [
    ("sigmoid", lambda z: 1 / (1 + math.exp(-z)), DIGITS.sigmoid_frac),
    ("tanh", math.tanh, DIGITS.tanh_frac),
])
@pytest.mark.parametrize("state_bits", [8, 12, 16])
def test_lut_error_within_documented_bound(kind, fn, frac, state_bits):
    """Inside the table's domain the error is at most half an output LSB plus the function's
    largest slope (1/4 for sigmoid, 1 for tanh) times half an input step (docs/arithmetic.md)."""
    cfg = EGRUConfig(input_size=1, hidden_size=1, num_classes=2, state_bits=state_bits,
                     state_frac=state_bits - 2)
    table = make_lut(kind, cfg)
    slope = 0.25 if kind == "sigmoid" else 1.0
    bound = 0.5 * 2.0 ** -cfg.state_frac + slope * 0.5 * 2.0 ** -frac
    half = 1 << (cfg.lut_bits - 1)
    worst = 0.0
    for p in range(-(half << (cfg.preact_frac - frac)), half << (cfg.preact_frac - frac), 7):
        z = p * 2.0 ** -cfg.preact_frac
        got = table[lut_index(p, cfg, frac)] * 2.0 ** -cfg.state_frac
        worst = max(worst, abs(got - fn(z)))
    assert worst <= bound
    assert table == sorted(table)  # monotonic, like the functions


def test_lut_saturates_beyond_its_domain():
    half = 1 << (DIGITS.lut_bits - 1)
    far = 100 << DIGITS.preact_frac
    assert lut_index(far, DIGITS, DIGITS.sigmoid_frac) == 2 * half - 1
    assert lut_index(-far, DIGITS, DIGITS.sigmoid_frac) == 0
    sig = make_lut("sigmoid", DIGITS)
    assert sig[0] == 0 + round(1 / (1 + math.exp(8)) * DIGITS.one) and sig[-1] <= DIGITS.one


def test_update_table_folds_eval_zoneout_into_the_gate():
    cfg = EGRUConfig(input_size=1, hidden_size=1, num_classes=2, zoneout=0.25)
    upd, sig = make_lut("update", cfg), make_lut("sigmoid", cfg)
    for a in (0, 100, 512, 1023):
        assert abs(upd[a] - (0.25 * cfg.one + 0.75 * sig[a])) <= 1
    assert make_lut("update", DIGITS) == make_lut("sigmoid", DIGITS)


def test_accumulator_cannot_overflow_at_the_extremes():
    for cfg in (DIGITS, EGRUConfig(input_size=300, hidden_size=500, num_classes=3, weight_bits=16,
                                   kernel_frac=(15,), recurrent_frac=(2,), input_bits=16, input_frac=0)):
        for layer in range(cfg.layers):
            w = 1 << (cfg.weight_bits - 1)        # |-2**(b-1)| is the largest magnitude
            x = 1 << (cfg.layer_input_bits(layer) - 1)
            y = 1 << (cfg.state_bits - 1)
            worst = (cfg.layer_input_size(layer) * x * w << cfg.input_shift(layer)) \
                + (cfg.hidden_size * y * w << cfg.recurrent_shift(layer))
            assert worst <= (1 << (cfg.acc_bits(layer) - 1)) - 1


@pytest.mark.parametrize("field,value,message", [
    ("weight_bits", 3, r"weight_bits must be an integer in \[4, 16\], got 3"),
    ("weight_bits", 17, r"weight_bits must be an integer in \[4, 16\], got 17"),
    ("state_bits", 7, r"state_bits must be an integer in \[8, 16\], got 7"),
    ("state_frac", 15, r"state_frac must be an integer in \[1, 14\], got 15"),
    ("hidden_size", 0, r"hidden_size must be an integer"),
    ("kernel_frac", (5, 5), r"kernel_frac must hold one entry per layer \(1\)"),
    ("memory", "banked", r"memory must be one of \('sparse', 'dense'\), got 'banked'"),
    ("zoneout", 1.0, r"zoneout must lie in \[0, 1\), got 1.0"),
    ("lanes", 0, r"lanes must be an integer in \[1, 64\], got 0"),
])
def test_bad_configuration_is_refused_by_name(field, value, message):
    kwargs = dict(input_size=8, hidden_size=64, num_classes=10)
    kwargs[field] = value
    with pytest.raises(ValueError, match=message):
        EGRUConfig(**kwargs)


def test_config_round_trips_through_a_dict():
    cfg = EGRUConfig(input_size=3, hidden_size=5, num_classes=4, layers=2, kernel_frac=(6, 7),
                     recurrent_frac=(5, 4), zoneout=0.1, lanes=4, memory="dense")
    assert EGRUConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown field\\(s\\) colour"):
        EGRUConfig.from_dict({**cfg.to_dict(), "colour": 1})
