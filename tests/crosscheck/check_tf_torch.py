#!/usr/bin/python3
"""Cross-check tier for TensorFlow import: `rnnck convert CKPT y.pt` for the
real TF1 checkpoints of fixtures/tf/real, then real PyTorch loads y.pt into
torch.nn.LSTM (strict) and must reproduce the TF-semantics goldens of
fixtures/tf/goldens (NumPy from TF's equations, TF.js for char-rnn) within
2e-5 abs + 2e-4 rel. char-rnn's forget_bias 1.0 reaches PyTorch folded into
bias_ih. The GRUCell stack (reset-before) must be refused with exit 3.
Usage: check_tf_torch.py RNNCK_TOOL FIXTURES_DIR"""
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

tool, fixtures = sys.argv[1], sys.argv[2]
tdir = os.path.join(fixtures, "tf")
ATOL, RTOL = 2e-5, 2e-4
worst = 0.0
checked = 0
cases = {}
cur = None
for line in open(os.path.join(tdir, "cases.txt")):
    w = line.split()
    if not w or w[0].startswith("#"):
        continue
    if w[0] == "case":
        cur = cases.setdefault(w[1], {})
    elif w[0] in ("real", "module", "input", "output"):
        cur[w[0]] = w[1]


def torch_lstm(sd, prefix):
    names = {k[len(prefix) + 1:]: v for k, v in sd.items() if k.startswith(prefix + ".") and "." not in k[len(prefix) + 1:]}
    H = names["weight_hh_l0"].shape[1]
    I = names["weight_ih_l0"].shape[1]
    L = 1 + max(int(k.split("_l")[1].split("_")[0]) for k in names)
    bi = any(k.endswith("_reverse") for k in names)
    m = torch.nn.LSTM(I, H, num_layers=L, bidirectional=bi)
    m.load_state_dict(names, strict=True)
    return m


with tempfile.TemporaryDirectory() as d:
    for name, c in sorted(cases.items()):
        if not c.get("real", "").startswith("real/") or "tidigits" in c["real"]:
            continue
        out = os.path.join(d, name + ".pt")
        subprocess.run([tool, "convert", os.path.join(tdir, c["real"]), out, "--drop-optimizer", "--quiet"],
                       check=True, stdout=subprocess.DEVNULL)
        sd = torch.load(out, weights_only=True)
        m = torch_lstm(sd, c["module"])
        x = torch.from_numpy(np.load(os.path.join(tdir, c["input"])))
        want = np.load(os.path.join(tdir, c["output"]))
        with torch.no_grad():
            y = m(x)[0].numpy()
        err = np.abs(y - want)
        bad = err > ATOL + RTOL * np.abs(want)
        if bad.any():
            sys.exit("%s: torch output differs from the TF golden (max |err| %.3g)" % (name, err.max()))
        worst = max(worst, float(err.max()))
        checked += 1
    r = subprocess.run([tool, "convert", os.path.join(tdir, "real", "tidigits", "model.ckpt"),
                        os.path.join(d, "tidigits.pt")], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if r.returncode != 3 or b"linear_before_reset=0" not in r.stderr:
        sys.exit("tidigits (GRUCell) into PyTorch: expected exit 3 naming linear_before_reset=0, got %d: %s"
                 % (r.returncode, r.stderr.decode()))
if checked < 4:
    sys.exit("only %d TF goldens checked" % checked)
print("TF checkpoints in torch: %d goldens, max |err| %.3g; GRUCell refused" % (checked, worst))
