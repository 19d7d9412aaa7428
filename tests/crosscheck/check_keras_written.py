#!/usr/bin/python3
"""Cross-check tier for --to keras: h5py reads what rnnck wrote the way Keras 2's
load_weights_from_hdf5_group does (layer_names, then each layer's weight_names,
split forms included, bytes decoded) and must find, in load order, exactly the
weight arrays of the Keras file the model came from (Keras -> rnnck -> Keras).
Usage: check_keras_written.py RNNCK_TOOL FIXTURES_DIR"""
import os
import subprocess
import sys
import tempfile

import h5py

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from keras_h5 import weights_in_load_order  # noqa: E402

tool, fixtures = sys.argv[1], sys.argv[2]


n = 0
with tempfile.TemporaryDirectory() as tmp:
    for name in ("tfk2_lstm_dense.h5", "tfk2_bilstm_stack.h5", "tfk2_nested.h5"):
        src = os.path.join(fixtures, "keras", name)
        mid, out = os.path.join(tmp, "mid.h5"), os.path.join(tmp, "out.h5")
        subprocess.run([tool, "convert", src, mid], check=True, capture_output=True)
        subprocess.run([tool, "convert", mid, out, "--to", "keras"], check=True, capture_output=True)
        a, b = weights_in_load_order(src), weights_in_load_order(out)
        assert len(a) == len(b), "%s: %d weights, wrote %d" % (name, len(a), len(b))
        for x, y in zip(a, b):
            assert x.shape == y.shape and x.dtype == y.dtype and x.tobytes() == y.tobytes(), name
        with h5py.File(out, "r") as f:
            assert f.attrs["backend"] == "tensorflow" or f.attrs["backend"] == b"tensorflow"
            assert "keras_version" in f.attrs
        n += len(a)
print("keras -> rnnck -> keras: %d weights identical in Keras's load order" % n)
