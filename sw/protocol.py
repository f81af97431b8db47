"""The host side of the byte-stream protocol (docs/protocol.md): frames, CRC and a streaming
decoder that resynchronises after garbage, corruption or truncation.

    SOF 0xA5 | CMD | SEQ | LEN (u16 LE) | PAYLOAD (LEN bytes) | CRC-16/CCITT-FALSE (u16 LE)

The CRC covers CMD .. PAYLOAD. Responses use CMD | 0x80 and start their payload with a
status byte. The numbers (commands, status codes, payload formats) live in hw.spec.protocol,
shared with the hardware.
"""

import binascii
import dataclasses
import struct

from hw.spec.protocol import MAX_PAYLOAD, RESPONSE, SOF, Command, Status  # noqa: F401  (re-exported)

HEADER = struct.Struct("<BBBH")  # SOF, CMD, SEQ, LEN
CRC = struct.Struct("<H")


class ProtocolError(ValueError):
    """A frame that cannot be encoded or a response that makes no sense."""


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE: polynomial 0x1021, initial value 0xFFFF, no reflection, no final XOR."""
    return binascii.crc_hqx(data, 0xFFFF)


@dataclasses.dataclass(frozen=True)
class Frame:
    cmd: int
    seq: int
    payload: bytes = b""

    @property
    def is_response(self) -> bool:
        return bool(self.cmd & RESPONSE)

    @property
    def status(self) -> Status:
        if not self.is_response or not self.payload:
            raise ProtocolError("only a response carries a status")
        return Status(self.payload[0])


def encode(frame: Frame) -> bytes:
    if not 0 <= frame.cmd <= 0xFF or not 0 <= frame.seq <= 0xFF:
        raise ProtocolError(f"command and sequence number are bytes, got {frame.cmd}, {frame.seq}")
    if len(frame.payload) > MAX_PAYLOAD:
        raise ProtocolError(f"payload of {len(frame.payload)} bytes exceeds the protocol's {MAX_PAYLOAD}")
    body = HEADER.pack(SOF, frame.cmd, frame.seq, len(frame.payload))[1:] + bytes(frame.payload)
    return bytes([SOF]) + body + CRC.pack(crc16(body))


class Decoder:
    """Feed bytes as they arrive; get whole, CRC-checked frames. Bytes before a start byte are
    skipped; a frame whose length is impossible or whose CRC fails is dropped and the search for
    the next start byte resumes one byte after the bad frame's start, so a start byte inside the
    dropped frame is not missed. ``errors`` counts what was dropped, by kind."""

    def __init__(self, max_payload: int = MAX_PAYLOAD):
        self.max_payload = max_payload
        self._buf = bytearray()
        self.errors = {"garbage": 0, "bad_length": 0, "bad_crc": 0}

    def feed(self, data: bytes) -> list[Frame]:
        self._buf += data
        frames = []
        while True:
            start = self._buf.find(bytes([SOF]))
            if start < 0:
                self.errors["garbage"] += len(self._buf)
                self._buf.clear()
                return frames
            if start:
                self.errors["garbage"] += start
                del self._buf[:start]
            if len(self._buf) < HEADER.size:
                return frames
            _, cmd, seq, length = HEADER.unpack_from(self._buf)
            if length > self.max_payload:
                self.errors["bad_length"] += 1
                del self._buf[:1]
                continue
            end = HEADER.size + length + CRC.size
            if len(self._buf) < end:
                return frames  # incomplete: wait for more (a caller's timeout declares truncation)
            body = bytes(self._buf[1:HEADER.size + length])
            (crc,) = CRC.unpack_from(self._buf, HEADER.size + length)
            if crc != crc16(body):
                self.errors["bad_crc"] += 1
                del self._buf[:1]
                continue
            frames.append(Frame(cmd=cmd, seq=seq, payload=bytes(self._buf[HEADER.size:HEADER.size + length])))
            del self._buf[:end]

    def pending(self) -> int:
        """Bytes held for an incomplete frame (nonzero after a timeout means truncation)."""
        return len(self._buf)

    def timeout(self) -> list[Frame]:
        """The line went quiet in the middle of a frame: that frame was truncated. Drop its
        start byte and look for whole frames in what is left (a later frame may sit inside)."""
        if not self._buf:
            return []
        self.errors["truncated"] = self.errors.get("truncated", 0) + 1
        del self._buf[:1]
        return self.feed(b"")
