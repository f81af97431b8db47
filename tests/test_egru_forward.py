"""The float EGRU computes DESIGN.md section 2 exactly: checked against a scalar float64
reference, for single and batched sequences, with y_0, batch_first and zoneout."""

import pytest
import torch

from sw.egru import EGRU
from tests.egru_reference import egru_reference

ATOL = 1e-12  # float64 on both sides; only summation order differs


def random_layer(I, H, seed, scale=1.5, **kwargs):
    torch.manual_seed(seed)
    layer = EGRU(I, H, **kwargs).double().eval()
    with torch.no_grad():
        layer.kernel.normal_(0.0, scale / I ** 0.5)
        layer.recurrent_kernel.normal_(0.0, scale / H ** 0.5)
        layer.bias.normal_(0.0, 0.5)
        layer.recurrent_bias.normal_(0.0, 0.5)
        layer.thr.uniform_(0.05, 0.6)
    return layer


def reference_for(layer, x_seq, y0=None):
    p = {k: v.tolist() for k, v in layer.named_parameters()}
    return egru_reference(x_seq.tolist(), p["kernel"], p["recurrent_kernel"], p["bias"],
                          p["recurrent_bias"], p["thr"], y0=y0, zoneout=layer.zoneout)


@pytest.mark.parametrize("I,H,T,N,seed", [(3, 5, 7, 1, 0), (4, 8, 10, 3, 1), (1, 6, 12, 2, 2)],
                         ids=["I3-H5-T7", "I4-H8-T10-batch3", "I1-H6-T12-batch2"])
def test_forward_equals_scalar_reference(I, H, T, N, seed):
    layer = random_layer(I, H, seed)
    x = torch.randn(T, N, I, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    y, (c, o, tr) = layer(x)
    assert y.shape == c.shape == o.shape == tr.shape == (T, N, H)
    events = 0
    for n in range(N):
        ry, rc, ro, rtr = (torch.tensor(a, dtype=torch.float64) for a in reference_for(layer, x[:, n]))
        assert torch.equal(o[:, n], ro), f"event pattern differs for sequence {n}"
        torch.testing.assert_close(y[:, n], ry, atol=ATOL, rtol=0)
        torch.testing.assert_close(c[:, n], rc, atol=ATOL, rtol=0)
        torch.testing.assert_close(tr[:, n], rtr, atol=ATOL, rtol=0)
        events += int(ro.sum())
    # the case is only a check if units both fire and stay silent
    assert 0 < events < T * N * H


def test_initial_state_y0_feeds_the_first_recurrent_product():
    layer = random_layer(3, 5, seed=4)
    x = torch.randn(6, 2, 3, dtype=torch.float64)
    y0 = torch.rand(2, 5, dtype=torch.float64)
    y, (c, o, tr) = layer(x, y0)
    for n in range(2):
        ry, rc, _, _ = reference_for(layer, x[:, n], y0=y0[n].tolist())
        torch.testing.assert_close(y[:, n], torch.tensor(ry, dtype=torch.float64), atol=ATOL, rtol=0)
    # and it matters: without y0 the first step differs
    assert not torch.equal(layer(x)[1][0][0], c[0])


def test_state_accepts_evnn_shape_with_leading_layer_axis():
    layer = random_layer(3, 5, seed=5)
    x = torch.randn(4, 2, 3, dtype=torch.float64)
    y0 = torch.rand(2, 5, dtype=torch.float64)
    assert torch.equal(layer(x, y0)[0], layer(x, y0[None])[0])


def test_batch_first_is_a_transpose_of_time_major():
    torch.manual_seed(6)
    tm = random_layer(3, 5, seed=6)
    bf = random_layer(3, 5, seed=6, batch_first=True)
    x = torch.randn(7, 4, 3, dtype=torch.float64)
    y_tm, rest_tm = tm(x)
    y_bf, rest_bf = bf(x.transpose(0, 1))
    assert y_bf.shape == (4, 7, 5)
    assert torch.equal(y_bf, y_tm.transpose(0, 1))
    for a, b in zip(rest_tm, rest_bf, strict=True):
        assert torch.equal(b, a.transpose(0, 1))


def test_zoneout_in_eval_mixes_old_and_new_state_like_evnn():
    layer = random_layer(3, 6, seed=7, zoneout=0.25)
    x = torch.randn(8, 1, 3, dtype=torch.float64)
    y, (c, o, tr) = layer(x)
    ry, rc, ro, _ = reference_for(layer, x[:, 0])
    assert torch.equal(o[:, 0], torch.tensor(ro, dtype=torch.float64))
    torch.testing.assert_close(c[:, 0], torch.tensor(rc, dtype=torch.float64), atol=ATOL, rtol=0)


def test_training_zoneout_keeps_some_states_and_dropconnect_changes_the_result():
    x = torch.randn(10, 4, 3, dtype=torch.float64)
    plain = random_layer(3, 6, seed=8)
    y_eval, (c_eval, _, _) = plain(x)
    # DropConnect acts only in training; in eval the layer is deterministic
    drop = random_layer(3, 6, seed=8, dropout=0.5)
    assert torch.equal(drop(x)[0], y_eval)
    drop.train()
    assert not torch.equal(drop(x)[1][0], c_eval)
    # with zoneout close to 1 in training nearly every unit keeps c = 0 from step to step
    zo = random_layer(3, 6, seed=8, zoneout=0.99).train()
    _, (c_zo, _, _) = zo(x)
    assert (c_zo == 0).float().mean() > 0.8


def test_thresholds_are_clamped_into_unit_interval_like_evnn():
    layer = random_layer(2, 3, seed=9)
    with torch.no_grad():
        layer.thr.copy_(torch.tensor([-0.5, 0.5, 1.5], dtype=torch.float64))
    layer(torch.zeros(1, 1, 2, dtype=torch.float64))
    assert layer.thr.tolist() == [0.0, 0.5, 1.0]


def test_wrong_input_size_and_state_shape_are_rejected():
    layer = EGRU(3, 5)
    with pytest.raises(ValueError, match="input has 4 features, the layer expects 3"):
        layer(torch.zeros(2, 1, 4))
    with pytest.raises(ValueError, match=r"state must have shape \[1, 5\]"):
        layer(torch.zeros(2, 1, 3), torch.zeros(1, 4))
    with pytest.raises(ValueError, match="input must be 3-D"):
        layer(torch.zeros(2, 3))
