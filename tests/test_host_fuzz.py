"""The protocol front-end under attack: a small build's UART top, simulated by Verilator behind
the TCP bridge, gets random and mutated frames. Whatever arrives, the model memories read back
unchanged, the expected error status comes back, and a valid frame still works afterwards."""

import os
import random
import struct

import pytest

from gen.verilog import UART_TOP, write_verilog
from hw.spec.layout import T_READOUT_B, T_THR, T_WEIGHT
from hw.spec.protocol import STEP_END, STEP_START, Command, Status
from hw.top import UARTTop
from sim import bridge
from sw.driver import Accelerator, DeviceError
from sw.hwimage import image_from_params
from sw.protocol import CRC, HEADER, SOF, Frame, crc16, encode
from tests.random_models import random_config, random_params

BUILD = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "build", "test-serve")
FRAMES = 1000


@pytest.fixture(scope="module")
def accelerator(tmp_path_factory):
    # the deep pipeline's top: its receive path has one more register
    cfg = random_config(5, lanes=2, layers=1, hidden_size=4, input_size=3, num_classes=2, input_bits=6, lut_bits=4,
                        pipeline="deep")
    top = UARTTop(image_from_params(cfg, random_params(cfg, 5)), divisor=4, max_payload=64, version="fuzz")
    path = write_verilog(top, str(tmp_path_factory.mktemp("fuzz-top")), name=UART_TOP)
    exe, _ = bridge.build(path, BUILD)
    proc, port = bridge.start(exe, divisor=4)
    acc = Accelerator(f"socket://127.0.0.1:{port}", timeout=5.0, retries=0)
    yield acc
    acc.close()
    proc.kill()
    proc.wait()


def snapshot(acc: Accelerator) -> dict:
    """Every model memory, read back through the protocol."""
    g = acc.info().geometry
    return {(t, lane): acc.read(t, lane, 0, depth)
            for t, (depth, per_lane) in g.targets().items() for lane in range(g.P if per_lane else 1)}


def raw_frame(cmd: int, seq: int, payload: bytes, length: int | None = None) -> bytes:
    """A frame with a valid CRC whose LEN field may lie about the payload."""
    body = HEADER.pack(SOF, cmd, seq, len(payload) if length is None else length)[1:] + payload
    return bytes([SOF]) + body + CRC.pack(crc16(body))


