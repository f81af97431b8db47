"""Fuzz the protocol front-end of the UART top (hw/top.py) on Verilator, through the TCP bridge
of `egru serve-sim` (sim/bridge.cpp), with a stream of frames: random bytes, bit flips, bad
CRCs, truncations, oversize and wrong lengths, refused requests, and valid frames with random
commands and arguments (WRITE, READ, STEP, COUNTERS, RESET, PING, INFO).

Every response is predicted exactly by a host-side model of the receiver (hw/frame_rx.py: which
bytes make a frame, which a BAD_CRC, BAD_LENGTH or TRUNCATED answer) and of the command unit
(hw/command.py: the checks in their order, the sequence state, the retry memory), with a shadow
of every model memory that follows the valid WRITEs. So a READ must return what the shadow holds,
every frame must get the predicted status, every fuzzed frame is followed by a PING that must be
echoed (the host recovers), and a stall of the responses is a hang. At checkpoints and at the
end every model memory is read back and compared with the shadow; then the original model is
loaded again through the driver and a test set runs bit-exact against the golden and cycle
models.

Speed: frames are pipelined. The host keeps at most ``window`` request bytes unanswered (less
than the top's 256-byte receive FIFO, so nothing can overflow it whatever the design does
meanwhile) and sends each item in one write, so the line never idles inside a frame; only a
truncation waits for its TRUNCATED answer.

    python -m tests.host_fuzz --frames 100000 --report build/fuzz/report.json     (make fuzz)
"""

import argparse
import binascii
import collections
import dataclasses
import json
import os
import random
import select
import socket
import struct
import sys
import time

from gen.bench import machine
from hw.spec.layout import T_POINTER, CoreImage
from hw.spec.protocol import ACCESS_HEADER, RESPONSE, SOF, STEP_END, STEP_FLAGS, STEP_START, Command, Status
from sw.protocol import CRC, HEADER, Decoder, Frame, crc16, encode

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build", "test-serve")


class FuzzFailure(AssertionError):
    """The accelerator answered something the model did not predict, or stopped answering."""


# ---- the receiver, as the host sees it ----------------------------------------------------------
class RxModel:
    """hw/frame_rx.py byte by byte: hunt for SOF, header, LEN against max_payload (BAD_LENGTH,
    hunt from the next byte), payload, CRC (BAD_CRC, hunt from the byte after it); a pause
    inside a frame is TRUNCATED. ``feed`` returns what the receiver hands to the command unit:
    ("error", status, cmd, seq) or ("frame", cmd, seq, payload, crc)."""

    def __init__(self, max_payload: int):
        self.max_payload = max_payload
        self.state = "HUNT"
        self.cmd = self.seq = self.length = 0
        self.crc = 0xFFFF
        self.payload = bytearray()
        self.crc_low = 0

    @property
    def open(self) -> bool:
        return self.state != "HUNT"

    def copy(self) -> "RxModel":
        other = RxModel(self.max_payload)
        other.__dict__.update(self.__dict__, payload=bytearray(self.payload))
        return other

    def feed(self, data: bytes) -> list:
        out = []
        for b in data:
            r = self._byte(b)
            if r is not None:
                out.append(r)
        return out

    def _byte(self, b: int):
        s = self.state
        if s == "HUNT":
            if b == SOF:
                self.state, self.cmd, self.seq, self.length, self.crc = "CMD", 0, 0, 0, 0xFFFF
                self.payload = bytearray()
            return None
        if s in ("CMD", "SEQ", "LEN0", "LEN1"):
            self.crc = crc16_step(self.crc, b)
        if s == "CMD":
            self.cmd, self.state = b, "SEQ"
        elif s == "SEQ":
            self.seq, self.state = b, "LEN0"
        elif s == "LEN0":
            self.length, self.state = b, "LEN1"
        elif s == "LEN1":
            self.length |= b << 8
            if self.length > self.max_payload:
                return self._error(Status.BAD_LENGTH)
            self.state = "CRC0" if self.length == 0 else "PAYLOAD"
        elif s == "PAYLOAD":
            self.payload.append(b)
            self.crc = crc16_step(self.crc, b)
            if len(self.payload) == self.length:
                self.state = "CRC0"
        elif s == "CRC0":
            self.crc_low, self.state = b, "CRC1"
        else:  # CRC1
            self.state = "HUNT"
            if (b << 8 | self.crc_low) != self.crc:
                return ("error", Status.BAD_CRC, self.cmd, self.seq)
            return ("frame", self.cmd, self.seq, bytes(self.payload), self.crc)
        return None

    def _error(self, status):
        self.state = "HUNT"
        return ("error", status, self.cmd, self.seq)

    def timeout(self):
        """The line paused: a frame begun is TRUNCATED (None when hunting)."""
        return self._error(Status.TRUNCATED) if self.open else None

    def closer(self) -> bytes:
        """Bytes that end the open frame with a wrong CRC (nothing when hunting), so the stream
        can go on without a pause and without an accidental valid frame."""
        if not self.open:
            return b""
        if self.state in ("CMD", "SEQ", "LEN0", "LEN1"):
            # a zero LEN (and zero CMD/SEQ if missing) brings the frame to its CRC
            probe = self.copy()
            head = bytes({"CMD": 4, "SEQ": 3, "LEN0": 2, "LEN1": 1}[self.state])
            probe.feed(head)
            return head + probe.closer()
        rest = bytes(self.length - len(self.payload)) if self.state == "PAYLOAD" else b""
        crc = self.crc
        for b in rest:
            crc = crc16_step(crc, b)
        if self.state == "CRC1":  # the low byte is in: a high byte that cannot match
            return bytes([((crc >> 8) ^ 1) & 0xFF])
        return rest + CRC.pack(crc ^ 0x8001)


