"""The ``.egru`` model file: one self-describing, versioned, checksummed file that carries a
quantized model to the generator, the simulator and the host driver. Layout in
docs/model-file.md.

    magic "EGRUMODL" | u16 version | u16 0 | u32 header length | header (UTF-8 JSON)
    | tensor data (little-endian, in header order) | SHA-256 of everything before it

Weights are stored as compressed sparse columns, the layout of the on-chip weight memories:
per source column a pointer, and per stored entry the target unit and its three gate weights.
:func:`load` checks everything before it returns anything: a file that fails any check raises
ModelFileError naming the problem, and nothing is half-loaded.
"""

import dataclasses
import hashlib
import json
import struct

import numpy as np
import torch

from hw.spec import LUT_KINDS, EGRUConfig
from sw.files import file_problem, write_atomic
from sw.golden import LayerParams, ModelParams

MAGIC = b"EGRUMODL"
VERSION = 4  # 2: biases at preact_frac (version 1 held them at acc_frac); 3: the readout mode;
             # 4: an optional unit order per layer (layer{l}.unit_order, sw/permute.py)
READS = (2, 3, 4)  # a version 2 file has no readout field: its readout is "sequence", as 3's default
_PREFIX = struct.Struct("<8sHHI")
_DIGEST = 32
_DTYPES = {"int16": np.dtype("<i2"), "int32": np.dtype("<i4"), "int64": np.dtype("<i8")}


class ModelFileError(ValueError):
    """A model file that cannot be used, with a message that names the problem."""


@dataclasses.dataclass
class Model:
    """A loaded model file: the configuration, the integer parameters (dense, for the golden
    model), the sparse columns as stored, and free-form metadata."""
    config: EGRUConfig
    params: ModelParams
    columns: dict  # "layer{l}.kernel" / "layer{l}.recurrent" -> (colptr, rows, values) numpy
    meta: dict


# ---- writing -------------------------------------------------------------------------------

