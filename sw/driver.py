"""The host driver: one accelerator, over the byte-stream protocol of docs/protocol.md.

    with Accelerator("socket://127.0.0.1:PORT") as acc:      # or "/dev/ttyUSB1" for a board
        acc.load("runs/digits.egru")                          # refused if it does not fit
        out = acc.run(x_q[0])                                 # one quantized sequence [T, I]
        out.predicted, out.logits, out.steps[t].counters, out.steps[t].events

The transport is pyserial's ``serial_for_url``. Every request waits for its response; a
request whose response does not come within ``timeout`` seconds, or that the accelerator
may have received damaged (BAD_CRC, TRUNCATED, BAD_LENGTH), is sent again with the same
sequence number, up to ``retries`` times. The accelerator recognises a repeated frame and answers it from its stored
response without executing it twice, so retrying a STEP is safe.
"""

import dataclasses
import json
import struct
import time

import serial

from hw.spec import EGRUConfig
from hw.spec.layout import CoreGeometry, CoreImage
from hw.spec.protocol import (
    COUNTER_FIELDS,
    RESPONSE,
    STEP_END,
    STEP_START,
    VERSION,
    Command,
    Status,
    Wire,
)
from sw import modelfile
from sw.hwimage import image_from_params, load_words
from sw.protocol import Decoder, Frame, encode

_COUNTERS = struct.Struct("<HIIIII")
_MEANING = {
    Status.BAD_CRC: "the frame arrived damaged",
    Status.BAD_LENGTH: "its length does not match the command or the build",
    Status.UNKNOWN_COMMAND: "the accelerator does not know the command",
    Status.BAD_ADDRESS: "a target, lane or address outside the build",
    Status.BUSY: "a sequence is running (memories change only between sequences; reset() ends it)",
    Status.TRUNCATED: "the frame stopped before its end",
    Status.BAD_ARGUMENT: "a value outside its format, unknown flags, or a sequence longer than max_steps",
}


# answers that may mean the request was damaged on the line (a bit flip in LEN gives
# BAD_LENGTH): retried; a request refused on its merits is answered the same again
_DAMAGE = (Status.BAD_CRC, Status.TRUNCATED, Status.BAD_LENGTH)


class DriverError(OSError):
    """The accelerator did not answer, or answered something that makes no sense."""


class DeviceError(DriverError):
    """The accelerator refused a request; ``status`` says why."""

    def __init__(self, command: Command, status: Status):
        self.command, self.status = command, status
        super().__init__(f"the accelerator refused {command.name}: {status.name} "
                         f"({_MEANING.get(status, 'unknown status')})")


class ModelDoesNotFit(ValueError):
    """A model that the built hardware cannot hold or compute; the message says why."""


@dataclasses.dataclass(frozen=True)
class BuildInfo:
    """What INFO reports about the built hardware."""
    protocol: int
    version: str
    config: EGRUConfig
    columns: int
    depth: int
    max_payload: int
    max_response: int
    divisor: int

    @property
    def geometry(self) -> CoreGeometry:
        return CoreGeometry.of_sizes(self.config, self.columns, self.depth)


@dataclasses.dataclass
class StepOutput:
    counters: dict                # step, cycles, input_events, recurrent_events, lane_cycles, macs
    events: list                  # (layer, unit, value): layer by layer, by increasing unit number in the
                                  # user's order (the model's unit order undone, sw/permute.py)
    # the step's readout: every step's with a per-step readout (config readout "step"), else the
    # last step's only (None on the others)
    logits: list | None = None    # readout accumulators (readout_acc_frac)
    predicted: int | None = None
    readout_cycles: int | None = None


@dataclasses.dataclass
class SequenceOutput:
    steps: list                   # StepOutput per step
    logits: list                  # readout accumulators (readout_acc_frac)
    predicted: int
    readout_cycles: int


# configuration fields the hardware is built for: a model must match all of them
_BUILD_FIELDS = [f.name for f in dataclasses.fields(EGRUConfig) if f.name not in ("lanes", "memory", "pipeline")]


def _check_socket_url(url: str) -> None:
    """pyserial's own error for ``socket://host`` is "'<=' not supported between int and NoneType"."""
    if not url.startswith("socket://"):
        return
    address = url[len("socket://"):].split("?")[0].split("/")[0]
    host, colon, port = address.rpartition(":")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise DriverError(f"{url}: a socket URL needs a host and a port, socket://HOST:PORT (for example "
                          f"socket://127.0.0.1:5555; `egru serve-sim` prints its URL)")


