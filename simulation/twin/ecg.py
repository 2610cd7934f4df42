"""The ECG a crew transmits from the field (a stand-in for the monitor's export)."""

from __future__ import annotations

import struct
import zlib


def ecg_png(width: int = 200, height: int = 60) -> bytes:
    """Return a small greyscale PNG of a synthetic ECG trace (a stand-in for the monitor's export)."""
    rows = [bytearray([255] * width) for _ in range(height)]
    base = height * 2 // 3
    for x in range(width):
        phase = x % 50
        # P wave, QRS spike, T wave of one beat every 50 px
        y = base - (4 if 8 <= phase < 14 else 0) - (30 if phase == 20 else 0) + (8 if phase == 22 else 0) \
            - (7 if 30 <= phase < 40 else 0)
        rows[max(0, min(height - 1, y))][x] = 0
    raw = b"".join(b"\x00" + bytes(r) for r in rows)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
