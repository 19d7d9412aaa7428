#!/usr/bin/env bash
# The main job on shipped fixtures: set up, build, then
#  1. Keras -> PyTorch: a tf.keras 2 model file (Bidirectional(LSTM) + LSTM +
#     Dense) converted to a torch.save state_dict, validated against the Keras
#     file (both run under their own framework's semantics) and against the
#     output real Keras layers (TF.js 4.22) computed for a shipped input;
#  2. PyTorch -> ONNX: a 2-layer bidirectional LSTM state_dict exported to ONNX
#     and validated against the source;
#  3. PyTorch <-> rnnck HDF5: a real torch.save checkpoint (embedding + 2-layer
#     bidirectional LSTM + linear) to HDF5 and back, checked, inspected, and
#     its forward pass compared with the output real PyTorch saved;
#  4. TensorFlow 1 -> PyTorch: a real 2017 char-rnn checkpoint (TF 0.12
#     tensor bundle, two BasicLSTMCells in a MultiRNNCell) converted to a
#     state_dict (TF's forget_bias 1.0 folded into bias_ih), validated against
#     the bundle and against TF.js's BasicLSTMCell on a shipped input.
# Usage: scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh build >/dev/null
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
run() { echo; echo "\$ $*"; "$@"; }

echo "== 1. Keras -> PyTorch"
kx=fixtures/keras
run build/rnnck inspect $kx/tfk2_bilstm_stack.h5
run build/rnnck convert $kx/tfk2_bilstm_stack.h5 "$out/keras_model.pt"
run build/rnnck validate $kx/tfk2_bilstm_stack.h5 "$out/keras_model.pt"
# A state_dict cannot say batch_first; the Keras input is (batch, time, features).
run build/rnnck validate "$out/keras_model.pt" --set bidirectional.batch_first=true --module bidirectional \
    --input $kx/expect/tfk2_bilstm_stack.bidirectional.input.npy \
    --expect $kx/expect/tfk2_bilstm_stack.bidirectional.output.npy

echo; echo "== 2. PyTorch -> ONNX"
run build/rnnck convert fixtures/pytorch/lstm_bare.pt "$out/lstm.onnx"
run build/rnnck validate fixtures/pytorch/lstm_bare.pt "$out/lstm.onnx"

echo; echo "== 3. PyTorch <-> rnnck HDF5"
fx=fixtures/pytorch
run build/rnnck convert $fx/demo_model.pt "$out/demo.h5"
run build/rnnck check "$out/demo.h5"
run build/rnnck inspect "$out/demo.h5"
run build/rnnck convert "$out/demo.h5" "$out/demo_roundtrip.pt"
run build/rnnck validate $fx/demo_model.pt "$out/demo_roundtrip.pt"
run build/rnnck forward "$out/demo.h5" --module rnn --input $fx/demo_input.npy --output "$out/y.npy"
# Largest difference between rnnck's output and the one PyTorch saved:
run build/rnnck validate "$out/demo.h5" --module rnn --input $fx/demo_input.npy --expect $fx/demo_output.npy

echo; echo "== 4. TensorFlow 1 -> PyTorch"
tf=fixtures/tf/real/charrnn_calebfoss/model.ckpt-46499
run build/rnnck inspect $tf --drop-optimizer
run build/rnnck convert $tf "$out/charrnn.pt" --drop-optimizer
run build/rnnck validate $tf "$out/charrnn.pt"
run build/rnnck validate "$out/charrnn.pt" --module rnnlm.MultiRNNCell \
    --input fixtures/tf/goldens/tfjs_charrnn.input.npy --expect fixtures/tf/goldens/tfjs_charrnn.output.npy
echo; echo "demo: ok"