class Accelerator:
    """A connection to one accelerator (board or simulation)."""

    def __init__(self, url: str, timeout: float = 2.0, retries: int = 3, baudrate: int = 115200):
        if not timeout > 0:  # each its own message: `egru run` has --timeout but no retries option
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ValueError(f"retries must be a non-negative integer, got {retries!r}")
        _check_socket_url(url)
        self.url, self.timeout, self.retries = url, timeout, retries
        try:
            self._port = serial.serial_for_url(url, baudrate=baudrate, timeout=0.02)
        except (serial.SerialException, ValueError) as e:
            raise DriverError(f"cannot open {url}: {e}") from e
        self._decoder = Decoder()
        self._pending = []
        self._seq = 0
        self._info = None
        self._wire = None
        self._unit_order = None  # of the model on the chip (load / holds): the core numbers units physically
        self.bytes_sent = 0
        self.bytes_received = 0
        self.retried = 0

    # ---- connection ----------------------------------------------------------------------
    def close(self) -> None:
        self._port.close()

    def __enter__(self) -> "Accelerator":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def request(self, command: Command, payload: bytes = b"") -> bytes:
        """Send one request and return its response payload after the status byte; raises
        DeviceError for a refusal and DriverError when no valid response comes."""
        self._seq = (self._seq + 1) & 0xFF
        frame = encode(Frame(int(command), self._seq, bytes(payload)))
        damaged = None
        for attempt in range(self.retries + 1):
            if attempt:
                self.retried += 1
            self._write(frame)
            response = self._await(int(command) | RESPONSE, self._seq)
            if response is None:
                continue  # lost on the way there or back: send the same frame again
            status = response.status
            if status == Status.OK:
                return response.payload[1:]
            if status in _DAMAGE:
                damaged = status  # nothing happened: send it again
                continue
            raise DeviceError(command, Status(status))
        if damaged is not None:
            raise DeviceError(command, damaged)
        raise DriverError(f"no valid response to {command.name} from {self.url} after {self.retries + 1} "
                          f"attempt(s) of {self.timeout} s: is the accelerator running, on this port, at "
                          f"this baud rate?")

    def send_raw(self, data: bytes) -> None:
        """Bytes as they are, framed or not (diagnostics and fuzz tests)."""
        self._write(data)

    def receive_until(self, done, timeout: float | None = None) -> list:
        """Every response frame that arrives until one satisfies ``done(frame)`` (included);
        raises DriverError after ``timeout`` seconds (default: the connection's)."""
        frames = []
        for frame in self._frames(self.timeout if timeout is None else timeout):
            frames.append(frame)
            if done(frame):
                return frames
        raise DriverError(f"the awaited response did not come within the timeout; got {frames}")

    def _write(self, data: bytes) -> None:
        try:
            self._port.write(data)
            self._port.flush()
        except serial.SerialException as e:
            raise DriverError(f"writing to {self.url} failed: {e}") from e
        self.bytes_sent += len(data)

    def _frames(self, timeout: float):
        """Response frames as they arrive, for ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            while self._pending:  # frames decoded earlier and not yet consumed come first
                yield self._pending.pop(0)
            if time.monotonic() >= deadline:
                return
            try:
                data = self._port.read(max(1, self._port.in_waiting))
            except serial.SerialException as e:
                raise DriverError(f"reading from {self.url} failed: {e}") from e
            self.bytes_received += len(data)
            self._pending += self._decoder.feed(data)

    def _await(self, cmd: int, seq: int):
        for frame in self._frames(self.timeout):
            # an error response to damaged bytes may carry a garbled command: match on seq
            if frame.seq == seq and frame.payload and (frame.cmd == cmd or frame.payload[0] != Status.OK):
                return frame
        self._pending += self._decoder.timeout()
        return None

    # ---- commands -------------------------------------------------------------------------
    def ping(self, payload: bytes = b"") -> bytes:
        return self.request(Command.PING, payload)

    def info(self) -> BuildInfo:
        """The build's configuration and capacities (asked once, then remembered)."""
        if self._info is None:
            raw = self.request(Command.INFO)
            try:
                doc = json.loads(raw)
                info = BuildInfo(protocol=doc["protocol"], version=doc["version"],
                                 config=EGRUConfig.from_dict(doc["config"]), columns=doc["columns"],
                                 depth=doc["depth"], max_payload=doc["max_payload"],
                                 max_response=doc["max_response"], divisor=doc["divisor"])
            except (ValueError, KeyError, TypeError) as e:
                raise DriverError(f"the accelerator's INFO is not a build description: {e}") from e
            if info.protocol != VERSION:
                raise DriverError(f"the accelerator speaks protocol version {info.protocol}, this driver {VERSION}")
            self._info = info
            self._wire = Wire(info.geometry, info.max_payload)
        return self._info

    @property
    def wire(self) -> Wire:
        self.info()
        return self._wire

    def fit(self, model) -> CoreImage:
        """The memory image of ``model`` (a path, a modelfile.Model, or (config, params)) for
        this build; raises ModelDoesNotFit naming every reason it cannot run here."""
        cfg, params = _model(model)
        info = self.info()
        built = info.config
        reasons = [f"{name}: model {getattr(cfg, name)!r}, hardware {getattr(built, name)!r}"
                   for name in _BUILD_FIELDS if getattr(cfg, name) != getattr(built, name)]
        if reasons:
            raise ModelDoesNotFit("the model does not fit this hardware; the hardware is built for a different "
                                  "configuration: " + "; ".join(reasons))
        image = image_from_params(cfg, params, lanes=built.lanes, dense=built.memory == "dense",
                                  pipeline=built.pipeline)
        if image.weights.depth > info.depth:
            raise ModelDoesNotFit(f"the model does not fit this hardware: its weights need {image.weights.depth} "
                                  f"words per lane with {built.lanes} lanes, the hardware holds {info.depth} "
                                  f"(prune the model more, or build with a larger --depth)")
        return image

    def load(self, model, verify: bool = True, progress=None) -> int:
        """Write every model memory (refusing a model that does not fit, before anything is
        sent); with ``verify`` read everything back and compare. Returns the words written.
        ``model`` may also be the CoreImage that ``fit`` returned. ``progress(done, total)`` is
        called after every frame."""
        image = model if isinstance(model, CoreImage) else self.fit(model)
        self._unit_order = image.unit_order
        runs = self._runs(load_words(image, self.info().geometry))
        total = sum(len(r[3]) for r in runs) * (2 if verify else 1)
        done = 0
        wb = self.wire.word_bytes
        for target, lane, addr, data in runs:
            payload = struct.pack("<BBIH", target, lane, addr, len(data)) + b"".join(
                d.to_bytes(wb, "little") for d in data)
            self.request(Command.WRITE, payload)
            done += len(data)
            if progress:
                progress(done, total)
        if verify:
            def step(n):
                nonlocal done
                done += n
                if progress:
                    progress(done, total)
            difference = self._compare(runs, step)
            if difference:
                raise DriverError(f"read-back differs at {difference}")
        return total // (2 if verify else 1)

    def holds(self, image: CoreImage) -> None:
        """Say that the accelerator already holds ``image`` (loaded earlier, e.g. `egru run
        --no-load`), so that its events are numbered by that model's unit order. ``load`` does
        this itself."""
        self._unit_order = image.unit_order

    def differs(self, model) -> str | None:
        """Read back every model memory and compare it with ``model`` (as for ``load``): None
        when the accelerator holds exactly this model, else where the first word differs."""
        image = model if isinstance(model, CoreImage) else self.fit(model)
        return self._compare(self._runs(load_words(image, self.info().geometry)))

    def _compare(self, runs, progress=None) -> str | None:
        for target, lane, addr, data in runs:
            got = self.read(target, lane, addr, len(data))
            if got != data:
                bad = next(i for i, (a, b) in enumerate(zip(got, data, strict=True)) if a != b)
                return (f"target {target} lane {lane} address {addr + bad}: expected {data[bad]:#x}, "
                        f"read {got[bad]:#x}")
            if progress:
                progress(len(data))
        return None

    def _runs(self, words: list[dict]) -> list[tuple[int, int, int, list[int]]]:
        """Consecutive words of one memory, in chunks of at most one WRITE frame."""
        limit = self.wire.max_write()
        runs = []
        for w in words:
            last = runs[-1] if runs else None
            if (last and last[0] == w["target"] and last[1] == w["lane"]
                    and last[2] + len(last[3]) == w["addr"] and len(last[3]) < limit):
                last[3].append(w["data"])
            else:
                runs.append((w["target"], w["lane"], w["addr"], [w["data"]]))
        return runs

    def read(self, target: int, lane: int, addr: int, count: int) -> list[int]:
        """``count`` words of one memory (in chunks of one READ frame each)."""
        wb, limit = self.wire.word_bytes, self.wire.max_read()
        out = []
        while count > 0:
            n = min(count, limit)
            raw = self.request(Command.READ, struct.pack("<BBIH", target, lane, addr, n))
            if len(raw) != n * wb:
                raise DriverError(f"READ returned {len(raw)} bytes for {n} words of {wb} bytes")
            out += [int.from_bytes(raw[i:i + wb], "little") for i in range(0, len(raw), wb)]
            addr, count = addr + n, count - n
        return out

    def run(self, x_q) -> SequenceOutput:
        """One sequence of quantized inputs [T][I] (integers at input_frac, e.g. from
        sw.golden.quantize_inputs); a running sequence is abandoned first."""
        cfg = self.info().config
        rows = [[int(v) for v in row] for row in (x_q.tolist() if hasattr(x_q, "tolist") else x_q)]
        T = len(rows)
        if not 1 <= T <= cfg.max_steps:
            raise ValueError(f"a sequence must have 1 to max_steps = {cfg.max_steps} steps, got {T}")
        for t, row in enumerate(rows):  # every step is checked before the first is sent
            _check_row(cfg, row, f"step {t}")
        steps = [self._step(row, start=t == 0, end=t == T - 1) for t, row in enumerate(rows)]
        last = steps[-1]
        return SequenceOutput(steps=steps, logits=last.logits, predicted=last.predicted,
                              readout_cycles=last.readout_cycles)

    def step(self, row, *, start: bool, end: bool = False) -> StepOutput:
        """One step of a sequence that the host builds as it goes (each input may depend on
        the last step's output, as when a language model's sample is fed back): ``row`` holds
        the step's input_size quantized inputs; ``start`` begins a new sequence (abandoning a
        running one), ``end`` ends it. With a per-step readout every step's output carries its
        logits; otherwise only the ``end`` step's does."""
        row = [int(v) for v in (row.tolist() if hasattr(row, "tolist") else row)]
        _check_row(self.info().config, row, "a step")
        return self._step(row, start=start, end=end)

    def _step(self, row: list, *, start: bool, end: bool) -> StepOutput:
        w = self.wire
        flags = (STEP_START if start else 0) | (STEP_END if end else 0)
        payload = bytes([flags]) + b"".join(v.to_bytes(w.input_bytes, "little", signed=True) for v in row)
        raw = self.request(Command.STEP, payload)
        out = self._step_output(raw, end)
        if w.carries_readout(end):
            out.logits, out.predicted, out.readout_cycles = self._readout(raw)
        return out

    def counters(self) -> dict:
        """The last step's counters and the last readout's cycles."""
        raw = self.request(Command.COUNTERS)
        out = _counters(raw)
        out["readout_cycles"] = int.from_bytes(raw[_COUNTERS.size:_COUNTERS.size + 4], "little")
        return out

    def reset(self) -> None:
        """Abandon a running sequence (memories keep the model)."""
        self.request(Command.RESET)

    # ---- response parsing (offsets are those of hw.spec.protocol.Wire, minus the status byte)
    def _step_output(self, raw: bytes, end: bool) -> StepOutput:
        w = self.wire
        if len(raw) < w.events_at(end) - 1:
            raise DriverError(f"a STEP response of {len(raw)} bytes is too short")
        (n,) = struct.unpack_from("<H", raw, w.events_count_at - 1)
        at, sb = w.events_at(end) - 1, w.state_bytes
        if len(raw) != at + n * w.event_bytes:
            raise DriverError(f"a STEP response announces {n} events but has {len(raw)} bytes")
        events = []
        for i in range(n):
            e = raw[at + i * w.event_bytes: at + (i + 1) * w.event_bytes]
            layer, k = e[0], int.from_bytes(e[1:3], "little")
            if self._unit_order is not None:
                if layer >= len(self._unit_order) or k >= len(self._unit_order[layer]):
                    raise DriverError(f"a STEP response names unit {k} of layer {layer}, which the model lacks")
                k = self._unit_order[layer][k]
            events.append((layer, k, int.from_bytes(e[3:3 + sb], "little", signed=True)))
        if self._unit_order is not None:  # the core sends by physical unit; the user reads by their own
            events.sort(key=lambda ev: ev[:2])
        return StepOutput(counters=_counters(raw), events=events)

    def _readout(self, raw: bytes) -> tuple[list[int], int, int]:
        w = self.wire
        lb = w.logit_bytes
        cycles = int.from_bytes(raw[w.readout_at - 1:w.readout_at + 3], "little")
        logits = [int.from_bytes(raw[w.logits_at - 1 + n * lb: w.logits_at - 1 + (n + 1) * lb], "little", signed=True)
                  for n in range(self.info().config.num_classes)]
        (predicted,) = struct.unpack_from("<H", raw, w.class_at - 1)
        return logits, predicted, cycles


def _check_row(cfg: EGRUConfig, row: list, name: str) -> None:
    """One step's inputs: input_size integers within input_bits."""
    lo, hi = -(1 << (cfg.input_bits - 1)), (1 << (cfg.input_bits - 1)) - 1
    if len(row) != cfg.input_size:
        raise ValueError(f"{name} has {len(row)} inputs, the hardware takes {cfg.input_size}")
    if any(not lo <= v <= hi for v in row):
        raise ValueError(f"{name} has an input outside the {cfg.input_bits}-bit range [{lo}, {hi}]")


def _counters(raw: bytes) -> dict:
    return dict(zip((name for name, _ in COUNTER_FIELDS), _COUNTERS.unpack_from(raw), strict=True))


def _model(model) -> tuple[EGRUConfig, object]:
    if isinstance(model, str):
        model = modelfile.load(model)
    if isinstance(model, modelfile.Model):
        return model.config, model.params
    cfg, params = model
    return cfg, params

