"""Import an EGRU trained with EvNN (evnn_pytorch) as an `egru train` checkpoint.

`sw.egru.EGRU` has evnn_pytorch.EGRU's parameter names, shapes and state-dict keys, so an EvNN
layer's ``state_dict()`` loads as it is. The accelerator's classifier is stacked EGRU layers and
a linear readout of the sum over time of the last layer's event outputs y (sw/classifier.py);
an EvNN model with that readout imports exactly. The checkpoint this writes is what `egru
quantize` reads: the model, the data set it belongs to (for calibration, fine-tuning and the
test set) and training settings for the quantization-aware fine-tuning.
"""

import dataclasses

import torch

from sw import checkpoint
from sw.classifier import EGRUClassifier
from sw.datasets import SequenceDataset
from sw.train import TrainConfig, evaluate


def import_evnn(layers: list[dict], readout_weight: torch.Tensor, readout_bias: torch.Tensor,
                data: SequenceDataset, out: str, *, dropout: float = 0.0, zoneout: float = 0.0,
                train: TrainConfig | None = None) -> dict:
    """Build the classifier from EvNN layer state dicts (first layer first) and the readout
    (weight [C, H], bias [C], as torch.nn.Linear stores them), evaluate it on ``data``'s test
    split and write the checkpoint ``out``. ``dropout``/``zoneout`` are the layers' EvNN
    settings (zoneout changes the evaluation-time update). Returns the metrics it recorded.
    Raises ValueError naming the first thing that does not match."""
    if not layers:
        raise ValueError("import_evnn: no EGRU layers given")
    first = layers[0].get("kernel")
    if first is None or first.dim() != 2 or first.shape[1] % 3:
        raise ValueError("import_evnn: layer 0 has no EvNN 'kernel' [input_size, 3 * hidden_size]")
    input_size, hidden = first.shape[0], first.shape[1] // 3
    weight, bias = torch.as_tensor(readout_weight), torch.as_tensor(readout_bias)
    if weight.dim() != 2 or weight.shape[1] != hidden or bias.shape != (weight.shape[0],):
        raise ValueError(f"import_evnn: the readout must be weight [C, {hidden}] and bias [C], got "
                         f"{tuple(weight.shape)} and {tuple(bias.shape)}")
    if data.features != input_size:
        raise ValueError(f"import_evnn: the model takes {input_size} features per step, the data set "
                         f"{data.name!r} has {data.features}")
    if data.num_classes != weight.shape[0]:
        raise ValueError(f"import_evnn: the readout has {weight.shape[0]} classes, the data set "
                         f"{data.name!r} has {data.num_classes}")
    model = EGRUClassifier(input_size, hidden, weight.shape[0], layers=len(layers),
                           dropout=dropout, zoneout=zoneout)
    for i, state in enumerate(layers):
        try:
            model.rnns[i].load_state_dict(state)
        except RuntimeError as e:
            raise ValueError(f"import_evnn: layer {i} is not an EGRU layer of this size ({e})") from None
    with torch.no_grad():
        model.readout.weight.copy_(weight)
        model.readout.bias.copy_(bias)
    model.eval()
    settings = train or TrainConfig(hidden=hidden, layers=len(layers), dropout=dropout, zoneout=zoneout)
    test = evaluate(model, data.x_test, data.y_test)
    metrics = {"test_accuracy": test["accuracy"], "activity": test["activity"],
               "backward_sparsity": test["backward_sparsity"], "imported": "evnn", "out": out}
    checkpoint.save(out, model, data=data.record(), train=dataclasses.asdict(settings), metrics=metrics)
    return metrics
