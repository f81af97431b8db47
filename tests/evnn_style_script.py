"""A training script written the way an EvNN user writes one (EvNN's README and its
benchmarks/lm model: ``import evnn_pytorch as evnn``, every constructor keyword, truncated BPTT
in chunks that carry the last event output as the next chunk's state, grad_clip=1.0). It is
kept word for word as such a script; tests/test_egru_evnn_script.py runs it with sw.egru.EGRU
standing in for evnn_pytorch.EGRU. Not a pytest module (no test_ prefix)."""

import evnn_pytorch as evnn
import torch
import torch.nn as nn
import torch.nn.functional as F

INPUT_SIZE, HIDDEN, CLASSES, STEPS, BPTT = 4, 32, 2, 12, 4


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = evnn.EGRU(INPUT_SIZE, HIDDEN, batch_first=True, dropout=0.1, zoneout=0.05,
                             dampening_factor=0.7, pseudo_derivative_support=1.0, thr_mean=0.3,
                             weight_initialization_gain=1.0, return_state_sequence=False,
                             grad_clip=1.0, use_custom_cuda=True)
        self.fc = nn.Linear(HIDDEN, CLASSES)

    def forward(self, x, state=None):
        output, (c, o, trace) = self.rnn(x, state)
        # the network outputs full states, but takes only the last output as the next state
        return output, o, torch.unsqueeze(output[:, -1], dim=0)


def make_data(n, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, STEPS, INPUT_SIZE, generator=g)
    y = (x[:, :, 0].sum(dim=1) > 0).long()
    return x, y


def run_model(model, x):
    """Chunked forward over the whole sequence; returns logits and the mean event rate."""
    state, pooled, rate = None, 0.0, 0.0
    for chunk in x.split(BPTT, dim=1):
        output, o, state = model(chunk, state)
        pooled = pooled + output.sum(dim=1)
        rate = rate + o.mean()
    return model.fc(pooled), rate


def main(epochs=15, seed=0):
    torch.manual_seed(seed)
    model = Model()
    model.rnn.reset_parameters()
    x_train, y_train = make_data(512, seed)
    x_test, y_test = make_data(256, seed + 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    losses = []
    for _ in range(epochs):
        model.train()
        for i in range(0, len(x_train), 64):
            logits, rate = run_model(model, x_train[i:i + 64])
            loss = F.cross_entropy(logits, y_train[i:i + 64]) + 0.01 * rate
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    model.eval()
    with torch.no_grad():
        accuracy = (run_model(model, x_test)[0].argmax(dim=1) == y_test).float().mean().item()

    # export the layer and load it into a fresh one, as EvNN's to/from_native_weights allow
    weights = model.rnn.to_native_weights()
    clone = Model()
    clone.fc.load_state_dict(model.fc.state_dict())
    clone.rnn.from_native_weights(*weights)
    clone.rnn.grad_clip_norm(enable=True, norm=1.0)
    clone.eval()
    with torch.no_grad():
        same = torch.equal(run_model(clone, x_test)[0], run_model(model, x_test)[0])
    return {"model": model, "losses": losses, "accuracy": accuracy, "clone_agrees": same,
            "batch": (x_train[:64], y_train[:64])}


if __name__ == "__main__":
    result = main()
    print(f"test accuracy {result['accuracy']:.3f}, final loss {result['losses'][-1]:.3f}")
