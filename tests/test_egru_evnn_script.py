"""The floor of the EvNN contract: an EvNN-style script (tests/evnn_style_script.py: two and
more chunked calls with carried state, grad_clip=1.0, all of EvNN's constructor keywords and
methods) runs unchanged with sw.egru.EGRU standing in for evnn_pytorch.EGRU, trains, and its
gradients are clipped per call as EvNN clips them."""

import os
import runpy
import sys
import types

import pytest
import torch

from sw.egru import EGRU

SCRIPT = os.path.join(os.path.dirname(__file__), "evnn_style_script.py")


@pytest.fixture(scope="module")
def script():
    """The script's module namespace, imported with `evnn_pytorch` resolving to our EGRU."""
    fake = types.ModuleType("evnn_pytorch")
    fake.EGRU = EGRU
    saved = sys.modules.get("evnn_pytorch")
    sys.modules["evnn_pytorch"] = fake
    try:
        yield runpy.run_path(SCRIPT, run_name="evnn_style_script")
    finally:
        if saved is None:
            del sys.modules["evnn_pytorch"]
        else:
            sys.modules["evnn_pytorch"] = saved


@pytest.fixture(scope="module")
def trained(script):
    return script["main"]()


def test_the_evnn_script_runs_unchanged_and_learns(trained):
    losses = trained["losses"]
    assert all(torch.isfinite(torch.tensor(losses)))
    assert sum(losses[-8:]) / 8 < 0.6 * sum(losses[:8]) / 8
    assert trained["accuracy"] > 0.8  # chance is 0.5
    thr = trained["model"].rnn.thr.detach()
    assert float(thr.min()) >= 0.0 and float(thr.max()) <= 1.0
    assert trained["clone_agrees"]


def test_the_scripts_gradients_are_clipped_per_call(script, trained):
    """Three chunks, each call's layer gradients scaled to a joint norm <= 1.0, so the layer's
    parameters get a gradient of norm <= 3.0; unclipped they are far larger on this batch."""
    model = trained["model"]
    x, y = trained["batch"]
    chunks = -(-x.shape[1] // script["BPTT"])
    assert chunks == 3
    model.train()

    def layer_grad_norm():
        torch.manual_seed(0)  # the same DropConnect and zoneout draws both times
        model.zero_grad()
        logits, rate = script["run_model"](model, x)
        (torch.nn.functional.cross_entropy(logits, y, reduction="sum") + rate).backward()
        return torch.stack([p.grad.norm() for p in model.rnn.parameters()]).norm().item()

    clipped = layer_grad_norm()
    model.rnn.grad_clip_norm(False)
    unclipped = layer_grad_norm()
    model.rnn.grad_clip_norm(True, 1.0)
    assert unclipped > 3.0 and clipped <= 3.0 + 1e-5
