"""The threshold unit: H(0) = 0 in the forward pass, the triangular pseudo-derivative in the
backward pass, in isolation and inside the EGRU layer."""

import math

import pytest
import torch

from sw.egru import EGRU
from sw.spike import heaviside


def test_heaviside_is_zero_at_zero_and_below():
    v = torch.tensor([-1.0, -1e-30, 0.0, -0.0, 1e-30, 2.0])
    assert heaviside(v, 0.7, 1.0).tolist() == [0.0, 0.0, 0.0, 0.0, 1.0, 1.0]


@pytest.mark.parametrize("gamma,eps", [(0.7, 1.0), (0.3, 3.0), (1.0, 0.5)])
def test_pseudo_derivative_is_the_triangle(gamma, eps):
    points = [-2.5, -1.0, -0.4, 0.0, 0.2, 0.5, 0.9, 1.0, 2.0]
    v = torch.tensor(points, dtype=torch.float64, requires_grad=True)
    heaviside(v, gamma, eps).sum().backward()
    expected = [gamma * max(0.0, 1.0 - eps * abs(p)) for p in points]
    assert v.grad.tolist() == pytest.approx(expected, abs=1e-15)


def test_unit_exactly_on_its_threshold_stays_silent_and_is_not_reset():
    # All weights zero: u = sigmoid(b_u), g = tanh(b_g), c_hat = (1 - u) * g at step 1.
    layer = EGRU(1, 2).double().eval()
    with torch.no_grad():
        for p in (layer.kernel, layer.recurrent_kernel, layer.recurrent_bias):
            p.zero_()
        layer.bias.copy_(torch.tensor([0.0, 0.0, 0.0, 0.0, 1.0, 1.0]))
        layer.thr.fill_(1.0)  # above c_hat: no events, so c returns c_hat itself
    x = torch.zeros(1, 1, 1, dtype=torch.float64)
    c_hat = layer(x)[1][0][0, 0]
    with torch.no_grad():
        layer.thr.copy_(torch.stack([c_hat[0], torch.nextafter(c_hat[1], torch.tensor(-math.inf,
                                     dtype=torch.float64))]))
    y, (c, o, _) = layer(x)
    assert o[0, 0].tolist() == [0.0, 1.0]  # equal: silent; one ulp above: event
    assert c[0, 0, 0] == c_hat[0]           # silent unit keeps its state
    assert y[0, 0, 0] == 0.0 and y[0, 0, 1] == c_hat[1]
