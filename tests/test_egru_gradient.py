"""The surrogate gradient of the EGRU equals the analytic formula, written out by hand for one
step, and BPTT through R touches only the rows of units that emitted an event (sparse BPTT)."""

import torch

from sw.egru import EGRU

GAMMA, EPS = 0.7, 2.0


def one_step_case(seed=0, I=3, H=12):
    torch.manual_seed(seed)
    layer = EGRU(I, H, dampening_factor=GAMMA, pseudo_derivative_support=EPS).double().train()
    with torch.no_grad():
        layer.kernel.normal_(0, 1.0)
        layer.bias.normal_(0, 0.5)
        layer.recurrent_bias.normal_(0, 0.5)
        layer.thr.uniform_(0.0, 0.7)
    x = torch.randn(1, 1, I, dtype=torch.float64)
    return layer, x


def test_one_step_gradients_match_the_hand_derivation():
    layer, x = one_step_case()
    H = layer.hidden_size
    w_y = torch.randn(H, dtype=torch.float64)
    w_c = torch.randn(H, dtype=torch.float64)
    y, (c, o, _) = layer(x)
    (y[0, 0] @ w_y + c[0, 0] @ w_c).backward()

    with torch.no_grad():
        W, bx, br, thr = layer.kernel, layer.bias, layer.recurrent_bias, layer.thr
        a = x[0, 0] @ W + bx
        a_u, a_r, a_g = a.chunk(3)
        b_u, b_r, b_g = br.chunk(3)  # y_0 = 0: the recurrent product is the bias alone
        u, r = torch.sigmoid(a_u + b_u), torch.sigmoid(a_r + b_r)
        g = torch.tanh(a_g + r * b_g)
        c_hat = (1 - u) * g
        v = c_hat - thr
        fire = (v > 0).double()
        # the layer keeps gamma and eps as float32 buffers (EvNN's state-dict format)
        gamma, eps = float(layer.dampening_factor), float(layer.pseudo_derivative_support)
        psi = gamma * torch.clamp(1 - eps * v.abs(), min=0)
        # y = H(v) c_hat and c = c_hat - H(v) thr, with dH/dv := psi
        dL_dchat = w_y * (fire + c_hat * psi) + w_c * (1 - thr * psi)
        dL_dthr = -w_y * c_hat * psi - w_c * fire + w_c * thr * psi
        d_au = dL_dchat * (-g * u * (1 - u))
        d_ag = dL_dchat * (1 - u) * (1 - g * g)
        d_ar = dL_dchat * (1 - u) * (1 - g * g) * b_g * r * (1 - r)
        d_bias = torch.cat([d_au, d_ar, d_ag])
        d_rbias = torch.cat([d_au, d_ar, d_ag * r])

    # the case exercises firing, silent-with-gradient and zero-gradient units
    assert fire.sum() > 0 and (fire == 0).sum() > 0 and (psi == 0).sum() > 0 and (psi > 0).sum() > 0
    torch.testing.assert_close(layer.thr.grad, dL_dthr, atol=1e-12, rtol=0)
    torch.testing.assert_close(layer.bias.grad, d_bias, atol=1e-12, rtol=0)
    torch.testing.assert_close(layer.recurrent_bias.grad, d_rbias, atol=1e-12, rtol=0)
    torch.testing.assert_close(layer.kernel.grad, x[0, 0, :, None] * d_bias[None, :], atol=1e-12, rtol=0)
    # y_0 = 0: no event reached R yet, so R gets no gradient at all
    assert torch.count_nonzero(layer.recurrent_kernel.grad) == 0


def test_units_outside_the_support_pass_no_gradient_to_their_threshold():
    layer, x = one_step_case(seed=1)
    y, (c, o, _) = layer(x)
    y.sum().backward()
    v = layer.pre_threshold(c[0, 0], o[0, 0]).detach()
    outside = v.abs() >= 1 / EPS
    assert outside.any()
    assert torch.all(layer.thr.grad[outside] == 0)


def test_recurrent_weights_get_gradient_only_in_rows_of_units_that_fired():
    torch.manual_seed(3)
    layer = EGRU(4, 10, pseudo_derivative_support=EPS).double().train()
    with torch.no_grad():
        layer.thr.uniform_(0.2, 0.5)
        layer.kernel.mul_(3)
    x = torch.randn(2, 5, 4, dtype=torch.float64)
    y, (c, o, _) = layer(x)
    (y[1].sum() + c[1].pow(2).sum()).backward()
    fired_at_step_0 = o[0].sum(dim=0) > 0  # any sequence of the batch
    assert fired_at_step_0.any() and (~fired_at_step_0).any()
    grad_rows = layer.recurrent_kernel.grad.abs().sum(dim=1) > 0
    assert torch.equal(grad_rows, fired_at_step_0)
