"""EvNN's contract: constructor arguments and their validation, parameter names and shapes,
and state dicts that move between evnn_pytorch and this EGRU in both directions."""

import pytest
import torch

from sw.egru import EGRU


# The keys evnn_pytorch.EGRU(I, H).state_dict() holds (EvNN 0.2), with their shapes.
def evnn_state_dict(I, H, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {
        "kernel": torch.randn(I, 3 * H, generator=g),
        "recurrent_kernel": torch.randn(H, 3 * H, generator=g),
        "bias": torch.randn(3 * H, generator=g),
        "recurrent_bias": torch.randn(3 * H, generator=g),
        "dampening_factor": torch.tensor([0.5]),
        "pseudo_derivative_support": torch.tensor([2.0]),
        "_max_norm": torch.tensor([-1.0]),
        "thr": torch.rand(H, generator=g),
    }


def test_parameters_have_evnn_names_and_layout():
    layer = EGRU(5, 7)
    shapes = {k: tuple(v.shape) for k, v in layer.named_parameters()}
    assert shapes == {"kernel": (5, 21), "recurrent_kernel": (7, 21), "bias": (21,),
                      "recurrent_bias": (21,), "thr": (7,)}


def test_loads_an_evnn_state_dict_strictly_and_uses_its_settings():
    sd = evnn_state_dict(4, 6)
    layer = EGRU(4, 6)
    layer.load_state_dict(sd, strict=True)
    for k in ("kernel", "recurrent_kernel", "bias", "recurrent_bias", "thr"):
        assert torch.equal(getattr(layer, k), sd[k])
    assert float(layer.dampening_factor) == 0.5
    assert float(layer.pseudo_derivative_support) == 2.0


def test_our_state_dict_has_exactly_evnns_keys_and_shapes():
    ours = EGRU(4, 6).state_dict()
    theirs = evnn_state_dict(4, 6)
    assert {k: tuple(v.shape) for k, v in ours.items()} == {k: tuple(v.shape) for k, v in theirs.items()}


def test_thresholds_start_near_thr_mean():
    torch.manual_seed(0)
    assert EGRU(2, 4000, thr_mean=0.2).thr.mean().item() == pytest.approx(0.2, abs=0.01)


@pytest.mark.parametrize("value", [0.0, 1.0, -0.1, 1.5])
def test_thr_mean_outside_open_unit_interval_is_rejected(value):
    with pytest.raises(ValueError, match=rf"thr_mean must lie in \(0, 1\), got {value}"):
        EGRU(3, 4, thr_mean=value)


@pytest.mark.parametrize("name,bad", [("input_size", -1), ("input_size", 0), ("hidden_size", -5),
                                      ("hidden_size", 2.5), ("hidden_size", True)])
def test_sizes_must_be_positive_integers(name, bad):
    sizes = {"input_size": 3, "hidden_size": 4, name: bad}
    with pytest.raises(ValueError, match=rf"{name} must be a positive integer, got {bad!r}"):
        EGRU(**sizes)


@pytest.mark.parametrize("name", ["dropout", "zoneout"])
@pytest.mark.parametrize("value", [-0.1, 1.0, 2])
def test_regulariser_rates_must_be_probabilities(name, value):
    with pytest.raises(ValueError, match=rf"{name} must be a probability in \[0, 1\), got {value}"):
        EGRU(3, 4, **{name: value})


@pytest.mark.parametrize("name", ["dampening_factor", "pseudo_derivative_support"])
def test_surrogate_settings_must_be_positive(name):
    with pytest.raises(ValueError, match=rf"{name} must be a positive number, got 0"):
        EGRU(3, 4, **{name: 0})


# --- Calls that share one layer: chunked sequences and per-step calls (EvNN's usage) ---------

def random_double_layer(seed=0, I=3, H=6, **kwargs):
    """A float64 layer in training mode with weights large enough that units fire."""
    torch.manual_seed(seed)
    layer = EGRU(I, H, **kwargs).double().train()
    with torch.no_grad():
        layer.kernel.normal_(0.0, 1.5 / I ** 0.5)
        layer.recurrent_kernel.normal_(0.0, 1.5 / H ** 0.5)
        layer.bias.normal_(0.0, 0.5)
        layer.recurrent_bias.normal_(0.0, 0.5)
        layer.thr.uniform_(0.05, 0.6)
    return layer


def chunk_loss(y, c, o, tr, w):
    """A loss that reaches every output of a call (o through its pseudo-derivative)."""
    return (y * w).sum() + (c * c).sum() + (o * w).sum() + tr.sum()


def run_chunks(layers, x, sizes, w):
    """Run the chunks of ``x`` ([T, N, I]) through ``layers`` (one per chunk), each starting
    from the previous chunk's last event output (EvNN carries only y), and sum the losses."""
    state, loss, t = None, 0.0, 0
    for layer, n in zip(layers, sizes, strict=True):
        y, (c, o, tr) = layer(x[t:t + n], state)
        loss = loss + chunk_loss(y, c, o, tr, w[t:t + n])
        state, t = y[-1:], t + n
    return loss


PARAMS = ("kernel", "recurrent_kernel", "bias", "recurrent_bias", "thr")


@pytest.mark.parametrize("sizes", [(4, 4), (3, 5), (1,) * 8], ids=["two-chunks", "uneven", "per-step"])
def test_backward_through_several_calls_of_one_layer(sizes):
    """Two (or eight) calls of one layer back-propagate, and the layer's gradient is the sum of
    the gradients that separate copies of it get for their calls (the chain rule)."""
    import copy
    layer = random_double_layer()
    x = torch.randn(8, 2, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    w = torch.randn(8, 2, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    copies = [copy.deepcopy(layer) for _ in sizes]

    shared = run_chunks([layer] * len(sizes), x, sizes, w)
    shared.backward()  # raised "modified by an inplace operation" while thr was clamped in place
    separate = run_chunks(copies, x, sizes, w)
    separate.backward()

    assert shared.item() == separate.item()
    for name in PARAMS:
        expected = sum(getattr(c, name).grad for c in copies)
        torch.testing.assert_close(getattr(layer, name).grad, expected, atol=1e-12, rtol=0)
    assert torch.count_nonzero(layer.recurrent_kernel.grad) > 0


def test_thresholds_are_still_clamped_before_each_call():
    layer = EGRU(2, 3)
    with torch.no_grad():
        layer.thr.copy_(torch.tensor([-0.5, 0.5, 1.5]))
    layer(torch.zeros(1, 1, 2))
    assert layer.thr.tolist() == [0.0, 0.5, 1.0]


# --- grad_clip: EvNN's max-norm rule, applied per call in the backward pass ------------------

def clipped_grads_reference(layer, x, sizes, w, max_norm):
    """EvNN's rule, computed from an unclipped copy of ``layer``: in each call's backward, the
    gradients of the initial state y_0, W, R, b_x, b_r and thr are scaled by
    min(1, max_norm / (||(|dy_0|, |dW|, |dR|, |db_x|, |db_r|, |dthr|)|| + 1e-6)); the input's
    gradient is not. Calls are walked last to first, each passing its scaled dy_0 back into the
    previous call's last output. Returns (parameter gradients, input gradient, scale per call)."""
    import copy
    ref = copy.deepcopy(layer)
    ref.grad_clip_norm(enable=False)
    H, N = layer.hidden_size, x.shape[1]
    x = x.detach().clone().requires_grad_()
    calls, state, t = [], torch.zeros(1, N, H, dtype=x.dtype, requires_grad=True), 0
    for n in sizes:
        y, (c, o, tr) = ref(x[t:t + n], state)
        calls.append((state, y, chunk_loss(y, c, o, tr, w[t:t + n])))
        state, t = y[-1:].detach().requires_grad_(), t + n
    params = [getattr(ref, k) for k in PARAMS]
    grads = {k: torch.zeros_like(p) for k, p in zip(PARAMS, params, strict=True)}
    dx, carry, scales = torch.zeros_like(x), None, []
    for state, y, loss in reversed(calls):
        total = loss if carry is None else loss + (carry * y[-1:]).sum()
        d_state, *d_params, d_x = torch.autograd.grad(total, [state, *params, x])
        norm = torch.stack([g.norm() for g in (d_state, *d_params)]).norm()
        scale = min(1.0, max_norm / (norm.item() + 1e-6))
        for k, g in zip(PARAMS, d_params, strict=True):
            grads[k] += scale * g
        dx += d_x
        carry = scale * d_state
        scales.append(scale)
    return grads, dx, scales


@pytest.mark.parametrize("sizes", [(8,), (4, 4), (1,) * 8], ids=["one-call", "two-chunks", "per-step"])
def test_grad_clip_scales_each_calls_gradients_by_evnns_rule(sizes):
    max_norm = 0.5
    layer = random_double_layer(grad_clip=max_norm)
    x = torch.randn(8, 2, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    w = torch.randn(8, 2, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    expected, expected_dx, scales = clipped_grads_reference(layer, x, sizes, w, max_norm)
    assert min(scales) < 0.5  # the case clips (and, for several calls, by a different factor each)
    if len(sizes) > 1:
        assert max(scales) - min(scales) > 1e-3

    xg = x.clone().requires_grad_()
    run_chunks([layer] * len(sizes), xg, sizes, w).backward()
    for name in PARAMS:
        torch.testing.assert_close(getattr(layer, name).grad, expected[name], atol=1e-12, rtol=0)
    torch.testing.assert_close(xg.grad, expected_dx, atol=1e-12, rtol=0)


def test_grad_clip_leaves_small_gradients_alone_and_off_means_off():
    x = torch.randn(8, 2, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    w = torch.randn(8, 2, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    grads = {}
    for clip in (None, 1e6, 0.5):
        layer = random_double_layer(grad_clip=clip)
        run_chunks([layer], x, (8,), w).backward()
        grads[clip] = layer.kernel.grad
    assert torch.equal(grads[None], grads[1e6])
    assert grads[0.5].norm() < 0.5 * grads[None].norm()


def test_grad_clip_norm_switches_clipping_and_travels_in_the_state_dict():
    layer = EGRU(3, 4)
    assert float(layer._max_norm) == -1.0 and not layer._enable_grad_clip
    layer.grad_clip_norm(enable=True, norm=0.25)
    assert float(layer._max_norm) == 0.25 and layer._enable_grad_clip
    other = EGRU(3, 4)
    other.load_state_dict(layer.state_dict(), strict=True)
    assert other._enable_grad_clip  # EvNN's kernels clip whenever _max_norm > 0
    layer.grad_clip_norm(False)
    assert float(layer._max_norm) == -1.0 and not layer._enable_grad_clip
    assert float(EGRU(3, 4, grad_clip=2.0)._max_norm) == 2.0
    assert float(EGRU(3, 4, grad_clip=0)._max_norm) == -1.0  # EvNN: a false grad_clip is off


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf"), True, "1"])
def test_bad_grad_clip_is_refused(bad):
    with pytest.raises(ValueError, match=r"grad_clip must be None or a positive number"):
        EGRU(3, 4, grad_clip=bad)
    with pytest.raises(ValueError, match=r"grad_clip_norm: norm must be a positive number"):
        EGRU(3, 4).grad_clip_norm(enable=True, norm=bad)


# --- EvNN's other keywords and methods -------------------------------------------------------

@pytest.mark.parametrize("flag", [False, True])
def test_return_state_sequence_is_kept_and_states_are_every_steps_as_in_evnn_0_2(flag):
    layer = EGRU(3, 4, batch_first=True, return_state_sequence=flag, use_custom_cuda=True)
    assert layer.return_state_sequence is flag and layer.use_custom_cuda is True
    y, (c, o, tr) = layer(torch.randn(2, 5, 3))
    assert y.shape == c.shape == o.shape == tr.shape == (2, 5, 4)


def test_use_custom_cuda_false_computes_the_same():
    torch.manual_seed(0)
    a = EGRU(3, 4)
    b = EGRU(3, 4, use_custom_cuda=False)
    b.load_state_dict(a.state_dict(), strict=True)
    x = torch.randn(6, 2, 3)
    assert torch.equal(a(x)[0], b(x)[0]) and b.use_custom_cuda is False


def test_reset_parameters_redraws_evnns_initialisation_and_keeps_thresholds():
    torch.manual_seed(3)
    fresh = EGRU(5, 7, weight_initialization_gain=0.5)
    layer = EGRU(5, 7, weight_initialization_gain=0.5)
    with torch.no_grad():
        for p in layer.parameters():
            p.fill_(0.25)
    torch.manual_seed(3)
    layer.reset_parameters()
    for name in ("kernel", "recurrent_kernel"):
        assert torch.equal(getattr(layer, name), getattr(fresh, name))  # the constructor's draws
    assert not layer.bias.any() and not layer.recurrent_bias.any()
    assert torch.equal(layer.thr, torch.full((7,), 0.25))


def test_native_weights_have_evnns_layout_and_round_trip():
    torch.manual_seed(0)
    layer = EGRU(3, 4)
    with torch.no_grad():
        layer.bias.normal_()
        layer.recurrent_bias.normal_()
    w_ih, w_hh, b_ih, b_hh, thr = layer.to_native_weights()
    assert all(isinstance(t, torch.nn.Parameter) for t in (w_ih, w_hh, b_ih, b_hh, thr))
    assert torch.equal(w_ih, layer.kernel.t()) and torch.equal(w_hh, layer.recurrent_kernel.t())
    assert torch.equal(b_ih, layer.bias) and torch.equal(b_hh, layer.recurrent_bias)
    assert torch.equal(thr, layer.thr) and thr.data_ptr() != layer.thr.data_ptr()
    # torch.nn.GRU's shapes: weight_ih_l0 [3H, I], weight_hh_l0 [3H, H]
    gru = torch.nn.GRU(3, 4)
    assert w_ih.shape == gru.weight_ih_l0.shape and w_hh.shape == gru.weight_hh_l0.shape

    other = EGRU(3, 4)
    kernel = other.kernel
    other.from_native_weights(w_ih, w_hh, b_ih, b_hh, thr)
    assert other.kernel is kernel  # copied into the parameter an optimizer holds
    x = torch.randn(5, 2, 3)
    assert torch.equal(other(x)[0], layer(x)[0])


def test_from_native_weights_refuses_wrong_shapes_and_changes_nothing():
    layer = EGRU(3, 4)
    before = {k: v.clone() for k, v in layer.state_dict().items()}
    w_ih, w_hh, b_ih, b_hh, thr = EGRU(3, 4).to_native_weights()
    with pytest.raises(ValueError, match=r"weight_hh_l0 must have shape \[12, 4\], got \[4, 12\]"):
        layer.from_native_weights(w_ih, w_hh.t(), b_ih, b_hh, thr)
    with pytest.raises(ValueError, match=r"thr must have shape \[4\], got \[5\]"):
        layer.from_native_weights(w_ih, w_hh, b_ih, b_hh, torch.zeros(5))
    assert all(torch.equal(v, before[k]) for k, v in layer.state_dict().items())
