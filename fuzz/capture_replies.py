#!/usr/bin/env python3
"""Seeds for the reply fuzz targets (docs/FUZZING.md): runs the real helper,
rnnck-h5-reader, on each HDF5 input and records what it sends back, in the
layout fuzz/h5_reply_harness.h reads.

    fuzz/capture_replies.py HELPER walk|tree INPUT_DIR OUTPUT_DIR

walk: the rnnck schema walk (target rnnck_h5_reply); every compact or chunked
dataset of its description is then read by a `serve` session. tree: the
generic tree of a Keras file (target keras_reply); every readable dataset is
read the same way. Inputs the helper refuses give seeds too (the refusal is a
reply). Run once at seed time; the C tests never run it."""
import os
import struct
import subprocess
import sys

MAGIC = b"RNCKH5\x01\n"
LIMITS = ["100000", str(16 << 30), str(1 << 31), "0"]


def run(helper, args, path, stdin=b""):
    # the file is the helper's fd 3, as the library hands it down
    cmd = ["sh", "-c", 'exec "$0" "$@" 3<"$RNNCK_CAPTURE_FILE"', helper] + args
    env = dict(os.environ, RNNCK_CAPTURE_FILE=path)
    return subprocess.run(cmd, input=stdin, stdout=subprocess.PIPE, env=env, timeout=60).stdout


def records(stream, pos):
    while pos + 13 <= len(stream):
        kind = stream[pos:pos + 1]
        status, length = struct.unpack_from("<iQ", stream, pos + 1)
        body = stream[pos + 13:pos + 13 + length]
        yield kind, status, body, pos, pos + 13 + length
        pos += 13 + length


def lines(reply):
    if not reply.startswith(MAGIC):
        return []
    return [body.decode("latin-1") for kind, _, body, _, _ in records(reply, 8) if kind == b"L"]


def unhex(s):
    return b"" if s == "-" else bytes.fromhex(s)


def product(fields):
    n = 1
    for d in fields:
        n *= int(d)
    return n


def reads_rnnck(ls):
    """(path, dtype, numel) of each compact or chunked tensor of a description."""
    for f in (line.split(" ") for line in ls):
        if f[0] == "T" and len(f) >= 8 and int(f[4]) != 0:
            yield unhex(f[2]), int(f[3]), product(f[8:8 + int(f[7])])


def reads_tree(ls):
    """The same for each dataset of a tree that has no problem."""
    for f in (line.split(" ") for line in ls):
        if f[0] != "N" or len(f) < 5 or f[2] != "0":
            continue
        ndim = int(f[4])
        rest = f[5 + ndim:]
        if len(rest) >= 2 and rest[1] == "0":
            yield unhex(f[1]), int(f[3]), product(f[5:5 + ndim])


def part(b):
    return struct.pack("<I", len(b)) + b


def main():
    helper, job, src, dst = sys.argv[1:5]
    os.makedirs(dst, exist_ok=True)
    for name in sorted(os.listdir(src)):
        path = os.path.join(src, name)
        with open(path, "rb") as fh:
            data = fh.read()
        if not data.startswith(b"\x89HDF\r\n\x1a\n"):
            continue
        reply = run(helper, [job, str(4 << 30), "10", name] + LIMITS, path)
        ls = lines(reply)
        wanted = list((reads_rnnck if job == "walk" else reads_tree)(ls))
        entries = b""
        greeting = MAGIC
        if wanted:
            req = b"".join(b"R" + struct.pack("<iQQ", dt, n, len(p)) + p for p, dt, n in wanted)
            out = run(helper, ["serve", str(4 << 30), "10", name], path, req)
            greeting, pos = out[:8], 8
            for p, _, _ in wanted:
                recs = list(records(out, pos))
                if not recs:
                    break
                kind, status, _, start, end = recs[0]
                if status == 0 and len(recs) > 1:
                    end = recs[1][4]
                entries += part(p) + part(out[start:end])
                pos = end
        seed = part(reply) + part(greeting) + entries + part(data if job == "walk" else b"")
        with open(os.path.join(dst, name + ".reply"), "wb") as fh:
            fh.write(seed)
        print(f"{name}: {len(ls)} lines, {len(wanted)} session reads, {len(seed)} bytes")


main()