def to_columns(w: torch.Tensor, H: int, dense: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """[S, 3H] gate-major weights -> (colptr [S+1], rows [nnz], values [nnz, 3]). Sparse: an
    entry is stored when any of its three gate weights is nonzero; dense: every entry."""
    w3 = w.reshape(w.shape[0], 3, H).permute(0, 2, 1).numpy()  # [S, H, 3]
    keep = np.ones(w3.shape[:2], bool) if dense else (w3 != 0).any(axis=2)
    colptr = np.concatenate([[0], np.cumsum(keep.sum(axis=1))]).astype(np.int32)
    src, rows = np.nonzero(keep)  # row-major: by source column, then increasing target unit
    return colptr, rows.astype(np.int16), w3[src, rows].astype(np.int16)


def _tensors(cfg: EGRUConfig, p: ModelParams) -> list[tuple[str, np.ndarray]]:
    H, dense = cfg.hidden_size, cfg.memory == "dense"
    out = []
    for i, L in enumerate(p.layers):
        for kind, w in (("kernel", L.kernel), ("recurrent", L.recurrent)):
            colptr, rows, values = to_columns(w, H, dense)
            out += [(f"layer{i}.{kind}.colptr", colptr), (f"layer{i}.{kind}.rows", rows),
                    (f"layer{i}.{kind}.values", values)]
        for f in ("bias_u", "bias_r", "bias_gx", "bias_gh"):
            out.append((f"layer{i}.{f}", getattr(L, f).numpy().astype(np.int64)))
        out.append((f"layer{i}.thr", L.thr.numpy().astype(np.int16)))
        if p.unit_order is not None:
            out.append((f"layer{i}.unit_order", np.asarray(p.unit_order[i], np.int16)))
    out.append(("readout.weight", p.readout_weight.numpy().astype(np.int16)))
    out.append(("readout.bias", p.readout_bias.numpy().astype(np.int64)))
    for k in LUT_KINDS:
        out.append((f"lut.{k}", p.luts[k].numpy().astype(np.int16)))
    return out


def scales(cfg: EGRUConfig) -> dict:
    """The real value of one LSB of every stored tensor, for people and other tools."""
    s = {"input": 2.0 ** -cfg.input_frac, "state": 2.0 ** -cfg.state_frac,
         "readout.weight": 2.0 ** -cfg.readout_frac, "readout.bias": 2.0 ** -cfg.readout_acc_frac,
         "lut": 2.0 ** -cfg.state_frac}
    for i in range(cfg.layers):
        s[f"layer{i}.kernel"] = 2.0 ** -cfg.kernel_frac[i]
        s[f"layer{i}.recurrent"] = 2.0 ** -cfg.recurrent_frac[i]
        s[f"layer{i}.bias"] = 2.0 ** -cfg.preact_frac
        s[f"layer{i}.thr"] = 2.0 ** -cfg.state_frac
    return s


def dumps(cfg: EGRUConfig, p: ModelParams, meta: dict | None = None) -> bytes:
    tensors = _tensors(cfg, p)
    directory, blobs, offset = [], [], 0
    for name, a in tensors:
        dtype = next(k for k, v in _DTYPES.items() if v == a.dtype.newbyteorder("<"))
        raw = np.ascontiguousarray(a, dtype=_DTYPES[dtype]).tobytes()
        directory.append({"name": name, "dtype": dtype, "shape": list(a.shape),
                          "offset": offset, "nbytes": len(raw)})
        blobs.append(raw)
        offset += len(raw)
    header = json.dumps({"config": cfg.to_dict(), "scales": scales(cfg), "tensors": directory,
                         "surrogate": {"gamma": p.gamma, "eps": p.eps}, "meta": meta or {}},
                        sort_keys=True).encode()
    # the oldest version that holds the content, so an older egru still reads a model without an order
    version = VERSION if p.unit_order is not None else 3
    body = _PREFIX.pack(MAGIC, version, 0, len(header)) + header + b"".join(blobs)
    return body + hashlib.sha256(body).digest()


def save(path: str, cfg: EGRUConfig, p: ModelParams, meta: dict | None = None) -> int:
    """Write atomically (a temporary file renamed into place) after reading the bytes back
    through :func:`loads`, so no file that the loader would refuse is ever written. Returns the
    file's size."""
    data = dumps(cfg, p, meta)
    try:
        loads(data)
    except ModelFileError as e:
        raise ModelFileError(f"{path}: refusing to write an inconsistent model ({e})") from None
    write_atomic(path, data)
    return len(data)


# ---- reading -------------------------------------------------------------------------------

def load(path: str) -> Model:
    problem = file_problem(path)
    if problem:
        raise ModelFileError(f"{path}: {problem}")
    with open(path, "rb") as f:
        data = f.read()
    try:
        return loads(data)
    except ModelFileError as e:
        raise ModelFileError(f"{path}: {e}") from None


def loads(data: bytes) -> Model:
    if len(data) < _PREFIX.size + _DIGEST:
        raise ModelFileError(f"truncated: {len(data)} bytes is shorter than the smallest model file")
    magic, version, _, header_len = _PREFIX.unpack_from(data)
    if magic != MAGIC:
        raise ModelFileError(f"not an .egru model file (magic {magic!r}, expected {MAGIC!r})")
    if version not in READS:
        raise ModelFileError(f"model file version {version} is not supported (this egru reads versions "
                             f"{', '.join(map(str, READS))}; run `egru quantize` on the checkpoint again)")
    body, digest = data[:-_DIGEST], data[-_DIGEST:]
    if _PREFIX.size + header_len > len(body):
        raise ModelFileError(f"truncated: the header claims {header_len} bytes but the file "
                             f"holds {len(body) - _PREFIX.size} after the prefix")
    if hashlib.sha256(body).digest() != digest:
        raise ModelFileError("checksum mismatch: the file is corrupted or truncated")
    try:
        header = json.loads(data[_PREFIX.size:_PREFIX.size + header_len])
        cfg = EGRUConfig.from_dict(header["config"])
        if version < 3 and "readout" in header["config"]:
            raise ModelFileError("bad header: a version 2 file cannot carry a readout mode")
        directory = header["tensors"]
        surrogate = header["surrogate"]
        meta = header.get("meta", {})
    except (ValueError, KeyError, TypeError) as e:
        raise ModelFileError(f"bad header: {e}") from None
    if not isinstance(meta, dict):
        raise ModelFileError(f"bad header: meta must be a JSON object, found {type(meta).__name__}")
    arrays = _read_tensors(directory, body[_PREFIX.size + header_len:])
    columns = {}
    params = _params(cfg, arrays, columns, surrogate, version)
    return Model(config=cfg, params=params, columns=columns, meta=meta)


def _read_tensors(directory, blob: bytes) -> dict:
    arrays, expected_offset = {}, 0
    for entry in directory:
        try:
            name, dtype, shape = entry["name"], entry["dtype"], tuple(entry["shape"])
            offset, nbytes = entry["offset"], entry["nbytes"]
        except (KeyError, TypeError):
            raise ModelFileError(f"bad tensor directory entry {entry!r}") from None
        if dtype not in _DTYPES:
            raise ModelFileError(f"tensor {name}: unknown dtype {dtype!r}")
        if name in arrays:
            raise ModelFileError(f"tensor {name} appears twice")
        if offset != expected_offset or nbytes != int(np.prod(shape, dtype=np.int64)) * _DTYPES[dtype].itemsize:
            raise ModelFileError(f"tensor {name}: offset/size do not match its shape {list(shape)}")
        if offset + nbytes > len(blob):
            raise ModelFileError(f"truncated: tensor {name} ends past the end of the data")
        arrays[name] = np.frombuffer(blob, _DTYPES[dtype], int(np.prod(shape)), offset).reshape(shape)
        expected_offset = offset + nbytes
    if expected_offset != len(blob):
        raise ModelFileError(f"{len(blob) - expected_offset} bytes of data follow the last tensor")
    return arrays


def _take(arrays, name, shape, lo, hi):
    if name not in arrays:
        raise ModelFileError(f"missing tensor {name}")
    a = arrays.pop(name)
    if tuple(a.shape) != tuple(shape):
        raise ModelFileError(f"tensor {name} has shape {list(a.shape)}, the configuration needs {list(shape)}")
    if a.size and (a.min() < lo or a.max() > hi):
        raise ModelFileError(f"tensor {name} holds values outside [{lo}, {hi}] "
                             f"(found {int(a.min())}..{int(a.max())})")
    return a


def _params(cfg: EGRUConfig, arrays: dict, columns: dict, surrogate: dict, version: int) -> ModelParams:
    H, C = cfg.hidden_size, cfg.num_classes
    wlo, whi = -(1 << (cfg.weight_bits - 1)), (1 << (cfg.weight_bits - 1)) - 1
    layers = []
    for i in range(cfg.layers):
        dense = {}
        for kind in ("kernel", "recurrent"):
            S = cfg.layer_input_size(i) if kind == "kernel" else H
            name = f"layer{i}.{kind}"
            colptr = _take(arrays, f"{name}.colptr", (S + 1,), 0, S * H)
            nnz = int(colptr[-1])
            rows = _take(arrays, f"{name}.rows", (nnz,), 0, H - 1)
            values = _take(arrays, f"{name}.values", (nnz, 3), wlo, whi)
            dense[kind] = _dense_from_columns(name, cfg, colptr, rows, values, S)
            columns[name] = (colptr, rows, values)
        lim = cfg.bias_limit(i)
        biases = {f: torch.from_numpy(_take(arrays, f"layer{i}.{f}", (H,), -lim, lim - 1).astype(np.int64))
                  for f in ("bias_u", "bias_r", "bias_gx", "bias_gh")}
        thr = torch.from_numpy(_take(arrays, f"layer{i}.thr", (H,), 0, cfg.one).astype(np.int64))
        layers.append(LayerParams(kernel=dense["kernel"], recurrent=dense["recurrent"], thr=thr, **biases))
    orders = _unit_orders(cfg, arrays, version)
    rw = _take(arrays, "readout.weight", (H, C), wlo, whi)
    rlim = cfg.readout_bias_limit
    rb = _take(arrays, "readout.bias", (C,), -rlim, rlim - 1)
    luts = {}
    for k in LUT_KINDS:
        lo = -cfg.one if k == "tanh" else 0
        luts[k] = torch.from_numpy(_take(arrays, f"lut.{k}", (1 << cfg.lut_bits,), lo, cfg.one).astype(np.int64))
    if arrays:
        raise ModelFileError(f"unexpected tensor(s) {', '.join(sorted(arrays))} for this configuration")
    try:
        gamma, eps = float(surrogate["gamma"]), float(surrogate["eps"])
    except (KeyError, TypeError, ValueError):
        raise ModelFileError("bad header: surrogate settings") from None
    return ModelParams(layers=layers, readout_weight=torch.from_numpy(rw.astype(np.int64)),
                       readout_bias=torch.from_numpy(rb.astype(np.int64)), luts=luts, gamma=gamma, eps=eps,
                       unit_order=orders)


def _unit_orders(cfg: EGRUConfig, arrays: dict, version: int) -> list | None:
    """Every layer's unit order or none (the identity); a file holding some but not all is refused."""
    H = cfg.hidden_size
    names = [f"layer{i}.unit_order" for i in range(cfg.layers)]
    present = [n for n in names if n in arrays]
    if not present:
        return None
    if version < 4:
        raise ModelFileError(f"a version {version} file cannot carry unit orders ({present[0]})")
    if len(present) != len(names):
        missing = ", ".join(sorted(set(names) - set(present)))
        raise ModelFileError(f"unit orders for some layers only: missing {missing}")
    orders = []
    for n in names:
        a = _take(arrays, n, (H,), 0, H - 1)
        if len(set(a.tolist())) != H:
            raise ModelFileError(f"tensor {n} is not a permutation of the {H} units")
        orders.append(tuple(int(v) for v in a))
    return None if all(o == tuple(range(H)) for o in orders) else orders


def _dense_from_columns(name, cfg, colptr, rows, values, S) -> torch.Tensor:
    H = cfg.hidden_size
    if colptr[0] != 0 or np.any(np.diff(colptr) < 0):
        raise ModelFileError(f"{name}.colptr must start at 0 and never decrease")
    if np.any(np.diff(colptr) > H):
        raise ModelFileError(f"{name}.colptr gives a column more than {H} entries")
    w = np.zeros((S, H, 3), np.int64)
    for s in range(S):
        r = rows[colptr[s]:colptr[s + 1]]
        if np.any(np.diff(r) <= 0):
            raise ModelFileError(f"{name}.rows of column {s} are not strictly increasing")
        w[s, r] = values[colptr[s]:colptr[s + 1]]
    if cfg.memory == "dense" and colptr[-1] != S * H:
        raise ModelFileError(f"{name}: dense memory layout needs all {S * H} entries, found {int(colptr[-1])}")
    return torch.from_numpy(w.transpose(0, 2, 1).reshape(S, 3 * H).copy())
