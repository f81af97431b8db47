"""The protocol front-end under attack: a small build's UART top, simulated by Verilator behind
the TCP bridge, gets a stream of random, damaged and valid frames (tests/host_fuzz.py: every
response predicted exactly, a shadow of the model memories, read-backs, then a test set run
bit-exact). `make test` runs FUZZ_FRAMES (default 2,000) items; `make fuzz` runs 100,000."""

import os
import struct

import pytest

from hw.spec.layout import T_READOUT_B, T_THR, T_WEIGHT
from hw.spec.protocol import STEP_START, Command, Status
from sw.driver import Accelerator, DeviceError
from sw.protocol import Frame, encode
from tests import host_fuzz

FRAMES = int(os.environ.get("FUZZ_FRAMES", "2000"))


@pytest.fixture(scope="module")
def served():
    """The fuzz build behind a running bridge: (config, params, top, port)."""
    cfg, params, top = host_fuzz.fuzz_top()
    proc, port = host_fuzz.start(top)
    yield cfg, params, top, port
    proc.kill()
    proc.wait()


@pytest.fixture
def accelerator(served):
    acc = Accelerator(f"socket://127.0.0.1:{served[3]}", timeout=5.0, retries=0)
    yield acc
    acc.close()


def snapshot(acc: Accelerator) -> dict:
    """Every model memory, read back through the protocol."""
    g = acc.info().geometry
    return {(t, lane): acc.read(t, lane, 0, depth)
            for t, (depth, per_lane) in g.targets().items() for lane in range(g.P if per_lane else 1)}


def test_a_stream_of_fuzzed_frames_gets_every_predicted_answer_and_corrupts_nothing(served):
    cfg, params, top, port = served
    r = host_fuzz.run(port, cfg, params, top, FRAMES, check_every=max(1, FRAMES // 2), sequences=10)
    assert r["responses_checked"] > FRAMES  # at least every PING after a fuzzed frame was echoed
    # every kind was sent, every check of the receiver and the command unit was reached
    assert set(r["kinds"]) == set(host_fuzz.KINDS)
    assert set(r["statuses"]) == {s.name for s in Status}
    assert r["words_written"] > 0 and r["memory_checks"] == 3 and r["test_sequences"] == 10


def test_the_fuzz_notices_a_word_that_no_tracked_write_stored(served, accelerator):
    cfg, params, top, port = served
    old = accelerator.read(T_THR, 1, 0, 1)
    payload = struct.pack("<BBIH", T_THR, 1, 0, 1) + ((old[0] ^ 1).to_bytes(accelerator.wire.word_bytes, "little"))
    accelerator.request(Command.WRITE, payload)  # behind the fuzz model's back
    accelerator.close()
    try:
        with pytest.raises(host_fuzz.FuzzFailure, match=f"read of target {T_THR} lane 1 at 0"):
            host_fuzz.run(port, cfg, params, top, 10)
    finally:  # the fuzz left with requests in flight: the first may meet a half frame, so retry
        with Accelerator(f"socket://127.0.0.1:{port}", timeout=1.0, retries=3) as acc:
            acc.request(Command.WRITE, payload[:8] + old[0].to_bytes(acc.wire.word_bytes, "little"))


def test_loads_are_refused_during_a_sequence_and_allowed_after_reset(accelerator):
    acc = accelerator
    acc.reset()
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
