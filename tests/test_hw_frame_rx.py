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


def run_frames(chunks, max_payload=64):
    """chunks: byte strings, each followed by a silence longer than the timeout (a host waits
    for the response). Returns (frames, errors)."""
    dut = FrameRx(max_payload=max_payload, timeout=TIMEOUT)
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
        while not fed["done"] or ctx.get(dut.frame_valid) or ctx.get(dut.error_valid):
            await ctx.tick()
            if ctx.get(dut.frame_valid):
                payload = []
                for a in range(ctx.get(dut.length)):
                    ctx.set(dut.rd_addr, a)
                    await ctx.tick()
                    payload.append(ctx.get(dut.rd_data))
                frames.append(Frame(cmd=ctx.get(dut.cmd), seq=ctx.get(dut.seq), payload=bytes(payload)))
                ctx.set(dut.frame_done, 1)
                await ctx.tick()
                ctx.set(dut.frame_done, 0)
            elif ctx.get(dut.error_valid):
                errors.append(ctx.get(dut.error))
                ctx.set(dut.error_done, 1)
                await ctx.tick()
                ctx.set(dut.error_done, 0)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(feeder)
    sim.add_testbench(consumer)
    sim.run()
    return frames, errors


def test_fuzzed_frames_yield_exactly_the_intact_ones():
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
    frames, errors = run_frames(chunks)
    assert frames == intact
    # every damaged frame is reported; its leftover bytes may hold a start byte that begins a
    # bogus frame, reported too
    assert len(errors) >= damaged
    assert set(errors) <= {BAD_CRC, BAD_LENGTH, TRUNCATED} and len(set(errors)) == 3


def test_crc_matches_the_host_and_a_good_frame_follows_a_bad_one():
    good = Frame(cmd=1, seq=7, payload=b"hello")
    bad = bytearray(encode(good))
    bad[-1] ^= 1
    frames, errors = run_frames([bytes(bad), encode(good)])
    assert errors == [BAD_CRC] and frames == [good]


def test_bad_parameters_are_named():
    with pytest.raises(ValueError, match="timeout must be an integer >= 2, got 1"):
        FrameRx(timeout=1)
