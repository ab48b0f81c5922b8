"""Decode a PNG with only zlib and NumPy, as an independent reference for wrapq's libpng decoder.

Prints the image size, the sum of all R, G and B samples (alpha dropped, as
wrapq does) and a few pixels, which tests/unit/test_image_decode.cpp
compares with wrapq::image::read_image. Supports 8-bit RGB and RGBA, with or
without Adam7 interlacing, which covers the real PNG files that the tests read.

Usage: /usr/bin/python3 tests/python/png_reference_decode.py FILE.png [Y,X ...]
"""

import struct
import sys
import zlib

import numpy as np

# Adam7 passes as (x0, y0, dx, dy), from the PNG specification.
ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def unfilter(data, offset, width, height, bpp):
    """Undo the per-row filters of one (sub)image and return its rows and the offset after them."""
    stride = width * bpp
    rows = []
    previous = bytearray(stride)
    for _ in range(height):
        kind = data[offset]
        line = bytearray(data[offset + 1 : offset + 1 + stride])
        offset += 1 + stride
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up = previous[i]
            up_left = previous[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                line[i] = (line[i] + paeth(left, up, up_left)) & 0xFF
            elif kind != 0:
                raise ValueError(f"unknown filter type {kind}")
        rows.append(line)
        previous = line
    return rows, offset


def decode(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path} is not a PNG file")
    pos, idat = 8, b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    if depth != 8 or color not in (2, 6):
        raise ValueError(f"only 8-bit RGB and RGBA are supported, got depth {depth} colour type {color}")
    bpp = 3 if color == 2 else 4
    raw = zlib.decompress(idat)
    image = np.zeros((height, width, bpp), dtype=np.uint8)
    passes = ADAM7 if interlace else [(0, 0, 1, 1)]
    offset = 0
    for x0, y0, dx, dy in passes:
        pass_width = (width - x0 + dx - 1) // dx if width > x0 else 0
        pass_height = (height - y0 + dy - 1) // dy if height > y0 else 0
        if pass_width == 0 or pass_height == 0:
            continue
        rows, offset = unfilter(raw, offset, pass_width, pass_height, bpp)
        sub = np.array([np.frombuffer(bytes(r), dtype=np.uint8) for r in rows]).reshape(pass_height, pass_width, bpp)
        image[y0::dy, x0::dx] = sub
    return image[:, :, :3]


def main():
    image = decode(sys.argv[1])
    print(f"height {image.shape[0]} width {image.shape[1]} sum {int(image.astype(np.int64).sum())}")
    for point in sys.argv[2:]:
        y, x = (int(v) for v in point.split(","))
        print(f"({y}, {x}): {list(int(v) for v in image[y, x])}")


if __name__ == "__main__":
    main()
