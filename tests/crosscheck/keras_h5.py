"""Reading a Keras 2 .h5 the way Keras 2's hdf5_format.py does: layer_names,
then each layer's weight_names (split forms name0, name1, ... included),
under /model_weights for a full model. Shared by the Keras cross-checks."""
import h5py
import numpy as np


def load_attributes(group, name):  # Keras 2's load_attributes_from_hdf5_group
    if name in group.attrs:
        return [n.decode("utf8") if hasattr(n, "decode") else n for n in group.attrs[name]]
    data, chunk = [], 0
    while "%s%d" % (name, chunk) in group.attrs:
        data.extend(n.decode("utf8") if hasattr(n, "decode") else n for n in group.attrs["%s%d" % (name, chunk)])
        chunk += 1
    return data


def weights_in_load_order(path):
    with h5py.File(path, "r") as f:
        g = f["model_weights"] if "model_weights" in f else f
        out = []
        for lname in load_attributes(g, "layer_names"):
            lg = g[lname]
            for wname in load_attributes(lg, "weight_names"):
                out.append(np.asarray(lg[wname]))
        return out


def model_config(path):
    """The model_config attribute (str), or None for a weights-only file."""
    with h5py.File(path, "r") as f:
        if "model_config" not in f.attrs:
            return None
        v = f.attrs["model_config"]
        return v.decode("utf8") if hasattr(v, "decode") else str(v)
