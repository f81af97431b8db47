"""The host side of the protocol: frames round-trip, the CRC is CRC-16/CCITT-FALSE, and the
decoder returns exactly the intact frames of a stream full of garbage, bit flips and
truncated frames, in order."""

import random

import pytest

from sw.protocol import MAX_PAYLOAD, Command, Decoder, Frame, ProtocolError, Status, crc16, encode


def test_crc_is_ccitt_false():
    assert crc16(b"123456789") == 0x29B1  # the standard check value


def test_frames_round_trip_in_any_chunking():
    rng = random.Random(0)
    frames = [Frame(cmd=rng.randrange(256), seq=rng.randrange(256), payload=rng.randbytes(rng.randrange(0, 300)))
              for _ in range(50)]
    stream = b"".join(encode(f) for f in frames)
    dec = Decoder()
    got, i = [], 0
    while i < len(stream):
        n = rng.randrange(1, 40)
        got += dec.feed(stream[i:i + n])
        i += n
    assert got == frames and dec.pending() == 0


def test_fuzzed_stream_yields_exactly_the_intact_frames():
    """1,000 frames: a third corrupted (bit flip, truncation, wrong length byte), garbage
    between frames; every intact frame comes out, no damaged one does."""
    rng = random.Random(1)
    stream, intact = bytearray(), []
    for i in range(1000):
        f = Frame(cmd=int(rng.choice(list(Command))), seq=i % 256, payload=rng.randbytes(rng.randrange(0, 64)))
        raw = bytearray(encode(f))
        damage = rng.random()
        if damage < 0.1:
            bit = rng.randrange(8 * len(raw))
            raw[bit // 8] ^= 1 << (bit % 8)
        elif damage < 0.2:
            raw = raw[:rng.randrange(1, len(raw))]
        elif damage < 0.3:
            raw[3] ^= 0xFF  # the length's low byte
        else:
            intact.append(f)
        stream += raw
        if rng.random() < 0.3:
            stream += rng.randbytes(rng.randrange(1, 20))
    dec = Decoder(max_payload=256)
    got = dec.feed(bytes(stream))
    while dec.pending():
        got += dec.timeout()
    assert got == intact
    assert dec.errors["bad_crc"] + dec.errors["bad_length"] > 0


def test_bad_frames_cannot_be_encoded():
    with pytest.raises(ProtocolError, match="exceeds the protocol's"):
        encode(Frame(cmd=1, seq=0, payload=bytes(MAX_PAYLOAD + 1)))
    with pytest.raises(ProtocolError, match="are bytes"):
        encode(Frame(cmd=300, seq=0))
    assert Frame(cmd=Command.INFO | 0x80, seq=3, payload=bytes([Status.BAD_CRC])).status is Status.BAD_CRC
