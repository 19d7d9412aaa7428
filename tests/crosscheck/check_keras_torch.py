#!/usr/bin/python3
"""Cross-check tier for Keras import: `rnnck convert x.h5 y.pt` for every
convertible fixture of fixtures/keras, then real PyTorch loads y.pt into
torch.nn.LSTM/GRU/RNN (strict) and must reproduce the Keras golden (TF.js or
the NumPy transcription of Keras's equations) within 2e-5 abs + 2e-4 rel.
Fixtures whose maths PyTorch lacks (hard_sigmoid, reset-before GRUs) must be
refused with exit 3. Usage: check_keras_torch.py RNNCK_TOOL FIXTURES_DIR"""
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

tool, fixtures = sys.argv[1], sys.argv[2]
kdir = os.path.join(fixtures, "keras")
ATOL, RTOL = 2e-5, 2e-4
worst = 0.0
checked = refused = 0
cases = [l.split() for l in open(os.path.join(kdir, "expect", "cases.txt")) if l.strip() and not l.startswith("#")]


def torch_maths(c):
    return c[10] != "hard_sigmoid" and c[9] != "before" and not (c[3].endswith("GRU") and c[9] == "none")


# A file converts only when all its modules do.
convertible = {c[0]: True for c in cases}
for c in cases:
    convertible[c[0]] = convertible[c[0]] and torch_maths(c)
with tempfile.TemporaryDirectory() as tmp:
    for c in cases:
        f, fx, mod, cls, golden, I, H, dirs, bias, reset, rec_act, act = c
        cls = cls.replace("CuDNN", "")
        I, H, dirs = int(I), int(H), int(dirs)
        out = os.path.join(tmp, "%s.%s.pt" % (fx, mod))
        r = subprocess.run([tool, "convert", os.path.join(kdir, f), out, "--to", "pytorch"], capture_output=True,
                           text=True)
        if not convertible[f]:
            assert r.returncode == 3, "%s: expected a refusal, got %d: %s" % (f, r.returncode, r.stderr)
            refused += 1
            continue
        assert r.returncode == 0, "%s: %s" % (f, r.stderr)
        sd = torch.load(out, weights_only=True)
        sub = {k[len(mod) + 1:]: v for k, v in sd.items() if k.startswith(mod + ".")}
        kw = dict(input_size=I, hidden_size=H, batch_first=True, bidirectional=dirs == 2)
        if cls == "LSTM":
            net = torch.nn.LSTM(**kw)
        elif cls == "GRU":
            net = torch.nn.GRU(**kw)
        else:
            net = torch.nn.RNN(nonlinearity="relu" if act == "relu" else "tanh", **kw)
        net.load_state_dict(sub, strict=True)
        x = torch.from_numpy(np.load(os.path.join(kdir, "expect", "%s.%s.input.npy" % (fx, mod))))
        want = np.load(os.path.join(kdir, "expect", "%s.%s.output.npy" % (fx, mod)))
        with torch.no_grad():
            y = net(x)[0].numpy()
        err = np.abs(y.astype(np.float64) - want)
        assert (err <= ATOL + RTOL * np.abs(want)).all(), "%s %s: max |err| %g" % (f, mod, err.max())
        worst = max(worst, float(err.max()))
        checked += 1
print("keras -> rnnck -> torch: %d modules reproduce the Keras goldens (max |err| %.3g), %d refused" %
      (checked, worst, refused))
assert checked >= 5 and refused >= 2
