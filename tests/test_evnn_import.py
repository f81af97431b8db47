"""Importing EvNN-trained layers: the checkpoint computes what the layers computed, and a model
that does not match the data set or the readout is refused with the reason."""

import pytest
import torch

from gen.cmd_demo import SHIPPED_MODEL
from sw import checkpoint
from sw.datasets import load
from sw.egru import EGRU
from sw.evnn_import import import_evnn


def test_imported_layers_give_the_same_classifier(tmp_path):
    model, blob = checkpoint.load(SHIPPED_MODEL)
    data = load(task="digits")
    # the shipped model's layer stands in for an evnn_pytorch.EGRU: same state-dict keys
    state = {k: v.clone() for k, v in model.rnns[0].state_dict().items()}
    metrics = import_evnn([state], model.readout.weight, model.readout.bias, data, str(tmp_path / "imp.pt"),
                          dropout=model.rnns[0].dropout, zoneout=model.rnns[0].zoneout)
    assert metrics["test_accuracy"] == blob["metrics"]["test_accuracy"]
    again, saved = checkpoint.load(str(tmp_path / "imp.pt"))
    x = torch.from_numpy(data.x_test[:20])
    with torch.no_grad():
        assert torch.equal(again(x)[0], model(x)[0])
    assert saved["data"] == data.record() and saved["train"]["hidden"] == 64


def test_mismatches_are_refused_with_the_reason(tmp_path):
    data = load(task="digits")
    layer = EGRU(8, 16, batch_first=True).state_dict()
    out = str(tmp_path / "x.pt")
    with pytest.raises(ValueError, match="16 features per step.*has 8"):
        import_evnn([EGRU(16, 16).state_dict()], torch.zeros(10, 16), torch.zeros(10), data, out)
    with pytest.raises(ValueError, match="3 classes, the data set 'digits' has 10"):
        import_evnn([layer], torch.zeros(3, 16), torch.zeros(3), data, out)
    with pytest.raises(ValueError, match=r"weight \[C, 16\]"):
        import_evnn([layer], torch.zeros(10, 15), torch.zeros(10), data, out)
    with pytest.raises(ValueError, match="layer 1 is not an EGRU layer"):
        import_evnn([layer, EGRU(16, 8).state_dict()], torch.zeros(10, 16), torch.zeros(10), data, out)
    with pytest.raises(ValueError, match="no EvNN 'kernel'"):
        import_evnn([{"weight": torch.zeros(3)}], torch.zeros(10, 16), torch.zeros(10), data, out)
    assert not (tmp_path / "x.pt").exists()  # nothing written for a refused import
