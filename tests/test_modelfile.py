"""The .egru model file: a bit-equal round trip, and every kind of damage refused with a message
that names it, before anything is loaded."""

import hashlib
import json
import struct

import numpy as np
import pytest
import torch

from sw import modelfile
from sw.golden import run
from sw.modelfile import ModelFileError
from tests.random_models import random_config, random_inputs, random_params


def sample(seed=0, **overrides):
    cfg = random_config(seed, **overrides)
    return cfg, random_params(cfg, seed, prune=0.5)


def params_equal(a, b):
    for La, Lb in zip(a.layers, b.layers, strict=True):
        for f in ("kernel", "recurrent", "bias_u", "bias_r", "bias_gx", "bias_gh", "thr"):
            if not torch.equal(getattr(La, f), getattr(Lb, f)):
                return False
    return (torch.equal(a.readout_weight, b.readout_weight) and torch.equal(a.readout_bias, b.readout_bias)
            and all(torch.equal(a.luts[k], b.luts[k]) for k in a.luts))


@pytest.mark.parametrize("seed,memory", [(0, "sparse"), (1, "dense"), (2, "sparse"), (3, "sparse")])
def test_round_trip_is_bit_equal(tmp_path, seed, memory):
    cfg, p = sample(seed, memory=memory)
    path = tmp_path / "m.egru"
    size = modelfile.save(str(path), cfg, p, {"note": "test"})
    m = modelfile.load(str(path))
    assert m.config == cfg and params_equal(m.params, p) and m.meta == {"note": "test"}
    assert path.stat().st_size == size
    assert modelfile.dumps(m.config, m.params, m.meta) == path.read_bytes()
    x = random_inputs(cfg, seed, 2, 5)
    assert torch.equal(run(cfg, m.params, x).logits, run(cfg, p, x).logits)


def test_sparse_layout_stores_only_kept_entries_and_dense_stores_all():
    cfg, p = sample(4, layers=1)
    m = modelfile.loads(modelfile.dumps(cfg, p))
    H = cfg.hidden_size
    colptr, rows, values = m.columns["layer0.recurrent"]
    kept = int((p.layers[0].recurrent.reshape(H, 3, H) != 0).any(dim=1).sum())
    assert colptr[-1] == kept == len(rows) < H * H
    dense = modelfile.loads(modelfile.dumps(cfg.__class__(**{**cfg.__dict__, "memory": "dense"}), p))
    assert dense.columns["layer0.recurrent"][0][-1] == H * H


# ---- damage that the checksum catches --------------------------------------------------------

def good_bytes():
    cfg, p = sample(5)
    return modelfile.dumps(cfg, p)


def test_wrong_magic():
    data = bytearray(good_bytes())
    data[:8] = b"NOTEGRU!"
    with pytest.raises(ModelFileError, match="not an .egru model file"):
        modelfile.loads(bytes(data))


def test_unsupported_version():
    data = bytearray(good_bytes())
    struct.pack_into("<H", data, 8, 99)
    with pytest.raises(ModelFileError, match="version 99 is not supported"):
        modelfile.loads(bytes(data))


def as_version_2(data: bytes, keep_readout: bool = False) -> bytes:
    """The same model as a version 2 file wrote it: no readout field in the configuration."""
    def drop(header):
        if not keep_readout:
            del header["config"]["readout"]
    body = bytearray(rewrite(data, edit_header=drop)[:-32])
    struct.pack_into("<H", body, 8, 2)
    return bytes(body) + hashlib.sha256(bytes(body)).digest()


def test_a_version_2_file_still_loads_with_the_sequence_readout():
    cfg, p = sample(3)
    old = modelfile.loads(as_version_2(modelfile.dumps(cfg, p)))
    assert old.config == cfg and old.config.readout == "sequence"
    assert params_equal(old.params, p)
    with pytest.raises(ModelFileError, match="a version 2 file cannot carry a readout mode"):
        modelfile.loads(as_version_2(modelfile.dumps(cfg, p), keep_readout=True))


def test_the_readout_mode_round_trips():
    cfg, p = sample(4, readout="step")
    m = modelfile.loads(modelfile.dumps(cfg, p))
    assert m.config.readout == "step" and m.config.per_step
    assert struct.unpack_from("<H", modelfile.dumps(cfg, p), 8)[0] == 3  # no unit order: version 4 not needed


@pytest.mark.parametrize("keep", [0, 10, 20, 100, -1, -33, -200])
def test_truncated_file(keep):
    data = good_bytes()
    cut = data[:keep] if keep >= 0 else data[:len(data) + keep]
    with pytest.raises(ModelFileError, match="truncated|checksum mismatch"):
        modelfile.loads(cut)


@pytest.mark.parametrize("where", [20, 200, -40, -1])
def test_flipped_bit_anywhere_fails_the_checksum(where):
    data = bytearray(good_bytes())
    data[where] ^= 0x10
    with pytest.raises(ModelFileError, match="checksum mismatch|not an .egru|truncated|bad header"):
        modelfile.loads(bytes(data))


# ---- damage behind a valid checksum: a buggy or hostile writer ---------------------------------

