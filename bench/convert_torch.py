"""The Python route bench/convert compares rnnck with, and its checkpoint maker.
  convert_torch.py make OUT.pt            torch.nn.LSTM(2048, 4096, num_layers=2) state_dict (~940 MB)
  convert_torch.py pt2h5 IN.pt OUT.h5     torch.load + h5py (dotted names become groups)
  convert_torch.py h52pt IN.h5 OUT.pt     h5py + torch.save (every dataset a tensor)"""
import sys

import h5py
import torch


def make(out):
    torch.manual_seed(0)
    torch.save(torch.nn.LSTM(2048, 4096, num_layers=2).state_dict(), out)


def pt2h5(src, dst):
    sd = torch.load(src, map_location="cpu")
    with h5py.File(dst, "w") as f:
        for name, t in sd.items():
            f.create_dataset(name.replace(".", "/"), data=t.numpy())


def h52pt(src, dst):
    sd = {}
    with h5py.File(src, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                sd[name.replace("/", ".")] = torch.from_numpy(obj[()])
        f.visititems(visit)
    torch.save(sd, dst)


if __name__ == "__main__":
    {"make": make, "pt2h5": pt2h5, "h52pt": h52pt}[sys.argv[1]](*sys.argv[2:])
