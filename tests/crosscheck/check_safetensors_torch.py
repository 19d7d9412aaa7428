#!/usr/bin/python3
"""Cross-check tier for --to safetensors: every fixtures/pytorch/*.pt that has
a manifest is converted by the rnnck tool, and the file is read here by the
published format (https://github.com/huggingface/safetensors, README
"Format"; the `safetensors` package is not in Debian 12) with every rule the
reference library enforces checked: header length, '{' first, UTF-8 JSON,
8-byte alignment of the data, string metadata, known dtypes, offsets that
tile the data exactly; rnnck's order: larger dtypes first (every tensor aligned),
"rnnck.order" giving the model's order back. The tensors, made with torch.frombuffer, must equal
the fixture's manifest (names in order, dtypes, shapes, CRC-32 of the bytes
torch itself saved) bit for bit.
Usage: check_safetensors_torch.py RNNCK_TOOL FIXTURES_DIR"""
import json
import os
import struct
import subprocess
import sys
import tempfile
import zlib

import torch

tool, fixtures = sys.argv[1], sys.argv[2]
DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
          "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
          "BOOL": torch.bool}


def load_file(path):
    data = open(path, "rb").read()
    (n,) = struct.unpack("<Q", data[:8])
    assert n <= 100_000_000 and 8 + n <= len(data), "header length"
    assert (8 + n) % 8 == 0, "data not 8-byte aligned"
    text = data[8:8 + n].decode("utf-8")
    assert text.startswith("{") and text == text.rstrip(" ") + " " * (len(text) - len(text.rstrip(" ")))
    header = json.loads(text)
    meta = header.pop("__metadata__", None) or {}
    assert all(isinstance(v, str) for v in meta.values()), "metadata values must be strings"
    body, out, end = data[8 + n:], {}, 0
    for name, e in header.items():  # json keeps the file's order
        assert set(e) == {"dtype", "shape", "data_offsets"}, name
        b, en = e["data_offsets"]
        assert b == end, "%s: not contiguous" % name
        dt = DTYPES[e["dtype"]]
        numel = 1
        for d in e["shape"]:
            numel *= d
        assert en - b == numel * torch.empty(0, dtype=dt).element_size(), name
        raw = bytearray(body[b:en])
        out[name] = (torch.frombuffer(raw, dtype=dt) if raw else torch.empty(0, dtype=dt)).reshape(e["shape"])
        end = en
    assert end == len(body), "incomplete buffer"
    return out, meta


NAMES = {"float32": torch.float32, "float64": torch.float64, "float16": torch.float16,
         "bfloat16": torch.bfloat16, "int64": torch.int64, "int32": torch.int32, "int16": torch.int16,
         "int8": torch.int8, "uint8": torch.uint8, "bool": torch.bool}


def manifest(path):  # fixtures/pytorch/*.expect: tensor NAME DTYPE NDIM D... CRC32 (of torch's bytes)
    out = {}
    for line in open(path):
        w = line.split()
        if w and w[0] == "tensor":
            nd = int(w[3])
            out[w[1]] = (NAMES[w[2]], [int(d) for d in w[4:4 + nd]], int(w[4 + nd], 16))
    return out


def main():
    checked = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name in sorted(os.listdir(os.path.join(fixtures, "pytorch"))):
            expect = os.path.join(fixtures, "pytorch", name[:-3] + ".expect")
            if not name.endswith(".pt") or not os.path.exists(expect):
                continue
            src, out = os.path.join(fixtures, "pytorch", name), os.path.join(tmp, name[:-3] + ".safetensors")
            if subprocess.run([tool, "convert", src, out], stdout=subprocess.DEVNULL).returncode != 0:
                continue  # a .pt rnnck needs options for (--key): test_pytorch covers it
            want = manifest(expect)
            got, meta = load_file(out)
            assert meta.get("rnnck.schema") and meta.get("format") == "pt", name
            names = list(got)
            if "rnnck.order" in meta:  # the file's order is by alignment; this gives the model's back
                pos = [int(x) for x in meta["rnnck.order"].split(",")]
                assert sorted(pos) == list(range(len(names))), name
                model = [None] * len(names)
                for k, p in enumerate(pos):
                    model[p] = names[k]
                names = model
            sizes = [got[k].element_size() for k in got]
            assert sizes == sorted(sizes, reverse=True), "%s: not in alignment order" % name
            assert names == list(want), "%s: names or order differ" % name
            for k, (dt, shape, crc) in want.items():
                g = got[k]
                assert g.dtype == dt and list(g.shape) == shape, "%s: %s" % (name, k)
                raw = g.reshape(-1).view(torch.uint8) if g.numel() else torch.empty(0, dtype=torch.uint8)
                assert zlib.crc32(raw.numpy().tobytes()) == crc, "%s: %s: bytes differ from torch's" % (name, k)
            checked += 1
    assert checked >= 5, "only %d fixtures checked" % checked
    print("safetensors: %d rnnck-written files read by the published format, bit-exact with torch's tensors"
          % checked)


main()
