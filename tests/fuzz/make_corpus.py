#!/usr/bin/python3
"""Writes the seed corpus of tests/fuzz/fuzz_safetensors.cpp into tests/fuzz/corpus/: a few tiny
valid safetensors files (every dtype, F16/BF16 specials, zero-size tensors, metadata) and a few
invalid ones, one per kind of layout error, so the fuzzer starts next to every validation rule.
Run from anywhere with /usr/bin/python3 (standard library only); it replaces the directory."""

import json
import os
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")
SIZES = {"F32": 4, "F16": 2, "BF16": 2, "F64": 8, "I64": 8, "I32": 4, "U8": 1, "BOOL": 1}


def pack(header_text, data=b"", n=None):
    """Length, header, data; the header padded with spaces to a multiple of 8 (as the reference
    implementation pads it) unless a raw length `n` is given."""
    raw = header_text.encode("utf-8")
    if n is None:
        raw += b" " * (-len(raw) % 8)
        n = len(raw)
    return struct.pack("<Q", n) + raw + data


def tensors(items, metadata=None):
    """A valid file from (name, dtype, shape, bytes) in data order."""
    header, data = {}, b""
    for name, dtype, shape, payload in items:
        count = 1
        for d in shape:
            count *= d
        assert len(payload) == count * SIZES[dtype], name
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [len(data), len(data) + len(payload)]}
        data += payload
    if metadata is not None:
        header["__metadata__"] = metadata
    return pack(json.dumps(header, separators=(",", ":")), data)


def entry(dtype, shape, begin, end):
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


def main():
    files = {}
    files["valid_all_dtypes"] = tensors([
        ("f64", "F64", [2], struct.pack("<2d", 1.5, -1e300)),
        ("i64", "I64", [2], struct.pack("<2q", -(2**63), 2**63 - 1)),
        ("f32", "F32", [2, 2], struct.pack("<4f", 0.0, -1.0, float("inf"), float("nan"))),
        ("i32", "I32", [3], struct.pack("<3i", -7, 0, 2**31 - 1)),
        ("f16", "F16", [6], struct.pack("<6H", 0x0001, 0x03FF, 0x3C00, 0x7BFF, 0x7C00, 0x7E00)),
        ("bf16", "BF16", [4], struct.pack("<4H", 0x0001, 0x3F80, 0xFF80, 0x7FC0)),
        ("u8", "U8", [2], bytes([0, 255])),
        ("bool", "BOOL", [3], bytes([1, 0, 1])),
    ], metadata={"format": "pt", "note": "seed"})
    files["valid_empty"] = tensors([])
    files["valid_zero_size_and_scalar"] = tensors([
        ("scalar", "F32", [], struct.pack("<f", 42.0)),
        ("empty", "BF16", [0, 3], b""),
        ("last", "U8", [1], b"\x07"),
        ("tail", "I64", [2, 0], b""),
    ])
    files["valid_metadata_only"] = tensors([], metadata={"k": "v", "": ""})

    u8 = lambda b, e: entry("U8", [e - b], b, e)
    bad = {
        "bad_duplicate_name": ('{"a":%s,"a":%s}' % (json.dumps(u8(0, 2)), json.dumps(u8(2, 4))), 4),
        "bad_gap": (json.dumps({"a": u8(0, 2), "b": u8(3, 4)}), 4),
        "bad_overlap": (json.dumps({"a": u8(0, 3), "b": u8(2, 4)}), 4),
        "bad_first_not_zero": (json.dumps({"a": u8(1, 4)}), 4),
        "bad_trailing": (json.dumps({"a": u8(0, 2)}), 4),
        "bad_past_data": (json.dumps({"a": u8(0, 8)}), 4),
        "bad_dtype": (json.dumps({"a": entry("F8_E4M3", [4], 0, 4)}), 4),
        "bad_shape": (json.dumps({"a": entry("U8", [-4], 0, 4)}), 4),
        "bad_size": (json.dumps({"a": entry("F32", [2], 0, 4)}), 4),
        "bad_offsets": (json.dumps({"a": {"dtype": "U8", "shape": [4], "data_offsets": [4, 0]}}), 4),
        "bad_extra_key": (json.dumps({"a": dict(u8(0, 4), extra=1)}), 4),
        "bad_metadata": (json.dumps({"__metadata__": {"epoch": 3}}), 0),
        "bad_json": ('{"a": {"dtype": "U8", ', 0),
        "bad_not_object": ("[1, 2, 3]", 0),
    }
    for name, (text, data_bytes) in bad.items():
        files[name] = pack(text, bytes(range(data_bytes)))
    files["bad_header_length"] = pack("{}", n=1000)
    files["bad_truncated"] = files["valid_all_dtypes"][:-3]
    files["bad_short"] = b"\x08\x00\x00"

    shutil.rmtree(CORPUS, ignore_errors=True)
    os.makedirs(CORPUS)
    for name, content in sorted(files.items()):
        with open(os.path.join(CORPUS, name + ".safetensors"), "wb") as f:
            f.write(content)
    total = sum(len(c) for c in files.values())
    print("wrote %d files, %d bytes, to %s" % (len(files), total, CORPUS))


if __name__ == "__main__":
    main()
