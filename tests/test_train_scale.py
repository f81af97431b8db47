"""Wide and deep EGRUs train from the command line with the defaults: every layer fires from
the first epoch (thresholds calibrated at initialisation), and a layer that goes silent is
said."""

import json
import os
import subprocess
import sys

import pytest
import torch

from sw.datasets import load
from sw.train import CALIBRATION_SAMPLES, TrainConfig, build_egru

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def initial_activity(model, x) -> list[float]:
    with torch.no_grad():
        _, traces = model(torch.from_numpy(x))
    return [float(t.o.double().mean()) for t in traces]


@pytest.fixture(scope="module")
def digits():
    return load(task="digits")


@pytest.mark.parametrize("hidden,layers", [(256, 1), (256, 2), (128, 3)], ids=lambda v: str(v))
def test_every_layer_fires_at_initialisation(digits, hidden, layers):
    cfg = TrainConfig(hidden=hidden, layers=layers)
    torch.manual_seed(0)
    uncalibrated = build_egru(TrainConfig(hidden=hidden, layers=layers, init_activity=0.0), digits)
    assert min(initial_activity(uncalibrated, digits.x_train[:CALIBRATION_SAMPLES])) < cfg.init_activity
    torch.manual_seed(0)
    model = build_egru(cfg, digits)
    on_calibration = initial_activity(model, digits.x_train[:CALIBRATION_SAMPLES])
    assert all(a >= cfg.init_activity for a in on_calibration), on_calibration
    # and on data it did not see, every layer still fires
    assert all(a > cfg.init_activity / 2 for a in initial_activity(model, digits.x_test)), digits.x_test.shape


def test_a_layer_that_already_fires_is_left_as_evnn_drew_it(digits):
    """The default digits model (1 x 64) fires on 8% of its unit-steps: same thresholds, so the
    shipped checkpoints retrain to the same weights."""
    torch.manual_seed(0)
    plain = build_egru(TrainConfig(init_activity=0.0), digits)
    torch.manual_seed(0)
    calibrated = build_egru(TrainConfig(), digits)
    assert torch.equal(plain.rnns[0].thr, calibrated.rnns[0].thr)


def test_calibration_keeps_each_units_draw_only_smaller(digits):
    torch.manual_seed(0)
    plain = build_egru(TrainConfig(hidden=256, layers=2, init_activity=0.0), digits)
    torch.manual_seed(0)
    calibrated = build_egru(TrainConfig(hidden=256, layers=2), digits)
    for a, b in zip(plain.rnns, calibrated.rnns, strict=True):
        ratio = (b.thr / a.thr).detach()
        assert float(ratio.max()) < 1.0 and torch.allclose(ratio, ratio[0].expand_as(ratio))


@pytest.mark.parametrize("value", [-0.1, 0.5, float("nan")])
def test_a_bad_init_activity_is_refused(value):
    with pytest.raises(ValueError, match="init_activity must be in"):
        TrainConfig(init_activity=value)


def train(tmp_path, *args):
    proc = subprocess.run([sys.executable, "-m", "gen.cli", "train", "--task", "digits", "--out",
                           str(tmp_path / "m.pt"), "--json", "--quiet", *args], capture_output=True, text=True,
                          cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT), timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout), proc.stderr


@pytest.mark.slow
def test_two_layers_of_256_train_with_the_defaults(tmp_path):
    r, err = train(tmp_path, "--hidden", "256", "--layers", "2", "--epochs", "2")
    assert len(r["layer_activity"]) == 2 and min(r["layer_activity"]) > 0, r["layer_activity"]
    assert r["test_accuracy"] > 0.3  # chance is 0.1; before the calibration no unit fired and it stayed there
    assert "emitted no event" not in err


@pytest.mark.slow
def test_a_silent_layer_is_said(tmp_path):
    r, err = train(tmp_path, "--hidden", "256", "--layers", "2", "--epochs", "1", "--init-activity", "0")
    assert r["layer_activity"][1] == 0.0
    assert "egru: warning: EGRU layer 1 emitted no event in epoch 1" in err
    assert err.count("emitted no event") == 1


def test_mnist1d_is_a_built_in_task_generated_locally():
    import random

    import numpy as np

    from sw.datasets import TASKS, load_recorded
    assert "mnist1d" in TASKS
    random.seed(7)
    np.random.seed(7)
    expect = (random.random(), np.random.rand())
    random.seed(7)
    np.random.seed(7)
    d = load(task="mnist1d")
    assert (random.random(), np.random.rand()) == expect  # the generator's global seeding is undone
    assert d.x_train.shape == (4000, 40, 1) and d.x_test.shape == (1000, 40, 1) and d.num_classes == 10
    assert d.x_train.dtype == np.float32 and d.y_train.dtype == np.int64
    assert sorted(set(d.y_test.tolist())) == list(range(10))
    assert load_recorded(d.record()).sha256 == d.sha256  # generated again, bit for bit
