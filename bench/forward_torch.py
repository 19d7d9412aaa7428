#!/usr/bin/python3
"""PyTorch side of bench/forward: times torch.nn.LSTM/GRU/RNN forward
(inference, no_grad) on the same configuration and prints
  torch <median ms> <best ms> <GFLOP/s at median> <peak RSS MiB> <CPU ms per call>
Usage: forward_torch.py CELL T B I H L BIDIR THREADS"""
import resource
import sys
import time

import torch


def main():
    cell, T, B, I, H, L, bidir, threads = sys.argv[1], *map(int, sys.argv[2:])
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    kw = dict(num_layers=L, bidirectional=bool(bidir))
    if cell == "lstm":
        mod, G = torch.nn.LSTM(I, H, **kw), 4
    elif cell == "gru":
        mod, G = torch.nn.GRU(I, H, **kw), 3
    else:
        mod, G = torch.nn.RNN(I, H, nonlinearity=cell.split("_")[1], **kw), 1
    mod.eval()
    x = torch.rand(T, B, I) * 2 - 1
    D = 2 if bidir else 1
    flops = sum(2.0 * T * B * G * H * ((I if l == 0 else H * D) + H) * D for l in range(L))
    times, cpu_total = [], 0.0
    start = time.perf_counter()
    with torch.no_grad():
        warm = 0
        while warm < 2 or (len(times) < 64 and (len(times) < 5 or time.perf_counter() - start < 3.0)):
            t0, c0 = time.perf_counter(), time.process_time()
            mod(x)
            dt = (time.perf_counter() - t0) * 1e3
            if warm >= 1:
                times.append(dt)
                cpu_total += (time.process_time() - c0) * 1e3
            warm += 1
    times.sort()
    med = times[len(times) // 2]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f"torch {med:.3f} {times[0]:.3f} {flops / (med * 1e6):.1f} {rss:.1f} {cpu_total / len(times):.3f}")


if __name__ == "__main__":
    main()
