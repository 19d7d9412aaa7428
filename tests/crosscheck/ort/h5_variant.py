#!/usr/bin/python3
"""Makes rnnck schema files with semantics PyTorch lacks, for the ONNX Runtime
cross-check. Usage: h5_variant.py SRC.h5 DST.h5 [--float32] [--peepholes SEED]
[ATTR=VALUE ...] with SRC holding one module (made by `rnnck init` or
`rnnck convert`). ATTR is a schema module attribute (docs/SCHEMA.md):
linear_before_reset, clip, input_forget, activations (comma-separated names),
activation_alpha / activation_beta (comma-separated floats), merge_mode.
--peepholes adds peephole_l{k}[_reverse] tensors, U(-1, 1) from SEED.
--float32 stores every parameter as float32."""
import sys

import h5py
import numpy as np


def main():
    src, dst, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    to32 = "--float32" in args
    args = [a for a in args if a != "--float32"]
    peep_seed = None
    if "--peepholes" in args:
        i = args.index("--peepholes")
        peep_seed = int(args[i + 1])
        del args[i:i + 2]
    with h5py.File(src, "r") as fi, h5py.File(dst, "w") as fo:
        for k, v in fi.attrs.items():
            fo.attrs[k] = v
        mods = []
        fi.visititems(lambda n, o: mods.append(n) if isinstance(o, h5py.Group) and "module" in o.attrs else None)
        if "module" in fi.attrs:
            mods.append("")
        if len(mods) != 1:
            sys.exit(f"{src}: expected one module, found {len(mods)}")
        gi = fi[mods[0]] if mods[0] else fi
        go = fo.require_group(mods[0]) if mods[0] else fo
        for k, v in gi.attrs.items():
            go.attrs[k] = v
        for name, ds in gi.items():
            a = ds[()]
            if to32:
                a = a.astype(np.float32)
            go.create_dataset(name, data=a)
        dtype = go["weight_ih_l0"].dtype
        if peep_seed is not None:
            rng = np.random.default_rng(peep_seed)
            H = int(gi.attrs["hidden_size"])
            for name in list(go.keys()):
                if name.startswith("weight_ih_l"):
                    go.create_dataset(name.replace("weight_ih_l", "peephole_l"),
                                      data=rng.uniform(-1, 1, 3 * H).astype(dtype))
            go.attrs["peepholes"] = np.int8(1)
        for a in args:
            k, _, v = a.partition("=")
            if k in ("activations", "merge_mode"):
                go.attrs[k] = np.bytes_(v)
            elif k in ("activation_alpha", "activation_beta"):
                go.attrs[k] = np.array([float(x) for x in v.split(",")], dtype=np.float64)
            elif k == "clip":
                go.attrs[k] = np.float64(v)
            elif k in ("linear_before_reset", "input_forget"):
                go.attrs[k] = np.int8(int(v))
            else:
                sys.exit(f"unknown attribute {k}")


if __name__ == "__main__":
    main()