class Attack:
    """Builds one damaged or refused request and says what the accelerator must answer."""

    def __init__(self, acc: Accelerator, rng: random.Random):
        self.acc, self.rng = acc, rng
        self.g = acc.info().geometry
        self.w = acc.wire
        self.targets = self.g.targets()

    def garbage(self, n: int, allow_sof: bool) -> bytes:
        out = bytes(self.rng.randrange(256) for _ in range(n))
        return out if allow_sof else out.replace(bytes([SOF]), b"\x00")

    def write_payload(self, count_delta: int = 0) -> bytes:
        """A WRITE of random words to a random valid range: if it ever took effect, the
        read-back would show it."""
        rng = self.rng
        target = rng.choice(sorted(self.targets))
        depth, per_lane = self.targets[target]
        count = rng.randint(1, min(depth, self.w.max_write()))
        addr = rng.randint(0, depth - count)
        lane = rng.randrange(self.g.P) if per_lane else 0
        words = b"".join(rng.getrandbits(8 * self.w.word_bytes).to_bytes(self.w.word_bytes, "little")
                         for _ in range(count))
        return struct.pack("<BBIH", target, lane, addr, count + count_delta) + words

    def make(self, kind: str, seq: int) -> tuple[bytes, Status | None, bool]:
        """(bytes to send, the status the accelerator must answer or None if it depends on
        where the damage fell, whether the receiver may be left inside a frame)."""
        rng = self.rng
        if kind == "bit_flips":
            data = bytearray(encode(Frame(Command.WRITE, seq, self.write_payload())))
            for bit in rng.sample(range(8 * len(data)), rng.randint(1, 3)):  # distinct bits: no flip undone
                data[bit // 8] ^= 1 << (bit % 8)
            return bytes(data), None, True
        if kind == "truncated":
            data = encode(Frame(Command.WRITE, seq, self.write_payload()))
            return data[:rng.randint(1, len(data) - 1)], Status.TRUNCATED, False
        if kind == "wrong_length":  # the LEN field changed, the CRC not recomputed
            data = bytearray(encode(Frame(Command.WRITE, seq, self.write_payload())))
            data[3] ^= 1 << rng.randrange(8)
            return bytes(data), None, True
        if kind == "length_mismatch":  # a valid frame whose count disagrees with its words
            return encode(Frame(Command.WRITE, seq, self.write_payload(rng.choice((-1, 1))))), Status.BAD_LENGTH, False
        if kind == "unknown_command":
            cmd = rng.choice([c for c in range(256) if c not in set(Command)])
            return encode(Frame(cmd, seq, self.write_payload())), Status.UNKNOWN_COMMAND, False
        if kind == "bad_address":
            payload = bytearray(self.write_payload())
            target = payload[0]
            depth, per_lane = self.targets[target]
            how = rng.choice(("target", "lane", "range"))
            if how == "target":
                payload[0] = rng.randint(max(self.targets) + 1, 255)
            elif how == "lane":
                payload[1] = rng.randint(self.g.P, 255) if per_lane else rng.randint(1, 255)
            else:
                struct.pack_into("<I", payload, 2, depth - struct.unpack_from("<H", payload, 6)[0] + rng.randint(1, 9))
            return encode(Frame(Command.WRITE, seq, bytes(payload))), Status.BAD_ADDRESS, False
        if kind == "bad_argument":  # an input outside input_bits, or unknown flags
            values = [rng.randint(-32, 31) for _ in range(self.g.I)]
            flags = STEP_START | STEP_END
            if rng.random() < 0.5:
                flags |= 1 << rng.randint(2, 7)
            else:
                values[rng.randrange(self.g.I)] = rng.choice((32, 100, -33, -128))
            payload = bytes([flags]) + b"".join(v.to_bytes(self.w.input_bytes, "little", signed=True) for v in values)
            return encode(Frame(Command.STEP, seq, payload)), Status.BAD_ARGUMENT, False
        if kind == "garbage":
            return self.garbage(rng.randint(1, 40), allow_sof=True), None, True
        raise ValueError(kind)


KINDS = ("bit_flips", "truncated", "wrong_length", "length_mismatch", "unknown_command", "bad_address",
         "bad_argument", "garbage")


def test_a_thousand_damaged_or_refused_frames_change_nothing(accelerator):
    acc = accelerator
    rng = random.Random(2026)
    attack = Attack(acc, rng)
    before = snapshot(acc)
    pad = b"\x00" * (acc.wire.max_payload + 8)  # completes any frame the damage left open (bad CRC)
    seen = {kind: set() for kind in KINDS}
    for i in range(FRAMES):
        kind = KINDS[i % len(KINDS)]
        seq = rng.randrange(256)
        data, expected, may_stay_open = attack.make(kind, seq)
        prefix = attack.garbage(rng.randint(0, 8), allow_sof=False)
        acc.send_raw(prefix + data)
        if expected is not None:
            got = acc.receive_until(lambda f: True)
            statuses = [f.status for f in got]
            assert statuses == [expected], f"frame {i} ({kind}): answered {statuses}, expected {expected.name}"
            seen[kind].add(expected)
        nonce = rng.randbytes(8)
        acc.send_raw((pad if may_stay_open else b"") + encode(Frame(Command.PING, 0x5A, nonce)))
        echo = b"\x00" + nonce
        got = acc.receive_until(lambda f, echo=echo: f.cmd == Command.PING | 0x80 and f.payload == echo)
        seen[kind] |= {f.status for f in got[:-1]}
        # the memories: unchanged
        after = snapshot(acc)
        changed = [k for k in after if after[k] != before[k]]
        assert not changed, f"frame {i} ({kind}, {data.hex()}) changed the memories (target, lane) {changed}"
    # the damage reached the checks it was aimed at
    assert Status.BAD_CRC in seen["bit_flips"] and Status.BAD_CRC in seen["wrong_length"]
    assert seen["truncated"] == {Status.TRUNCATED}


def test_loads_are_refused_during_a_sequence_and_allowed_after_reset(accelerator):
    acc = accelerator
    before = snapshot(acc)
    zeros = b"\x00" * acc.info().config.input_size * acc.wire.input_bytes
    acc.request(Command.STEP, bytes([STEP_START]) + zeros)  # a sequence begins and does not end
    payload = struct.pack("<BBIH", T_THR, 0, 0, 1) + b"\x01" * acc.wire.word_bytes
    with pytest.raises(DeviceError, match="BUSY"):
        acc.request(Command.WRITE, payload)
    with pytest.raises(DeviceError, match="BUSY"):
        acc.read(T_WEIGHT, 0, 0, 1)
    assert acc.counters()["step"] == 0  # the step that ran was the sequence's first
    acc.reset()
    assert snapshot(acc) == before


def test_a_repeated_frame_is_answered_again_not_executed_twice(accelerator):
    acc = accelerator
    I, ib = acc.info().config.input_size, acc.wire.input_bytes
    step = encode(Frame(Command.STEP, 77, bytes([STEP_START]) + b"\x05" * (I * ib)))
    answers = []
    for _ in range(2):
        acc.send_raw(step)
        answers += acc.receive_until(lambda f: f.seq == 77)
    assert answers[0] == answers[1]
    assert acc.counters()["step"] == 0  # one step ran, the sequence's step 0
    acc.reset()


def test_a_write_then_read_round_trips_and_readout_bias_is_writable(accelerator):
    acc = accelerator
    old = acc.read(T_READOUT_B, 0, 0, 2)
    wb = acc.wire.word_bytes
    new = [(1 << (8 * wb)) - 5, 17]  # -5 (sign-extended to the word) and 17
    acc.request(Command.WRITE, struct.pack("<BBIH", T_READOUT_B, 0, 0, 2) + b"".join(v.to_bytes(wb, "little")
                                                                                      for v in new))
    mask = (1 << acc.info().geometry.data_bits) - 1
    assert acc.read(T_READOUT_B, 0, 0, 2) == [v & mask for v in new]
    acc.request(Command.WRITE, struct.pack("<BBIH", T_READOUT_B, 0, 0, 2) + b"".join(v.to_bytes(wb, "little")
                                                                                      for v in old))
    assert acc.read(T_READOUT_B, 0, 0, 2) == old


def test_a_damaged_copy_between_a_step_and_its_resend_does_not_make_the_step_run_twice(accelerator):
    acc = accelerator
    I, ib = acc.info().config.input_size, acc.wire.input_bytes
    acc.send_raw(encode(Frame(Command.STEP, 90, bytes([STEP_START]) + b"\x03" * (I * ib))))
    acc.receive_until(lambda f: f.seq == 90)
    step = encode(Frame(Command.STEP, 91, bytes([0]) + b"\x07" * (I * ib)))  # the sequence's step 1
    acc.send_raw(step)
    first = acc.receive_until(lambda f: f.seq == 91)[-1]
    damaged = bytearray(step)
    damaged[-1] ^= 0x10  # the resend arrives with a bad CRC ...
    acc.send_raw(bytes(damaged))
    assert [f.status for f in acc.receive_until(lambda f: True)] == [Status.BAD_CRC]
    acc.send_raw(step)  # ... and then intact: it is the same request, answered from the stored response
    assert acc.receive_until(lambda f: f.seq == 91)[-1] == first
    assert acc.counters()["step"] == 1
    acc.reset()
