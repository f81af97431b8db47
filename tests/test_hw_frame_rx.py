"""FrameRx (amaranth.sim): from a byte stream of 1,000 frames of which a third are damaged (bit
flips, truncation, impossible lengths) with garbage between them, exactly the intact frames come
out, in order, with their payloads; every damaged frame is reported as an error;
the receiver never hangs. The CRC matches the host's."""

import random

import pytest
from amaranth.sim import Simulator

from hw.frame_rx import BAD_CRC, BAD_LENGTH, TRUNCATED, FrameRx
from sw.protocol import Frame, encode

TIMEOUT = 12


def run_frames(chunks, max_payload=64, registered=False):
    """chunks: byte strings, each followed by a silence longer than the timeout (a host waits
    for the response). Returns (frames, errors)."""
    dut = FrameRx(max_payload=max_payload, timeout=TIMEOUT, registered=registered)
    frames, errors = [], []
    fed = {"done": False}

    async def feeder(ctx):
        for chunk in chunks:
            for b in chunk:
                ctx.set(dut.bytes.valid, 1)
                ctx.set(dut.bytes.payload, b)
                await ctx.tick().until(dut.bytes.ready)
            ctx.set(dut.bytes.valid, 0)
            for _ in range(TIMEOUT + 4):
                await ctx.tick()
        fed["done"] = True

    async def consumer(ctx):
        while not fed["done"] or ctx.get(dut.frames.frame_valid) or ctx.get(dut.frames.error_valid):
            await ctx.tick()
            if ctx.get(dut.frames.frame_valid):
                payload = []
                for a in range(ctx.get(dut.frames.length)):
                    ctx.set(dut.frames.rd_addr, a)
                    await ctx.tick()
                    payload.append(ctx.get(dut.frames.rd_data))
                frames.append(Frame(cmd=ctx.get(dut.frames.cmd), seq=ctx.get(dut.frames.seq), payload=bytes(payload)))
                ctx.set(dut.frames.frame_done, 1)
                await ctx.tick()
                ctx.set(dut.frames.frame_done, 0)
            elif ctx.get(dut.frames.error_valid):
                errors.append(ctx.get(dut.frames.error))
                ctx.set(dut.frames.error_done, 1)
                await ctx.tick()
                ctx.set(dut.frames.error_done, 0)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(feeder)
    sim.add_testbench(consumer)
    sim.run()
    return frames, errors


@pytest.mark.parametrize("registered", [False, True])
def test_fuzzed_frames_yield_exactly_the_intact_ones(registered):
    rng = random.Random(5)
    chunks, intact, damaged = [], [], 0
    for i in range(1000):
        f = Frame(cmd=rng.randrange(7), seq=i % 256, payload=rng.randbytes(rng.randrange(0, 64)))
        raw = bytearray(encode(f))
        kind = rng.random()
        if kind < 0.1:
            bit = rng.randrange(8, 8 * len(raw))  # any bit after the start byte
            raw[bit // 8] ^= 1 << (bit % 8)
            damaged += 1
        elif kind < 0.2:
            raw = raw[:rng.randrange(2, len(raw))]
            damaged += 1
        elif kind < 0.3:
            raw[4] = 0xFF  # length >= 65280: impossible
            damaged += 1
        else:
            intact.append(f)
        garbage = bytes(b for b in rng.randbytes(rng.randrange(0, 6)) if b != 0xA5)
        chunks.append(garbage + bytes(raw))
    frames, errors = run_frames(chunks, registered=registered)
    assert frames == intact
    # every damaged frame is reported; its leftover bytes may hold a start byte that begins a
    # bogus frame, reported too
    assert len(errors) >= damaged
    assert set(errors) <= {BAD_CRC, BAD_LENGTH, TRUNCATED} and len(set(errors)) == 3


@pytest.mark.parametrize("registered", [False, True])
def test_crc_matches_the_host_and_a_good_frame_follows_a_bad_one(registered):
    good = Frame(cmd=1, seq=7, payload=b"hello")
    bad = bytearray(encode(good))
    bad[-1] ^= 1
    frames, errors = run_frames([bytes(bad), encode(good)], registered=registered)
    assert errors == [BAD_CRC] and frames == [good]


def test_bad_parameters_are_named():
    with pytest.raises(ValueError, match="timeout must be an integer >= 2, got 1"):
        FrameRx(timeout=1)
    with pytest.raises(TypeError, match="registered must be a bool, got 1"):
        FrameRx(registered=1)


def test_the_frame_signature_is_named_by_its_buffer_and_connects_the_receiver_to_a_consumer():
    from amaranth.hdl import Module
    from amaranth.lib import wiring
    from amaranth.lib.wiring import In, connect

    from hw.frame_rx import FrameSignature

    assert FrameSignature(64) == FrameSignature(64) != FrameSignature(32)
    assert repr(FrameSignature(64)) == "FrameSignature(64)"
    assert FrameSignature(64).members["rd_addr"].shape == 6  # addresses 0 to 63
    with pytest.raises(ValueError, match="FrameSignature: max_payload must be an integer >= 1, got 0"):
        FrameSignature(0)

    class Consumer(wiring.Component):
        frames: In(FrameSignature(64))

        def elaborate(self, platform):
            return Module()

    m, rx, consumer = Module(), FrameRx(max_payload=64), Consumer()
    connect(m, rx.frames, consumer.frames)
    with pytest.raises(wiring.ConnectionError):
        connect(Module(), FrameRx(max_payload=32).frames, Consumer().frames)
    for c in (rx, consumer):
        c._MustUse__silence = True
