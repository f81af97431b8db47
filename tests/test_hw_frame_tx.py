"""FrameTx (amaranth.sim): every frame it sends decodes, with the host's decoder, to exactly the
header and payload it was given, under random backpressure and gaps in the payload."""

import random

from amaranth.sim import Simulator

from hw.frame_tx import FrameTx
from sw.protocol import Decoder, Frame


def test_frames_decode_to_what_was_sent():
    rng = random.Random(3)
    frames = [Frame(cmd=0x80 | rng.randrange(7), seq=i, payload=rng.randbytes(rng.choice([0, 1, 5, 40])))
              for i in range(60)]
    dut = FrameTx()
    out = bytearray()
    state = {"done": False}

    async def sender(ctx):
        for f in frames:
            ctx.set(dut.header.valid, 1)
            ctx.set(dut.header.payload, {"cmd": f.cmd, "seq": f.seq, "length": len(f.payload)})
            await ctx.tick().until(dut.header.ready)
            ctx.set(dut.header.valid, 0)
            for b in f.payload:
                while rng.random() < 0.2:  # gaps in the payload
                    ctx.set(dut.data.valid, 0)
                    await ctx.tick()
                ctx.set(dut.data.valid, 1)
                ctx.set(dut.data.payload, b)
                await ctx.tick().until(dut.data.ready)
            ctx.set(dut.data.valid, 0)
        for _ in range(20):
            await ctx.tick()
        state["done"] = True

    async def receiver(ctx):
        while not state["done"]:
            ready = int(rng.random() < 0.7)  # backpressure
            ctx.set(dut.bytes.ready, ready)
            if ready and ctx.get(dut.bytes.valid):  # transferred at the coming edge
                out.append(ctx.get(dut.bytes.payload))
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(sender)
    sim.add_testbench(receiver)
    sim.run()
    dec = Decoder()
    assert dec.feed(bytes(out)) == frames
    assert dec.errors == {"garbage": 0, "bad_length": 0, "bad_crc": 0}