def crc16_step(crc: int, byte: int) -> int:
    """CRC-16/CCITT-FALSE after one more byte."""
    return binascii.crc_hqx(bytes([byte]), crc)


# ---- the command unit and the model memories, as the host sees them ---------------------------
@dataclasses.dataclass
class Expect:
    """One response the accelerator must send: its CMD (with the response bit), SEQ, status,
    and the payload after the status byte (bytes: exactly these; a callable: it returns an
    error message or None; None: any)."""
    cmd: int
    seq: int
    status: Status
    payload: object = b""
    what: str = ""

    def check(self, frame: Frame) -> str | None:
        if not frame.payload:
            return "a response without a status byte"
        got = (frame.cmd, frame.seq, frame.payload[0])
        if got != (self.cmd, self.seq, self.status):
            name = Status(frame.payload[0]).name if frame.payload[0] in set(Status) else frame.payload[0]
            return (f"answered cmd {frame.cmd:#04x} seq {frame.seq} {name}, expected cmd {self.cmd:#04x} "
                    f"seq {self.seq} {self.status.name}")
        body = frame.payload[1:]
        if isinstance(self.payload, bytes) and body != self.payload:
            return f"payload {body.hex()} != expected {self.payload.hex()}"
        if callable(self.payload):
            return self.payload(body)
        return None


