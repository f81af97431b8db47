"""`egru serve-sim` when things go wrong: its simulation killed under it, a port already taken.
A small random model (its bridge is built once into build/test-serve and reused)."""

import json
import os
import signal
import socket
import subprocess

import pytest

from sw import modelfile
from tests.conftest import EGRU
from tests.random_models import random_config, random_params

BUILD = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "build", "test-serve")


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    cfg = random_config(3, layers=1, hidden_size=4, input_size=2, num_classes=2)
    path = str(tmp_path_factory.mktemp("serve") / "small.egru")
    modelfile.save(path, cfg, random_params(cfg, 3))
    return path


def serve(model, *argv):
    return subprocess.Popen([EGRU, "serve-sim", model, "--build-dir", BUILD, "--quick-build", "--quiet", *argv],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_simulation_killed_under_serve_sim_fails_it_with_a_message(small_model):
    proc = serve(small_model, "--json")
    ready = json.loads(proc.stdout.readline())
    os.kill(ready["pid"], signal.SIGKILL)  # the simulation dies; serve-sim did not ask for it
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    failed = json.loads(out)["failed"]
    assert "killed by signal SIGKILL" in failed and ready["url"] in failed
    assert "killed by signal SIGKILL" in err and "Traceback" not in err


def test_a_port_in_use_is_refused_at_once_naming_the_port(small_model):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        proc = serve(small_model, "--port", str(port), "--json")
        out, err = proc.communicate(timeout=300)
    assert proc.returncode == 2
    error = json.loads(out)["error"]
    assert f"port {port} on 127.0.0.1 is already in use" in error and "--port" in error
    assert "Traceback" not in err and "within" not in err
