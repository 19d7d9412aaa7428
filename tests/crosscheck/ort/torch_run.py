#!/usr/bin/python3
"""Runs PyTorch sources of the ONNX Runtime cross-check in real torch.

Usage: torch_run.py JOBS.json. Each job: {"src": .pt or .npz file, "prefix":
module name ("" for a bare module), "cell", "input_size", "hidden_size",
"num_layers", "bidirectional", "batch_first", "bias", "dtype", "x", "h0",
"c0" (LSTM), "out": directory}. Builds torch.nn.LSTM/GRU/RNN with those
attributes, loads the source's parameters with load_state_dict(strict=True)
and writes y.npy, hn.npy (and cn.npy) into "out". The sources are the
project's own fixtures, so torch.load may unpickle whole modules."""
import json
import os
import sys

import numpy as np
import torch


def state_dict_of(src):
    if src.endswith(".npz"):
        with np.load(src) as z:
            return {k: torch.from_numpy(z[k].copy()) for k in z.files}
    obj = torch.load(src, map_location="cpu")
    if isinstance(obj, torch.nn.Module):
        return obj.state_dict()
    return obj


def run(job):
    sd = state_dict_of(job["src"])
    pre = job["prefix"] + "." if job["prefix"] else ""
    sd = {k[len(pre):]: v for k, v in sd.items() if k.startswith(pre)}
    kw = dict(input_size=job["input_size"], hidden_size=job["hidden_size"], num_layers=job["num_layers"],
              bias=job["bias"], batch_first=job["batch_first"], bidirectional=job["bidirectional"])
    cell = job["cell"]
    if cell == "LSTM":
        m = torch.nn.LSTM(**kw)
    elif cell == "GRU":
        m = torch.nn.GRU(**kw)
    else:
        m = torch.nn.RNN(nonlinearity="relu" if cell == "RNN_RELU" else "tanh", **kw)
    if job["dtype"] == "float64":
        m = m.double()
    m.load_state_dict(sd, strict=True)
    m.eval()
    x = torch.from_numpy(np.load(job["x"]))
    h0 = torch.from_numpy(np.load(job["h0"]))
    with torch.no_grad():
        if cell == "LSTM":
            y, (hn, cn) = m(x, (h0, torch.from_numpy(np.load(job["c0"]))))
            np.save(os.path.join(job["out"], "cn.npy"), cn.numpy())
        else:
            y, hn = m(x, h0)
    np.save(os.path.join(job["out"], "y.npy"), y.numpy())
    np.save(os.path.join(job["out"], "hn.npy"), hn.numpy())


def main():
    torch.set_num_threads(1)
    for job in json.load(open(sys.argv[1])):
        try:
            run(job)
        except Exception as e:  # reported by the driver as a failure of this model
            with open(os.path.join(job["out"], "torch_error.txt"), "w") as f:
                f.write(f"{type(e).__name__}: {e}")


if __name__ == "__main__":
    main()
