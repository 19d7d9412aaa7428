#!/usr/bin/python3
"""Cross-check tier for full-model --to keras files: TF.js (a real Keras-layers
implementation) rebuilds each written model from its model_config alone,
takes the weights in Keras's load order, and must reproduce the TF.js golden
of the source layer (fixtures/forward/keras11: go_backwards, merge modes) and
rnnck's own forward pass on the written file, within 2e-5 abs + 2e-4 rel.
Keras -> rnnck -> Keras: the config is what carries go_backwards, merge_mode,
activations and reset_after. Usage: check_keras_tfjs.py RNNCK_TOOL FIXTURES_DIR"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from keras_h5 import model_config, weights_in_load_order  # noqa: E402

tool, fixtures = sys.argv[1], sys.argv[2]
ATOL, RTOL = 2e-5, 2e-4
here = os.path.dirname(os.path.abspath(__file__))
tfjs_dir = os.path.abspath(os.path.join(fixtures, "keras"))


def close(ref, got, what):
    assert ref.shape == got.shape, "%s: shape %s, expected %s" % (what, got.shape, ref.shape)
    err = np.abs(ref.astype(np.float64) - got.astype(np.float64))
    bad = err > ATOL + RTOL * np.abs(ref.astype(np.float64))
    assert not bad.any(), "%s: %d values off, max abs error %g" % (what, bad.sum(), err.max())
    return err.max()


worst, n = 0.0, 0
with tempfile.TemporaryDirectory() as tmp:
    for name in sorted(os.listdir(os.path.join(fixtures, "forward", "keras11"))):
        src = os.path.join(fixtures, "keras", "v11", name + ".h5")
        if not os.path.exists(src) or name.endswith("merge_none"):  # none: two outputs, not a Sequential layer
            continue
        gold = os.path.join(fixtures, "forward", "keras11", name)
        out = os.path.join(tmp, name + ".h5")
        subprocess.run([tool, "convert", src, out, "--to", "keras"], check=True, capture_output=True)
        config = model_config(out)
        assert config, "%s: no model_config written" % name
        x = np.load(os.path.join(gold, "input.npy")).transpose(1, 0, 2)  # Keras: (B, T, I)
        job = dict(config=json.loads(config),
                   weights=[dict(shape=list(w.shape), data=w.astype(np.float32).ravel().tolist())
                            for w in weights_in_load_order(out)],
                   input=dict(shape=list(x.shape), data=x.astype(np.float32).ravel().tolist()))
        res = subprocess.run(["node", os.path.join(here, "tfjs_model.js")], input=json.dumps(job), text=True,
                             capture_output=True, env=dict(os.environ, TFJS_DIR=tfjs_dir))
        assert res.returncode == 0, "%s: TF.js could not rebuild the model: %s" % (name, res.stderr[-2000:])
        r = json.loads(res.stdout)
        y_tfjs = np.array(r["data"], np.float32).reshape(r["shape"])
        golden = np.load(os.path.join(gold, "expected_output.npy")).transpose(1, 0, 2)
        worst = max(worst, close(golden, y_tfjs, name + ": TF.js on the written model vs the source's golden"))
        xin, yout = os.path.join(tmp, "x.npy"), os.path.join(tmp, "y.npy")
        np.save(xin, x.astype(np.float32))
        subprocess.run([tool, "forward", out, "--input", xin, "--output", yout], check=True, capture_output=True)
        worst = max(worst, close(y_tfjs, np.load(yout), name + ": rnnck forward vs TF.js on the written model"))
        n += 1
    # Other sources (TF.js has no reset_after=True GRU, so none of those):
    # TF.js on the written model must compute what rnnck computes on the
    # source, under the source's own semantics (a multi-layer module is a
    # stack of Keras layers there).
    rng = np.random.default_rng(7)
    for rel in ("keras/k21_gru_hard_sigmoid.h5", "pytorch/lstm_bare.pt", "pytorch/rnn_relu_bare.pt",
                "pytorch/module_lstm.pt"):
        src, out = os.path.join(fixtures, rel), os.path.join(tmp, "other.h5")
        subprocess.run([tool, "convert", src, out, "--to", "keras"], check=True, capture_output=True)
        config = model_config(out)
        assert config, "%s: no model_config written" % rel
        layers = json.loads(config)["config"]["layers"]
        x = rng.normal(size=(2, 5, layers[0]["config"]["batch_input_shape"][2])).astype(np.float32)
        job = dict(config=json.loads(config),
                   weights=[dict(shape=list(w.shape), data=w.astype(np.float32).ravel().tolist())
                            for w in weights_in_load_order(out)],
                   input=dict(shape=list(x.shape), data=x.ravel().tolist()))
        res = subprocess.run(["node", os.path.join(here, "tfjs_model.js")], input=json.dumps(job), text=True,
                             capture_output=True, env=dict(os.environ, TFJS_DIR=tfjs_dir))
        assert res.returncode == 0, "%s: TF.js could not rebuild the model: %s" % (rel, res.stderr[-2000:])
        r = json.loads(res.stdout)
        y_tfjs = np.array(r["data"], np.float32).reshape(r["shape"])
        info = subprocess.run([tool, "inspect", src], check=True, capture_output=True, text=True).stdout
        batch_first = "batch_first=1" in info
        xin, yout = os.path.join(tmp, "x.npy"), os.path.join(tmp, "y.npy")
        np.save(xin, x if batch_first else x.transpose(1, 0, 2).copy())
        subprocess.run([tool, "forward", src, "--input", xin, "--output", yout], check=True, capture_output=True)
        y = np.load(yout)
        worst = max(worst, close(y if batch_first else y.transpose(1, 0, 2), y_tfjs,
                                 rel + ": TF.js on the written model vs rnnck on the source"))
        n += 1
assert n >= 14, "only %d cases found" % n
print("keras -> rnnck -> keras full model: TF.js rebuilt %d models from model_config; max abs error %.3g" % (n, worst))
