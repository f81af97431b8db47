"""`egru explore`: design-space sweeps on dask.distributed, cached by content hash.

The sweeps here fine-tune for one epoch (--qat-epochs 1) so that 24 points take about a
minute on 2 cores; what is checked does not depend on the epochs."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest

from gen import explore

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CKPT = os.path.join(ROOT, "gen", "models", "digits.pt")
# 4 lanes x 2 weight widths x 3 pruning levels = 24 points, 6 quantize tasks
SWEEP_24 = ["--lanes", "1,2,4,8", "--weight-bits", "4,8", "--prune", "0,0.5,0.8", "--qat-epochs", "1"]
POINT_KEYS = {"lanes", "weight_bits", "state_bits", "prune", "accuracy", "activity", "cycles_per_step",
              "memory_bits", "fits"}


def egru(*args, check=True, timeout=900):
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.run([sys.executable, "-m", "gen.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=timeout)
    if check:
        assert proc.returncode == 0, proc.stderr[-6000:]
    return proc


def table_rows(markdown_path: str) -> list[str]:
    """The table lines of explore.md (the heading says how many came from the cache; the rows must not)."""
    with open(markdown_path) as f:
        return [line for line in f if line.startswith("|")]


# ---- the grid, the keys, the Pareto front (no cluster) -----------------------------------------------
def test_grid_is_every_combination_in_a_fixed_order():
    pts = explore.grid([1, 2], [4, 8], [16], [0.0, 0.5])
    assert len(pts) == 8
    assert [(p.weight_bits, p.prune, p.lanes) for p in pts[:4]] == [(4, 0.0, 1), (4, 0.0, 2), (4, 0.5, 1), (4, 0.5, 2)]


@pytest.mark.parametrize("field,value,message", [
    ("lanes", 0, "lanes must be an integer in 1..64"),
    ("lanes", 65, "lanes must be an integer in 1..64"),
    ("weight_bits", 3, "weight_bits must be an integer in 4..16"),
    ("state_bits", 17, "state_bits must be an integer in 8..16"),
    ("prune", 1.0, "prune must be a fraction in [0, 1)"),
    ("threshold_scale", 0.0, "threshold scale must be in (0, 4]"),
    ("pipeline", "fast", "pipeline must be one of short, deep"),
], ids=lambda v: str(v))
def test_a_bad_point_is_refused_with_its_name(field, value, message):
    kw = {"lanes": 1, "weight_bits": 8, "state_bits": 16, "prune": 0.0, field: value}
    with pytest.raises(ValueError, match=re.escape(message)):
        explore.Point(**kw)


def test_keys_change_with_what_a_result_depends_on():
    p = explore.Point(lanes=2, weight_bits=8, state_bits=16, prune=0.5)
    s = explore.Sweep(qat_epochs=3, targets=("ecp5-85k",))
    q = explore.quantize_key("ab", p, s, "code")
    assert q == explore.quantize_key("ab", explore.Point(lanes=8, weight_bits=8, state_bits=16, prune=0.5), s, "code")
    for other in (explore.quantize_key("ac", p, s, "code"), explore.quantize_key("ab", p, s, "code2"),
                  explore.quantize_key("ab", p, explore.Sweep(qat_epochs=4, targets=("ecp5-85k",)), "code"),
                  explore.quantize_key("ab", explore.Point(lanes=2, weight_bits=6, state_bits=16, prune=0.5), s,
                                       "code"),
                  explore.quantize_key("ab", p, explore.Sweep(qat_epochs=3, targets=("ecp5-85k",), balance_lanes=4),
                                       "code")):
        assert other != q
    # lane balancing means nothing without pruning: an unpruned model is the same with or without it
    dense = explore.Point(lanes=2, weight_bits=8, state_bits=16, prune=0.0)
    assert explore.quantize_key("ab", dense, s, "code") == \
        explore.quantize_key("ab", dense, explore.Sweep(qat_epochs=3, targets=("ecp5-85k",), balance_lanes=4), "code")
    e = explore.evaluate_key(q, p, s.targets)
    assert e != explore.evaluate_key(q, explore.Point(lanes=4, weight_bits=8, state_bits=16, prune=0.5), s.targets)
    assert e != explore.evaluate_key(q, p, ("ice40-up5k",))


def test_the_fingerprint_covers_the_design_code():
    fp = explore.code_fingerprint()
    assert fp == explore.code_fingerprint()
    assert "hw" in explore.CODE and "sw" in explore.CODE


def test_pareto_marks_the_points_no_other_point_beats():
    rows = [{"accuracy": 0.9, "cycles_per_step": 100.0}, {"accuracy": 0.95, "cycles_per_step": 200.0},
            {"accuracy": 0.9, "cycles_per_step": 150.0}, {"accuracy": 0.95, "cycles_per_step": 200.0},
            {"accuracy": 0.97, "cycles_per_step": 500.0}, {"error": "quantize: boom"}]
    assert explore.mark_pareto(rows) == "cycles_per_step"
    assert [r["pareto"] for r in rows] == [True, True, False, True, True, False]


def test_the_cache_keeps_finished_results_only(tmp_path):
    cache = explore.Cache(str(tmp_path))
    cache.put("quantize-1", {"model": b"\x01\x02", "quant_accuracy": 0.5})
    cache.put("evaluate-2", {"error": "evaluate: out of memory"})
    assert cache.get("quantize-1") == {"model": b"\x01\x02", "quant_accuracy": 0.5}
    assert cache.get("evaluate-2") is None
    (tmp_path / "evaluate").mkdir()
    (tmp_path / "evaluate" / "evaluate-3.json").write_text("{trunc")  # a damaged entry is computed again
    assert cache.get("evaluate-3") is None
    assert not [p for p in tmp_path.rglob(".tmp-*")]


@pytest.mark.parametrize("args,message", [
    (["--lanes", "1,x"], "argument --lanes: invalid comma-separated list of integers value"),
    (["--lanes", "2,2"], "argument --lanes: invalid comma-separated list of integers value"),
    (["--lanes", "0"], "lanes must be an integer in 1..64, got 0"),
    (["--target", "ecp5-99k"], "unknown target 'ecp5-99k'"),
    (["--prune", "0.5", "--qat-epochs", "0"], "pruning needs fine-tuning"),
    (["--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], "--workers must be >= 1, and is for the local"),
    (["--balance-lanes", "65"], "--balance-lanes must be 0 (global pruning) or a lane count 1..64, got 65"),
], ids=["not-an-integer", "repeated", "lanes-0", "unknown-target", "prune-without-qat", "workers+scheduler",
        "balance-lanes-65"])
def test_bad_options_are_refused_before_any_work(args, message, tmp_path):
    proc = egru("explore", CKPT, "-o", str(tmp_path / "x"), *args, check=False, timeout=120)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert not (tmp_path / "x" / "cache").exists()


def test_a_model_file_given_as_checkpoint_is_refused_before_any_work(tmp_path):
    model = tmp_path / "m.egru"
    model.write_bytes(b"EGRU" + bytes(60))
    proc = egru("explore", str(model), "-o", str(tmp_path / "x"), "--json", check=False, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert str(model) in json.loads(proc.stdout)["error"]
    assert not (tmp_path / "x" / "cache").exists()


def test_an_unreachable_scheduler_is_named(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = egru("explore", CKPT, "--lanes", "1", "--qat-epochs", "1", "--scheduler", f"tcp://127.0.0.1:{port}",
                "-o", str(tmp_path), "--json", check=False, timeout=120)
    assert proc.returncode == 2
    assert f"--scheduler tcp://127.0.0.1:{port}: cannot reach a dask scheduler" in json.loads(proc.stdout)["error"]


# ---- the floor's sweeps --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sweep24(tmp_path_factory):
    """The 24-point sweep on the default LocalCluster, once for the module."""
    out = tmp_path_factory.mktemp("explore24")
    first = json.loads(egru("explore", CKPT, *SWEEP_24, "-o", str(out), "--json").stdout)
    return out, first


@pytest.mark.slow
def test_a_24_point_sweep_completes_and_a_rerun_computes_nothing(sweep24):
    out, first = sweep24
    assert len(first["points"]) == 24 and first["computed"] == 24 and first["cached"] == 0
    assert first["failed_points"] == 0, [p.get("error") for p in first["points"]]
    for p in first["points"]:
        assert POINT_KEYS <= set(p), sorted(POINT_KEYS - set(p))
        assert 0 < p["accuracy"] <= 1 and 0 < p["activity"] < 1 and p["cycles_per_step"] > 0
        assert set(p["fits"]) == {"ice40-up5k", "ecp5-25k", "ecp5-85k", "gowin-gw1n9"}
    by = {(p["lanes"], p["weight_bits"], p["prune"]): p for p in first["points"]}
    # more lanes, fewer cycles; more pruning, fewer memory bits; narrower weights, fewer bits
    assert by[(8, 8, 0.0)]["cycles_per_step"] < by[(1, 8, 0.0)]["cycles_per_step"]
    assert by[(1, 8, 0.8)]["memory_bits"] < by[(1, 8, 0.0)]["memory_bits"]
    assert by[(1, 4, 0.0)]["memory_bits"] < by[(1, 8, 0.0)]["memory_bits"]
    assert any(p["pareto"] for p in first["points"])
    rows_before = table_rows(out / "explore.md")

    again = json.loads(egru("explore", CKPT, *SWEEP_24, "-o", str(out), "--json").stdout)
    assert again["computed"] == 0 and again["cached"] == 24 and again["tasks_computed"] == 0
    assert again["points"] == [dict(p, cached=True) for p in first["points"]]
    assert table_rows(out / "explore.md") == rows_before
    with open(out / "explore.csv") as f:
        assert len(f.read().splitlines()) == 25
    assert (out / "pareto.png").stat().st_size > 10_000


@pytest.mark.slow
def test_a_sweep_survives_a_worker_killed_mid_sweep(tmp_path):
    from distributed import Client
    points = explore.grid([1, 2, 4], [6, 8], [16], [0.0])
    sweep = explore.Sweep(qat_epochs=1, targets=("ecp5-25k",))
    killed = []

    def kill_one_worker(client, kind, key):
        if not killed:
            pid = sorted(client.run(os.getpid).values())[0]
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    cluster = explore.local_cluster(2)
    try:
        with Client(cluster) as client:
            report = explore.run_sweep(CKPT, points, sweep, str(tmp_path), lambda: client,
                                       on_result=kill_one_worker)
    finally:
        cluster.close()
    assert killed
    assert report["failed_points"] == 0, [p.get("error") for p in report["points"]]
    assert report["computed"] == 6 and all("cycles_per_step" in p for p in report["points"])


@pytest.mark.slow
def test_an_existing_scheduler_gives_the_same_table(sweep24, tmp_path):
    reference, _ = sweep24
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    dask = os.path.join(os.path.dirname(sys.executable), "dask")
    env = dict(os.environ, PYTHONPATH=ROOT)
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)]
    try:
        time.sleep(2)
        procs.append(subprocess.Popen([dask, "worker", address, "--nthreads", "1", "--nworkers", "2",
                                       "--no-dashboard"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL, start_new_session=True))
        from distributed import Client
        with Client(address, timeout=30) as c:
            c.wait_for_workers(2, timeout=120)
        remote = json.loads(egru("explore", CKPT, *SWEEP_24, "--scheduler", address, "-o", str(tmp_path),
                                 "--json").stdout)
    finally:
        for p in reversed(procs):
            os.killpg(p.pid, signal.SIGTERM)
            p.wait(timeout=30)
    assert remote["workers"] == 2 and remote["computed"] == 24
    assert table_rows(tmp_path / "explore.md") == table_rows(reference / "explore.md")


@pytest.mark.slow
def test_ctrl_c_stops_the_sweep_cleanly_and_a_rerun_resumes(tmp_path):
    """Ctrl-C reaches the whole process group, as in a terminal: exit 130 without a traceback
    (nor one from a worker), and the tasks finished before it are not computed again."""
    import glob
    args = [sys.executable, "-m", "gen.cli", "explore", CKPT, "--lanes", "1,2,4", "--prune", "0,0.5",
            "--qat-epochs", "1", "-o", str(tmp_path), "--json"]
    # SIGINT as a terminal delivers it, even where the suite was started with it ignored
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            env=dict(os.environ, PYTHONPATH=ROOT), start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        t0 = time.time()
        while time.time() - t0 < 300 and not glob.glob(str(tmp_path / "cache" / "evaluate" / "*.json")):
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    assert json.loads(out) == {"error": "interrupted"}
    done = len(glob.glob(str(tmp_path / "cache" / "evaluate" / "*.json")))
    assert 1 <= done < 6
    again = json.loads(egru("explore", *args[4:]).stdout)
    assert again["cached"] == done and again["computed"] == 6 - done


def test_a_failing_point_keeps_its_row_and_the_sweep_goes_on(tmp_path, monkeypatch):
    """Tasks run in this process (a threaded cluster), so a patched evaluation fails one point."""
    from distributed import Client, LocalCluster
    real = explore._evaluate

    def flaky(quantized, point, targets):
        if point["lanes"] == 2:
            raise MemoryError("no room for two lanes")
        return real(quantized, point, targets)

    monkeypatch.setattr(explore, "_evaluate", flaky)
    points = explore.grid([1, 2], [8], [16], [0.0])
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        report = explore.run_sweep(CKPT, points, explore.Sweep(qat_epochs=0, targets=("ecp5-25k",)),
                                   str(tmp_path), lambda: client)
        assert report["failed_points"] == 1
        bad, good = report["points"][1], report["points"][0]
        assert bad["error"] == "MemoryError: no room for two lanes" and not bad["pareto"]
        assert "error" not in good and good["pareto"] and good["fits"] == {"ecp5-25k": True}
        monkeypatch.setattr(explore, "_evaluate", real)
        again = explore.run_sweep(CKPT, points, explore.Sweep(qat_epochs=0, targets=("ecp5-25k",)),
                                  str(tmp_path), lambda: client)
    assert again["failed_points"] == 0 and again["computed"] == 1 and again["cached"] == 1  # the failure was not cached
    md = explore.to_markdown(report)
    assert "MemoryError: no room for two lanes" in md


@pytest.mark.slow
def test_synth_points_carry_the_placed_figures(tmp_path):
    """--synth on a 4-unit model on the ECP5-25k (the UP5K is too small for even a tiny model with
    the whole UART top): every point gets its
    target's LUTs, Fmax and us per step, from the same report `egru synth` writes."""
    ckpt = tmp_path / "tiny.pt"
    egru("train", "--task", "digits", "--hidden", "4", "--epochs", "1", "--out", str(ckpt), "--quiet")
    r = json.loads(egru("explore", str(ckpt), "--lanes", "1", "--qat-epochs", "1", "--target", "ecp5-25k",
                        "--synth", "-o", str(tmp_path / "x"), "--json").stdout)
    (p,) = r["points"]
    assert "error" not in p, p.get("error")
    s = p["synth"]["ecp5-25k"]
    assert s["fits"] and 0 < s["luts"] <= s["available"]["luts"] and s["fmax_mhz"] > 0
    assert p["us_per_step"] == pytest.approx(p["cycles_per_step"] / s["fmax_mhz"])
    assert s["effective_gops"] == pytest.approx(p["dense_ops_per_step"] / p["us_per_step"] / 1e3)
    with open(tmp_path / "x" / "explore.csv") as f:
        header = f.readline().strip().split(",")
    assert "ecp5-25k_fmax_mhz" in header and "fits_ecp5-25k" in header
