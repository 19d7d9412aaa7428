#!/usr/bin/python3
"""Writes a float32 copy of a float64 ONNX model: ONNX Runtime 1.30's CPU
LSTM, GRU and RNN kernels run float32 only. Every float64 initializer,
Constant value and graph input/output becomes float32 (values rounded to
nearest), everything else is kept.
Usage: onnx_f32.py SRC.onnx DST.onnx [SRC2.onnx DST2.onnx ...]"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper


def cast(t):
    if t.data_type == TensorProto.DOUBLE:
        t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t).astype(np.float32), t.name))


def graph(g):
    for t in g.initializer:
        cast(t)
    for v in list(g.input) + list(g.output) + list(g.value_info):
        if v.type.tensor_type.elem_type == TensorProto.DOUBLE:
            v.type.tensor_type.elem_type = TensorProto.FLOAT
    for n in g.node:
        for a in n.attribute:
            if a.type == onnx.AttributeProto.TENSOR:
                cast(a.t)
            if a.type == onnx.AttributeProto.GRAPH:
                graph(a.g)


args = sys.argv[1:]
if not args or len(args) % 2:
    sys.exit("usage: onnx_f32.py SRC.onnx DST.onnx [SRC2.onnx DST2.onnx ...]")
for src, dst in zip(args[::2], args[1::2]):
    m = onnx.load(src)
    graph(m.graph)
    onnx.checker.check_model(m)
    onnx.save(m, dst)
