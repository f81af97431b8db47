"""The demo's figures, written as PNG with matplotlib's file-only backend (no display needed).

- event_raster: which hidden units emitted an event at which step, for a few test sequences;
- cycles_vs_events: cycles per step against events per step, with the architectural bound and
  the dense schedule of the same machine;
- accuracy_vs_activity: golden-model accuracy against activity as the thresholds are scaled,
  and float models trained with more or less activity regularisation.
"""

import os

import matplotlib
import numpy as np

matplotlib.use("Agg")  # before pyplot: files only, never a window
import matplotlib.pyplot as plt  # noqa: E402


def _save(fig, path: str) -> str:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def event_raster(events, labels, predictions, path: str) -> str:
    """events: one [T, H] 0/1 array per sequence (layer 0); labels/predictions per sequence."""
    fig, axes = plt.subplots(1, len(events), figsize=(3.2 * len(events), 4.2), sharey=True, squeeze=False)
    for n, (ax, o) in enumerate(zip(axes[0], events, strict=True)):
        T, H = o.shape
        steps, units = o.nonzero()
        ax.scatter(steps, units, marker="s", s=14, color="black")
        ax.set_xlim(-0.5, T - 0.5)
        ax.set_ylim(-0.5, H - 0.5)
        ax.set_xlabel("time step")
        ax.set_title(f"sequence {n}: {int(o.sum())} events\nlabel {labels[n]}, predicted {predictions[n]}",
                     fontsize=9)
    axes[0][0].set_ylabel("hidden unit")
    fig.suptitle("Event raster: hidden units that emitted an event at each step")
    return _save(fig, path)


def cycles_vs_events(events, cycles, bounds, dense: float, lanes: int, path: str) -> str:
    """One point per (sequence, step): events routed, cycles spent, and the step's bound
    (stored entries of the routed columns / P + H / P); numpy arrays of equal length."""
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    ax.scatter(events, cycles, s=8, alpha=0.35, color="tab:blue", label="event-driven core, each step")
    xs = np.unique(events)  # the bound also depends on which columns: draw its mean per event count
    ax.plot(xs, [bounds[events == x].mean() for x in xs], color="black", linewidth=1,
            label="bound (entries read / P + H / P), mean")
    ax.axhline(dense, color="tab:red", linestyle="--", label=f"dense GRU schedule ({dense:.0f} cycles)")
    ax.set_xlabel("events routed in the step (input elements + hidden events)")
    ax.set_ylabel("clock cycles in the step")
    ax.set_title(f"Cycles per step against events per step (P = {lanes} lanes)")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8, loc="upper left")
    return _save(fig, path)


def accuracy_vs_activity(sweep: list[dict], trained: dict, gru_accuracy: float | None, path: str,
                         regularised: list[dict] = ()) -> str:
    """sweep: threshold_sweep rows; trained: the row at scale 1 (the model as trained);
    regularised: float models trained with activity regularisation ({activity_reg, activity,
    accuracy}), the knob that trades events for accuracy during training."""
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    if regularised:
        pts = sorted(regularised, key=lambda r: r["activity"])
        ax.plot([r["activity"] for r in pts], [r["accuracy"] for r in pts], "s--", color="tab:purple",
                label="float EGRU trained with activity regularisation")
        for r in pts:
            ax.annotate(f"reg {r['activity_reg']:g}", (r["activity"], r["accuracy"]), fontsize=7,
                        textcoords="offset points", xytext=(4, 4), color="tab:purple")
    ax.plot([r["activity"] for r in sweep], [r["accuracy"] for r in sweep], "o-", color="tab:blue",
            label="quantized EGRU, thresholds scaled")
    for r in sweep:
        ax.annotate(f"x{r['threshold_scale']:g}", (r["activity"], r["accuracy"]), fontsize=7,
                    textcoords="offset points", xytext=(4, -10))
    ax.plot([trained["activity"]], [trained["accuracy"]], "*", markersize=14, color="tab:orange",
            label="quantized EGRU as trained (x1)")
    if gru_accuracy is not None:
        ax.axhline(gru_accuracy, color="tab:green", linestyle="--",
                   label=f"dense GRU, float ({gru_accuracy:.3f})")
    ax.set_xlabel("activity (fraction of units with an event per step)")
    ax.set_ylabel("test accuracy")
    ax.set_title("Accuracy against activity (digits test set)")
    ax.legend(fontsize=8, loc="lower right")
    return _save(fig, path)