class DeviceModel:
    """hw/command.py's behaviour for every frame the receiver releases, over a shadow of every
    model memory: (target, lane) -> the words a READ returns."""

    def __init__(self, wire, info: bytes, memories: dict):
        self.w, self.g, self.info = wire, wire.geometry, info
        self.targets = self.g.targets()
        self.mem = {k: list(v) for k, v in memories.items()}
        self.steps = 0           # steps done in the running sequence (0: between sequences)
        self.last = None         # (cmd, seq, crc, Expect) of the last frame executed
        self.last_step = 0       # the step index the core's counters hold
        self.writes = 0          # words written by valid WRITEs

    @property
    def busy(self) -> bool:
        return self.steps != 0

    def receive(self, event) -> Expect:
        if event[0] == "error":
            _, status, cmd, seq = event
            return Expect(cmd | RESPONSE, seq, status, b"", "receive error")
        _, cmd, seq, payload, crc = event
        if self.last and self.last[:3] == (cmd, seq, crc):  # a retry: answered from the stored response
            return self.last[3]
        status, body, what = self._execute(cmd, payload)
        expect = Expect(cmd | RESPONSE, seq, status, body, what)
        self.last = (cmd, seq, crc, expect)
        return expect

    def _execute(self, cmd: int, p: bytes):
        n, w = len(p), self.w
        if cmd == Command.PING:
            return (Status.BAD_LENGTH, b"", "ping") if n + 1 > w.max_response else (Status.OK, p, "ping")
        if cmd == Command.INFO:
            return (Status.BAD_LENGTH, b"", "info") if n else (Status.OK, self.info, "info")
        if cmd in (Command.WRITE, Command.READ):
            return self._access(cmd == Command.WRITE, p)
        if cmd == Command.STEP:
            return self._step(p)
        if cmd in (Command.COUNTERS, Command.RESET):
            if n:
                return Status.BAD_LENGTH, b"", "counters/reset"
            if cmd == Command.RESET:
                self.steps = 0
                return Status.OK, b"", "reset"
            return Status.OK, self._counters_check(self.last_step), "counters"
        return Status.UNKNOWN_COMMAND, b"", "unknown command"

    def _access(self, write: bool, p: bytes):
        w, what = self.w, "write" if write else "read"
        if len(p) < ACCESS_HEADER:
            return Status.BAD_LENGTH, b"", what
        target, lane, addr, count = struct.unpack_from("<BBIH", p)
        if write and len(p) != ACCESS_HEADER + count * w.word_bytes:
            return Status.BAD_LENGTH, b"", what
        if not write and (len(p) != ACCESS_HEADER or count > w.max_read()):
            return Status.BAD_LENGTH, b"", what
        if target not in self.targets:
            return Status.BAD_ADDRESS, b"", what
        depth, per_lane = self.targets[target]
        la = self.g.load_addr_bits
        if (not (lane < self.g.P if per_lane else lane == 0)) or addr >> la or count >> la or addr + count > depth:
            return Status.BAD_ADDRESS, b"", what
        if self.busy:
            return Status.BUSY, b"", what
        words = self.mem[(target, lane)]
        wb = w.word_bytes
        if write:
            for i in range(count):
                words[addr + i] = int.from_bytes(p[ACCESS_HEADER + i * wb: ACCESS_HEADER + (i + 1) * wb], "little")
            self.writes += count
            return Status.OK, b"", what
        return Status.OK, b"".join(v.to_bytes(wb, "little") for v in words[addr:addr + count]), what

    def _step(self, p: bytes):
        w, cfg = self.w, self.g.cfg
        if len(p) != w.step_request:
            return Status.BAD_LENGTH, b"", "step"
        flags = p[0]
        lo, hi = -(1 << (cfg.input_bits - 1)), (1 << (cfg.input_bits - 1)) - 1
        ib = w.input_bytes
        values = [int.from_bytes(p[1 + i * ib: 1 + (i + 1) * ib], "little", signed=True) for i in range(self.g.I)]
        start, end = bool(flags & STEP_START), bool(flags & STEP_END)
        done = 0 if start else self.steps
        if flags & ~STEP_FLAGS or any(not lo <= v <= hi for v in values) or (not end and done == cfg.max_steps - 1):
            return Status.BAD_ARGUMENT, b"", "step"
        self.steps = 0 if end else done + 1
        self.last_step = done
        return Status.OK, self._step_check(done, end), "step"

    def _step_check(self, index: int, end: bool):
        w, g = self.w, self.g

        def check(body: bytes) -> str | None:
            at = w.events_at(end) - 1
            if len(body) < at:
                return f"a STEP response of {len(body)} bytes"
            step, = struct.unpack_from("<H", body, 0)
            n, = struct.unpack_from("<H", body, w.events_count_at - 1)
            if step != index:
                return f"the STEP response's counters are of step {step}, expected {index}"
            if len(body) != at + n * w.event_bytes or n > w.max_events:
                return f"a STEP response announcing {n} events has {len(body)} bytes"
            for i in range(n):
                layer, unit = struct.unpack_from("<BH", body, at + i * w.event_bytes)
                if layer >= g.L or unit >= g.H:
                    return f"an event of layer {layer}, unit {unit}"
            if end and struct.unpack_from("<H", body, w.class_at - 1)[0] >= g.C:
                return "a class outside the classes"
            return None
        return check

    def _counters_check(self, index: int):
        size = self.w.counters_response - 1

        def check(body: bytes) -> str | None:
            if len(body) != size:
                return f"a COUNTERS response of {len(body)} bytes"
            step, = struct.unpack_from("<H", body, 0)
            return None if step == index else f"COUNTERS holds step {step}, expected {index}"
        return check


