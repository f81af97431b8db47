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