def rewrite(data: bytes, edit_header=None, edit_arrays=None) -> bytes:
    """Decode a file, change its header or tensors, and re-encode it with a valid checksum."""
    _, _, _, hlen = struct.unpack_from("<8sHHI", data)
    header = json.loads(data[16:16 + hlen])
    blob = data[16 + hlen:-32]
    arrays = {}
    for e in header["tensors"]:
        arrays[e["name"]] = np.frombuffer(blob, modelfile._DTYPES[e["dtype"]], int(np.prod(e["shape"])),
                                          e["offset"]).reshape(e["shape"]).copy()
    if edit_arrays:
        edit_arrays(arrays)
    offset, parts = 0, []
    for e in header["tensors"]:
        a = arrays[e["name"]]
        raw = a.astype(modelfile._DTYPES[e["dtype"]]).tobytes()
        e.update(shape=list(a.shape), offset=offset, nbytes=len(raw))
        parts.append(raw)
        offset += len(raw)
    if edit_header:
        edit_header(header)
    hbytes = json.dumps(header).encode()
    body = struct.pack("<8sHHI", b"EGRUMODL", modelfile.VERSION, 0, len(hbytes)) + hbytes + b"".join(parts)
    return body + hashlib.sha256(body).digest()


def _set(d, key, value):
    d[key] = value


def _reverse(a):
    a[:] = a[::-1].copy()


CASES = {
    "header-not-json": (dict(edit_header=None), "bad header"),
    "unknown-config-field": (dict(edit_header=lambda h: _set(h["config"], "colour", 3)),
                             "unknown field\\(s\\) colour"),
    "bad-config-value": (dict(edit_header=lambda h: _set(h["config"], "weight_bits", 40)),
                         "weight_bits must be an integer in \\[4, 16\\], got 40"),
    "config-contradicts-shape": (dict(edit_header=lambda h: _set(h["config"], "hidden_size",
                                                                  h["config"]["hidden_size"] + 1)),
                                 "has shape .* the configuration needs"),
    "missing-tensor": (dict(edit_header=lambda h: h["tensors"].pop()),
                       "missing tensor lut.tanh|bytes of data follow"),
    "weight-out-of-range": (dict(edit_arrays=lambda a: a["readout.weight"].__setitem__((0, 0), 30000)),
                            "readout.weight holds values outside"),
    "threshold-negative": (dict(edit_arrays=lambda a: a["layer0.thr"].__setitem__(0, -1)),
                           "layer0.thr holds values outside \\[0, "),
    "rows-out-of-order": (dict(edit_arrays=lambda a: _reverse(a["layer0.recurrent.rows"])),
                          "not strictly increasing"),
    "colptr-decreasing": (dict(edit_arrays=lambda a: _set(a["layer0.kernel.colptr"], 1, a["layer0.kernel.colptr"][-1])),
                          "never decrease|more than"),
    "unknown-dtype": (dict(edit_header=lambda h: _set(h["tensors"][0], "dtype", "float32")), "unknown dtype 'float32'"),
    "meta-not-an-object": (dict(edit_header=lambda h: _set(h, "meta", [1, 2])), "meta must be a JSON object"),
    "meta-a-string": (dict(edit_header=lambda h: _set(h, "meta", "data")), "meta must be a JSON object"),
}


@pytest.mark.parametrize("edits,message", CASES.values(), ids=CASES.keys())
def test_inconsistent_content_is_refused_by_name(edits, message):
    data = good_bytes()
    if edits.get("edit_header", 1) is None:  # replace the header by text that is not JSON
        _, _, _, hlen = struct.unpack_from("<8sHHI", data)
        junk = b"{" * hlen
        body = data[:16] + junk + data[16 + hlen:-32]
        data = body + hashlib.sha256(body).digest()
    else:
        data = rewrite(data, **edits)
    with pytest.raises(ModelFileError, match=message):
        modelfile.loads(data)


def test_unexpected_extra_tensor_is_refused():
    def add(h):
        end = h["tensors"][-1]["offset"] + h["tensors"][-1]["nbytes"]
        h["tensors"].append({"name": "layer9.secret", "dtype": "int16", "shape": [0], "offset": end, "nbytes": 0})
    with pytest.raises(ModelFileError, match="unexpected tensor\\(s\\) layer9.secret"):
        modelfile.loads(rewrite(good_bytes(), edit_header=add))


def test_load_names_the_file_and_a_failed_save_keeps_the_old_file(tmp_path):
    path = tmp_path / "m.egru"
    cfg, p = sample(6)
    modelfile.save(str(path), cfg, p)
    before = path.read_bytes()
    broken = p.to(torch.int64)
    broken.layers = broken.layers[:0]  # inconsistent with cfg.layers: writing fails
    with pytest.raises(ModelFileError, match="refusing to write an inconsistent model"):
        modelfile.save(str(path), cfg, broken)
    assert path.read_bytes() == before and list(tmp_path.iterdir()) == [path]
    with pytest.raises(ModelFileError, match=f"{tmp_path / 'absent.egru'}: no such file"):
        modelfile.load(str(tmp_path / "absent.egru"))
    with pytest.raises(ModelFileError, match=f"{tmp_path}: is a directory, not a file"):
        modelfile.load(str(tmp_path))


def test_a_written_model_file_has_the_usual_permissions(tmp_path):
    """0666 less the umask, as any file the user makes (mkstemp alone gives 0600)."""
    import os
    cfg, p = sample(6)
    old = os.umask(0o022)
    try:
        modelfile.save(str(tmp_path / "m.egru"), cfg, p)
    finally:
        os.umask(old)
    assert (tmp_path / "m.egru").stat().st_mode & 0o777 == 0o644
