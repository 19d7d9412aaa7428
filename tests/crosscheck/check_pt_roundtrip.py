#!/usr/bin/python3
"""Cross-check tier (optional; needs /usr/bin/python3 with torch 1.13).

Loads every .pt file rnnck wrote (X.rnnck.pt, dumped by test_pytorch when
RNNCK_CROSSCHECK_DIR is set) with torch.load(weights_only=True), compares each
tensor bit-for-bit with the original fixture as PyTorch itself loads it, and
loads each recurrent module's parameters into a freshly built
torch.nn.LSTM/GRU/RNN with load_state_dict(strict=True). The npz written by
test_npz is compared with numpy.load.

    mkdir /tmp/xc && RNNCK_CROSSCHECK_DIR=/tmp/xc RNNCK_FIXTURES=fixtures \
        build/test_pytorch && RNNCK_CROSSCHECK_DIR=/tmp/xc RNNCK_FIXTURES=fixtures build/test_npz
    /usr/bin/python3 tests/crosscheck/check_pt_roundtrip.py /tmp/xc fixtures/pytorch
Exit status 0 when everything matches, 1 otherwise, 77 when torch is absent.
"""
import glob
import os
import sys

try:
    import numpy as np
    import torch
    import torch.nn as nn
except ImportError:
    print("torch/numpy not available: cross-check skipped")
    sys.exit(77)

CELLS = {"LSTM": (nn.LSTM, {}), "GRU": (nn.GRU, {}), "RNN_TANH": (nn.RNN, {"nonlinearity": "tanh"}),
         "RNN_RELU": (nn.RNN, {"nonlinearity": "relu"})}


class Tagger(nn.Module):
    """Stands in for the user class pickled whole in module_user.pt, so that
    torch.load can rebuild the original for comparison."""


def original_state_dict(fixtures, name):
    obj = torch.load(os.path.join(fixtures, name + ".pt"))
    if isinstance(obj, dict) and "model" in obj:
        obj = obj["model"]
    if isinstance(obj, nn.Module):
        obj = obj.state_dict()
    return obj


def same_bits(a, b):
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a.is_floating_point():
        width = {2: torch.int16, 4: torch.int32, 8: torch.int64}[a.element_size()]
        return torch.equal(a.contiguous().view(width), b.contiguous().view(width))
    return torch.equal(a, b)


def modules_of(fixtures, name):
    with open(os.path.join(fixtures, name + ".expect")) as f:
        for line in f:
            w = line.split()
            if w[0] == "module":
                yield ("" if w[1] == "-" else w[1]), w[2], [int(x) for x in w[3:]]


def check_pt(path, fixtures):
    name = os.path.basename(path)[: -len(".rnnck.pt")]
    got = torch.load(path, weights_only=True)
    want = original_state_dict(fixtures, name)
    problems = []
    if list(got.keys()) != list(want.keys()):
        problems.append("keys differ")
    for k, v in want.items():
        if k in got and not same_bits(got[k], v):
            problems.append("tensor %s differs" % k)
    nmods = 0
    for prefix, cell, (inp, hid, layers, bias, bidir, bf, proj) in modules_of(fixtures, name):
        cls, extra = CELLS[cell]
        kw = dict(extra, num_layers=layers, bias=bool(bias), bidirectional=bool(bidir), batch_first=bool(bf))
        if proj:
            kw["proj_size"] = proj
        mod = cls(inp, hid, **kw)
        p = prefix + "." if prefix else ""
        sub = {k[len(p):]: v for k, v in got.items() if k.startswith(p) and "." not in k[len(p):]}
        mod = mod.to(next(iter(sub.values())).dtype)
        mod.load_state_dict(sub, strict=True)
        nmods += 1
    status = "ok" if not problems else "MISMATCH: " + "; ".join(problems)
    print("%-28s %3d tensors, %d modules loaded into torch.nn: %s" % (name, len(got), nmods, status))
    return not problems


def check_npz(path, fixtures):
    got = np.load(path, allow_pickle=False)
    want = np.load(os.path.join(fixtures, "model_compressed.npz"), allow_pickle=False)
    ok = sorted(got.files) == sorted(want.files) and all(
        got[k].dtype == want[k].dtype and got[k].shape == want[k].shape and got[k].tobytes() == want[k].tobytes()
        for k in want.files)
    print("%-28s %3d arrays: %s" % (os.path.basename(path), len(got.files), "ok" if ok else "MISMATCH"))
    return ok


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    out_dir, fixtures = sys.argv[1], sys.argv[2]
    files = sorted(glob.glob(os.path.join(out_dir, "*.rnnck.pt")))
    npzs = sorted(glob.glob(os.path.join(out_dir, "*.rnnck.npz")))
    if not files:
        print("no *.rnnck.pt files in", out_dir)
        return 1
    ok = all([check_pt(f, fixtures) for f in files] + [check_npz(f, fixtures) for f in npzs])
    print("cross-check %s (%d files)" % ("passed" if ok else "FAILED", len(files) + len(npzs)))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