# ---- what goes on the line ---------------------------------------------------------------------
# fuzz kinds and their weights: valid requests (random commands and arguments) and damage
VALID = {"write": 10, "read": 8, "step": 14, "counters": 2, "reset": 4, "ping": 3, "info": 1}
DAMAGED = {"bit_flips": 8, "bad_crc": 5, "truncated": 4, "wrong_length": 5, "oversize": 4, "length_mismatch": 4,
           "unknown_command": 3, "bad_address": 5, "bad_argument": 5, "garbage": 6}
KINDS = {**VALID, **DAMAGED}


def raw_frame(cmd: int, seq: int, payload: bytes, length: int | None = None) -> bytes:
    """A frame with a valid CRC whose LEN field may lie about the payload."""
    body = HEADER.pack(SOF, cmd, seq, len(payload) if length is None else length)[1:] + payload
    return bytes([SOF]) + body + CRC.pack(crc16(body))


class Generator:
    """Random requests for one build. Valid WRITEs carry words of other random models of the same
    configuration (``pool``: target -> words a READ returns unchanged), so the shadow knows what
    every READ must give back."""

    def __init__(self, rng: random.Random, wire, pool: dict):
        self.rng, self.w, self.g, self.pool = rng, wire, wire.geometry, pool
        self.targets = self.g.targets()

    def _range(self, limit: int):
        rng = self.rng
        target = rng.choice(sorted(self.targets))
        depth, per_lane = self.targets[target]
        count = rng.randint(1, min(depth, limit)) if rng.random() < 0.97 else 0
        addr = rng.randint(0, depth - count)
        return target, (rng.randrange(self.g.P) if per_lane else 0), addr, count

    def write(self) -> bytes:
        target, lane, addr, count = self._range(self.w.max_write())
        wb = self.w.word_bytes
        words = b"".join(self.rng.choice(self.pool[target]).to_bytes(wb, "little") for _ in range(count))
        return struct.pack("<BBIH", target, lane, addr, count) + words

    def read(self) -> bytes:
        return struct.pack("<BBIH", *self._range(self.w.max_read()))

    def step(self, bad: bool = False) -> bytes:
        rng, cfg = self.rng, self.g.cfg
        flags = rng.choices((STEP_START, 0, STEP_END, STEP_START | STEP_END), (20, 35, 30, 15))[0]
        half = 1 << (cfg.input_bits - 1)
        values = [0 if rng.random() < 0.4 else rng.randint(-half, half - 1) for _ in range(self.g.I)]
        if bad:  # an input outside input_bits, or unknown flags
            if rng.random() < 0.5:
                flags |= 1 << rng.randint(2, 7)
            else:
                big = (1 << (8 * self.w.input_bytes - 1))
                values[rng.randrange(self.g.I)] = rng.choice((half, -half - 1, rng.randint(half, big - 1),
                                                              rng.randint(-big, -half - 1)))
        return bytes([flags]) + b"".join(v.to_bytes(self.w.input_bytes, "little", signed=True) for v in values)

    def valid(self, kind: str) -> tuple[int, bytes]:
        """(command, payload) of a valid request of ``kind``."""
        rng = self.rng
        if kind == "write":
            return Command.WRITE, self.write()
        if kind == "read":
            return Command.READ, self.read()
        if kind == "step":
            return Command.STEP, self.step()
        if kind == "ping":
            return Command.PING, rng.randbytes(rng.randint(0, min(self.w.max_payload, 24)))
        return {"counters": Command.COUNTERS, "reset": Command.RESET, "info": Command.INFO}[kind], b""

    def any_valid(self) -> tuple[int, bytes]:
        return self.valid(self.rng.choices(list(VALID), list(VALID.values()))[0])

    def garbage(self, n: int, sof: bool) -> bytes:
        out = self.rng.randbytes(n)
        return out if sof else out.replace(bytes([SOF]), b"\x00")

    def make(self, kind: str) -> tuple[bytes, tuple | None, bool]:
        """(bytes, the valid frame intended (cmd, seq, payload) or None, whether the line must
        then pause: a truncation)."""
        rng = self.rng
        seq = rng.randrange(256)
        if kind in VALID:
            cmd, payload = self.valid(kind)
            return encode(Frame(cmd, seq, payload)), (cmd, seq, payload), False
        if kind == "bit_flips":
            data = bytearray(encode(Frame(*self._with_seq(self.any_valid(), seq))))
            for bit in rng.sample(range(8 * len(data)), rng.randint(1, 3)):  # distinct bits: none undone
                data[bit // 8] ^= 1 << (bit % 8)
            return bytes(data), None, False
        if kind == "bad_crc":
            data = bytearray(encode(Frame(*self._with_seq(self.any_valid(), seq))))
            data[-rng.randint(1, 2)] ^= rng.randint(1, 255)
            return bytes(data), None, False
        if kind == "truncated":
            data = encode(Frame(*self._with_seq(self.any_valid(), seq)))
            return data[:rng.randint(1, len(data) - 1)], None, True
        if kind == "wrong_length":  # LEN changed, the CRC not recomputed
            data = bytearray(encode(Frame(*self._with_seq(self.any_valid(), seq))))
            data[3 + rng.randrange(2)] ^= 1 << rng.randrange(8)
            return bytes(data), None, False
        if kind == "oversize":  # LEN beyond the build's frame buffer, with a valid CRC
            cmd, payload = self.any_valid()
            length = rng.randint(self.w.max_payload + 1, 0xFFFF)
            return raw_frame(cmd, seq, payload, length), None, False
        if kind == "length_mismatch":  # a valid frame whose count disagrees with its words
            payload = bytearray(self.write())
            count = struct.unpack_from("<H", payload, 6)[0]
            struct.pack_into("<H", payload, 6, count + rng.choice((-1, 1)) if count else 1)
            return self._valid_frame(Command.WRITE, seq, bytes(payload))
        if kind == "unknown_command":
            cmd = rng.choice([c for c in range(256) if c not in set(Command)])
            return self._valid_frame(cmd, seq, self.any_valid()[1])
        if kind == "bad_address":
            return self._valid_frame(*self._bad_address(seq))
        if kind == "bad_argument":
            return self._valid_frame(Command.STEP, seq, self.step(bad=True))
        if kind == "garbage":
            return self.garbage(rng.randint(1, 40), sof=True), None, False
        raise ValueError(kind)

    def _with_seq(self, cmd_payload, seq):
        cmd, payload = cmd_payload
        return cmd, seq, payload

    def _valid_frame(self, cmd, seq, payload):
        return encode(Frame(cmd, seq, payload)), (cmd, seq, payload), False

    def _bad_address(self, seq):
        rng = self.rng
        cmd = rng.choice((Command.WRITE, Command.READ))
        payload = bytearray(self.write() if cmd == Command.WRITE else self.read())
        depth, per_lane = self.targets[payload[0]]
        count = struct.unpack_from("<H", payload, 6)[0]
        how = rng.choice(("target", "lane", "range", "high"))
        if how == "target":
            payload[0] = rng.randint(max(self.targets) + 1, 255)
        elif how == "lane":
            payload[1] = rng.randint(self.g.P, 255) if per_lane else rng.randint(1, 255)
        elif how == "range":
            struct.pack_into("<I", payload, 2, depth - count + rng.randint(1, 9))
        else:
            struct.pack_into("<I", payload, 2, rng.randint(1 << self.g.load_addr_bits, 0xFFFFFFFF))
        return cmd, seq, bytes(payload)


# ---- the line: pipelined, every response checked -------------------------------------------------
class Link:
    """One TCP client of the bridge. ``send`` writes one item's bytes at once (so the line does not
    pause inside a frame) once fewer than ``window`` request bytes are unanswered; responses are
    checked against the items' expectations in order as they arrive."""

    def __init__(self, port: int, window: int, stall: float):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.window, self.stall = window, stall
        self.decoder = Decoder()
        self.outstanding = collections.deque()  # [label, bytes, deque of Expect]
        self.in_flight = 0
        self.bytes_sent = self.bytes_received = self.responses = 0
        self.statuses = collections.Counter()

    def close(self) -> None:
        self.sock.close()

    def send(self, label: str, data: bytes, expects: list, pause: bool = False) -> None:
        while self.outstanding and self.in_flight + len(data) > self.window:
            self._pump()
        self.sock.sendall(data)
        self.bytes_sent += len(data)
        if expects:
            self.outstanding.append([label, len(data), collections.deque(expects)])
            self.in_flight += len(data)
        if pause:  # nothing may follow until the receiver has timed out
            self.drain()

    def drain(self) -> None:
        while self.outstanding:
            self._pump()

    def _pump(self) -> None:
        ready, _, _ = select.select([self.sock], [], [], self.stall)
        if not ready:
            label, _, expects = self.outstanding[0]
            raise FuzzFailure(f"hang: no response for {self.stall} s; waiting for {expects[0].what!r} "
                              f"({expects[0].status.name}) of {label}")
        data = self.sock.recv(65536)
        if not data:
            raise FuzzFailure("the simulation closed the connection")
        self.bytes_received += len(data)
        for frame in self.decoder.feed(data):
            if not self.outstanding:
                raise FuzzFailure(f"an unexpected response {frame}")
            item = self.outstanding[0]
            expect = item[2].popleft()
            error = expect.check(frame)
            if error:
                raise FuzzFailure(f"{item[0]}: {expect.what}: {error}")
            self.responses += 1
            self.statuses[Status(frame.payload[0]).name] += 1
            if not item[2]:
                self.outstanding.popleft()
                self.in_flight -= item[1]


class Fuzzer:
    """Drives one Link with generated items, keeping the receiver model, the device model and the
    shadow memories in step with what was sent."""

    def __init__(self, link: Link, gen: Generator, model: DeviceModel, rng: random.Random):
        self.link, self.gen, self.model, self.rng = link, gen, model, rng
        self.rx = RxModel(gen.w.max_payload)
        self.kinds = collections.Counter()
        self.rejected = 0
        self.frames = 0  # every frame sent: fuzzed, PINGs after them, memory checks

    def item(self, index: int) -> None:
        """One fuzzed item: a garbage prefix, the frame of a random kind, bytes that end a frame
        left open, then a PING that must be echoed."""
        rng = self.rng
        while True:
            kind = rng.choices(list(KINDS), list(KINDS.values()))[0]
            data, intended, pause = self.gen.make(kind)
            data = self.gen.garbage(rng.randint(0, 6), sof=False) + data
            rx = self.rx.copy()
            events = rx.feed(data)
            # an accidental WRITE (a CRC that happens to match damaged bytes) would store words the
            # shadow cannot predict the read-back of: draw again (about 1 in 100,000 items)
            if any(e[0] == "frame" and e[1] == Command.WRITE and e[1:4] != intended for e in events):
                self.rejected += 1
                continue
            break
        self.kinds[kind] += 1
        label = f"item {index} ({kind}: {data.hex()})"
        if pause:  # the truncated frame alone; the receiver must time out before anything follows
            events += [rx.timeout()] if rx.open else []
            self.rx = rx
            self.link.send(label, data, [self.model.receive(e) for e in events], pause=True)
            data, events = b"", []
        else:
            closer = rx.closer()
            events += rx.feed(closer)
            data += closer
            self.rx = rx
        ping = encode(Frame(Command.PING, rng.randrange(256), rng.randbytes(rng.randint(1, 8))))
        events += self.rx.feed(ping)
        self.frames += 2
        self.link.send(label, data + ping, [self.model.receive(e) for e in events])

    def request(self, cmd: int, payload: bytes, label: str) -> None:
        """One valid request, predicted by the model like any other."""
        data = encode(Frame(cmd, self.rng.randrange(256), payload))
        expects = [self.model.receive(e) for e in self.rx.feed(data)]
        self.frames += 1
        self.link.send(label, data, expects)

    def check_memories(self, label: str) -> int:
        """RESET, then READ every word of every model memory: each must equal the shadow."""
        self.request(Command.RESET, b"", f"{label}: reset")
        words, limit = 0, self.gen.w.max_read()
        for (target, lane), mem in sorted(self.model.mem.items()):
            for addr in range(0, len(mem), limit):
                count = min(limit, len(mem) - addr)
                self.request(Command.READ, struct.pack("<BBIH", target, lane, addr, count),
                             f"{label}: read of target {target} lane {lane} at {addr}")
                words += count
        self.link.drain()
        return words


# ---- the design under test and one run --------------------------------------------------------
DIVISOR = 4  # the fastest UART the top allows: 40 clock cycles per byte


def fuzz_top(seed: int = 5):
    """(config, params, UARTTop) of the small deep-pipeline build the fuzz attacks (its receive
    path has one more register than the short pipeline's): 4 units, 3 inputs, 2 lanes."""
    from hw.top import UARTTop
    from sw.hwimage import image_from_params
    from tests.random_models import random_config, random_params

    cfg = random_config(seed, lanes=2, layers=1, hidden_size=4, input_size=3, num_classes=2, input_bits=6,
                        lut_bits=4, pipeline="deep")
    params = random_params(cfg, seed)
    top = UARTTop(image_from_params(cfg, params), divisor=DIVISOR, max_payload=64, version="fuzz")
    return cfg, params, top


def start(top, build_dir: str = BUILD):
    """Build (once per design) and start the bridge for ``top``: (process, port)."""
    from gen.verilog import UART_TOP, write_verilog
    from sim import bridge

    path = write_verilog(top, os.path.join(build_dir, "fuzz-verilog"), name=UART_TOP)
    exe, _ = bridge.build(path, build_dir)
    return bridge.start(exe, divisor=DIVISOR)


def memories(image: CoreImage, geometry) -> dict:
    """(target, lane) -> every word a READ of that memory returns, for a core holding ``image``."""
    from sw.hwimage import load_words

    mem = {(t, lane): [None] * depth for t, (depth, per_lane) in geometry.targets().items()
           for lane in range(geometry.P if per_lane else 1)}
    for w in load_words(image, geometry):
        mem[(w["target"], w["lane"])][w["addr"]] = w["data"]
    missing = [k for k, v in mem.items() if None in v]
    if missing:
        raise ValueError(f"the image does not cover the memories {missing}")
    return mem


def word_pool(cfg, geometry, seeds) -> dict:
    """target -> words of other random models of this configuration (as READ returns them)."""
    from sw.hwimage import image_from_params, load_words
    from tests.random_models import random_params

    pool = collections.defaultdict(list)
    for s in seeds:
        image = image_from_params(cfg, random_params(cfg, s), lanes=geometry.P, pipeline=cfg.pipeline)
        for w in load_words(image, geometry):
            pool[w["target"]].append(w["data"])
    pool[T_POINTER] = sorted(set(pool[T_POINTER]))  # each distinct (start, length) equally likely
    return dict(pool)


def check_test_set(port: int, cfg, params, sequences: int, seed: int) -> int:
    """Load the original model through the driver (written and read back) and run ``sequences``
    random sequences: every event, logit, class and step cycle count must equal the golden and
    cycle models. Returns the sequences checked."""
    from sw import cycles
    from sw.driver import Accelerator
    from sw.golden import events as golden_events
    from sw.golden import run as golden_run
    from tests.random_models import random_inputs

    x_q = random_inputs(cfg, seed, sequences, 6)
    golden = golden_run(cfg, params, x_q)
    with Accelerator(f"socket://127.0.0.1:{port}", timeout=5.0, retries=0) as acc:
        image = acc.fit((cfg, params))
        acc.load(image, verify=True)
        for n in range(sequences):
            out = acc.run(x_q[n])
            got = ([(t, *e) for t, s in enumerate(out.steps) for e in s.events], out.logits,
                   [s.counters["cycles"] for s in out.steps])
            want = (golden_events(golden, n), golden.logits[n].tolist(),
                    [s.total for s in cycles.sequence_cycles(image, x_q, golden, n)])
            if got != want:
                raise FuzzFailure(f"after the fuzz, test sequence {n} differs from the golden model: {got} != {want}")
    return sequences


def run(port: int, cfg, params, top, frames: int, seed: int = 2026, check_every: int = 10000,
        window: int = 200, stall: float = 30.0, sequences: int = 20, say=None) -> dict:
    """Fuzz the bridge at ``port`` (serving ``top``) with ``frames`` items; raises FuzzFailure at
    the first difference from the model or on a hang. Returns the figures."""
    rng = random.Random(seed)
    g = top.core.geometry
    shadow = memories(top.core.image, g)
    pool = word_pool(cfg, g, seeds=(seed + 1, seed + 2, seed + 3))
    model = DeviceModel(top.wire, top.info, shadow)
    t0 = time.perf_counter()
    link = Link(port, window, stall)
    fuzzer = Fuzzer(link, Generator(rng, top.wire, pool), model, rng)
    checks = words_checked = 0
    try:
        words_checked += fuzzer.check_memories("before the fuzz")  # the shadow starts right
        checks += 1
        for i in range(frames):
            fuzzer.item(i)
            if (i + 1) % check_every == 0 or i + 1 == frames:
                words_checked += fuzzer.check_memories(f"memory check after item {i}")
                checks += 1
                if say:
                    rate = (i + 1) / (time.perf_counter() - t0)
                    say(f"fuzz: {i + 1} of {frames} items, {link.responses} responses checked, {rate:.0f} items/s")
        link.drain()
    finally:
        link.close()
    stream_seconds = time.perf_counter() - t0
    checked = check_test_set(port, cfg, params, sequences, seed)
    seconds = time.perf_counter() - t0
    return {
        "frames": frames, "frames_sent": fuzzer.frames, "kinds": dict(sorted(fuzzer.kinds.items())),
        "responses_checked": link.responses, "statuses": dict(sorted(link.statuses.items())),
        "bytes_sent": link.bytes_sent, "bytes_received": link.bytes_received,
        "words_written": model.writes, "memory_checks": checks, "words_checked": words_checked,
        "redrawn": fuzzer.rejected, "test_sequences": checked, "mismatches": 0, "hangs": 0,
        "stream_seconds": round(stream_seconds, 1), "seconds": round(seconds, 1),
        "frames_per_second": round(frames / stream_seconds, 1), "seed": seed, "divisor": DIVISOR,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=100000, help="fuzzed items (each one frame or damage, then a PING)")
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--check-every", type=int, default=10000, help="items between memory read-backs")
    ap.add_argument("--build-dir", default=BUILD)
    ap.add_argument("--report", default=None, help="write the figures as JSON here")
    args = ap.parse_args(argv)
    if args.frames < 1 or args.check_every < 1:
        ap.error("--frames and --check-every must be positive")
    say = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    cfg, params, top = fuzz_top()
    proc, port = start(top, args.build_dir)
    t0 = time.perf_counter()
    try:
        report = run(port, cfg, params, top, args.frames, seed=args.seed, check_every=args.check_every, say=say)
        code = 0
    except FuzzFailure as e:
        report = {"frames": args.frames, "failed": str(e), "seconds": round(time.perf_counter() - t0, 1)}
        code = 1
    finally:
        proc.kill()
        proc.wait()
    report["machine"] = machine()
    publish(report, "tests.host_fuzz", argv, args.report)
    return code


def publish(report: dict, module: str, argv, path: str | None) -> None:
    """Print the run's report as JSON (and write it to ``path``), with the command that made it."""
    report["command"] = f"python -m {module} " + " ".join(argv if argv is not None else sys.argv[1:])
    text = json.dumps(report, indent=1, sort_keys=True)
    if path:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w") as f:
            f.write(text + "\n")
    print(text)


if __name__ == "__main__":
    sys.exit(main())
