#!/usr/bin/python3
"""Cross-check tier: python3-onnx judges the ONNX files rnnck writes.

For PyTorch, schema and Keras sources (merge modes, go_backwards), each
exported with and without `--onnx-sequence-lens`: onnx.checker.check_model
(full_check=True, which runs shape inference) accepts the file; with the flag
the graph has an int32 input sequence_lens of shape (B,) and every
LSTM/GRU/RNN node reads it as input 4; a Keras merge mode is a Split of the
bidirectional Y followed by Keras's op (Add, Mul, Add + Div by 2; none: outputs
Y_forward and Y_reverse), and inferred output shapes have the merged width.
The numbers are the ONNX Runtime tier's business (tests/crosscheck/ort).
Usage: check_onnx_written.py RNNCK_BINARY FIXTURES_DIR. Exit 1 on a failure."""
import os
import subprocess
import sys
import tempfile

import onnx
from onnx import TensorProto

RECURRENT = ("LSTM", "GRU", "RNN")
# (source under FIXTURES_DIR, merge op expected after the node or None)
SOURCES = [
    ("pytorch/lstm_bare.pt", None),
    ("pytorch/legacy_module.pt", None),
    ("pytorch/gru_f64.pt", None),
    ("keras/v11/bilstm_merge_sum.h5", ["Split", "Add"]),
    ("keras/v11/bilstm_merge_mul.h5", ["Split", "Mul"]),
    ("keras/v11/bilstm_merge_ave.h5", ["Split", "Add", "Div"]),
    ("keras/v11/birnn_merge_ave.h5", ["Split", "Add", "Div"]),
    ("keras/v11/bigru_merge_mul_wide_batch.h5", ["Split", "Mul"]),
    ("keras/v11/bilstm_merge_none.h5", ["Split"]),
    ("keras/v11/lstm_go_backwards.h5", None),
    ("keras/v11/gru_go_backwards.h5", None),
]


def dims(vi):
    return [d.dim_value if d.HasField("dim_value") else d.dim_param for d in vi.type.tensor_type.shape.dim]


def check(path, src, lens, merge_ops):
    problems = []
    model = onnx.load(path)
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as e:  # the checker's own exception types vary by version
        return [f"onnx.checker: {str(e).splitlines()[0]}"]
    g = model.graph
    ops = [n.op_type for n in g.node]
    inputs = {i.name: i for i in g.input}
    outputs = {o.name: o for o in g.output}
    rec = [n for n in g.node if n.op_type in RECURRENT]
    if not rec:
        problems.append("no recurrent node")
    if lens:
        vi = inputs.get("sequence_lens")
        if vi is None:
            problems.append("no graph input sequence_lens")
        else:
            if vi.type.tensor_type.elem_type != TensorProto.INT32:
                problems.append("sequence_lens is not int32")
            if len(dims(vi)) != 1:
                problems.append(f"sequence_lens has shape {dims(vi)}, not (B,)")
        for n in rec:
            if len(n.input) < 5 or n.input[4] != "sequence_lens":
                problems.append(f"node {n.name} does not read sequence_lens")
        if "go_backwards" in src and "ReverseSequence" not in ops:
            problems.append("go_backwards with lengths: no ReverseSequence")
    else:
        if "sequence_lens" in inputs:
            problems.append("sequence_lens input without the flag")
        if any(len(n.input) > 4 and n.input[4] for n in rec):
            problems.append("a node reads sequence_lens without the flag")
    if merge_ops:
        for op in merge_ops:
            if ops.count(op) != 1:
                problems.append(f"{ops.count(op)} {op} nodes, expected 1")
        names = ["Y_forward", "Y_reverse"] if merge_ops == ["Split"] else ["Y"]
        H = rec[0].attribute[[a.name for a in rec[0].attribute].index("hidden_size")].i if rec else 0
        inferred = {v.name: v for v in onnx.shape_inference.infer_shapes(model).graph.output}
        for name in names:
            if name not in outputs:
                problems.append(f"no output {name}")
                continue
            for what, vi in (("declared", outputs[name]), ("inferred", inferred.get(name))):
                if vi is None or (dims(vi) or [None])[-1] != H:
                    problems.append(f"{name}: {what} width {(dims(vi) or [None])[-1] if vi else None}, expected H={H}")
    return problems


def main():
    rnnck, fixtures = sys.argv[1], sys.argv[2]
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for src, merge_ops in SOURCES:
            for lens in (False, True):
                out = os.path.join(tmp, "m.onnx")
                args = [rnnck, "convert", os.path.join(fixtures, src), out, "--to", "onnx", "--quiet"]
                if lens:
                    args.append("--onnx-sequence-lens")
                r = subprocess.run(args, capture_output=True, text=True)
                label = f"{src}{' +sequence_lens' if lens else ''}"
                if r.returncode != 0:
                    print(f"FAIL {label}: convert exit {r.returncode}: {r.stderr.strip()}")
                    failures += 1
                    continue
                problems = check(out, src, lens, merge_ops)
                for p in problems:
                    print(f"FAIL {label}: {p}")
                failures += bool(problems)
                if not problems:
                    print(f"ok   {label}")
    print(f"onnx {onnx.__version__}: {2 * len(SOURCES)} exports checked, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
