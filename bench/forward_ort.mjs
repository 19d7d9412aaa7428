// ONNX Runtime side of bench/forward: times session.run of a model written by
// `rnnck init ... --to onnx` (one LSTM/GRU/RNN node per layer, as rnnck
// exports), float32, zero initial states, input U(-1, 1), and prints
//   ort <median ms> <best ms> <GFLOP/s at median> <peak RSS MiB> <CPU ms per call>
// with the same repeat rule as bench_forward and forward_torch.py (one warm-up
// run, then at least 5 timed runs and up to 64 or 3 s).
// Usage: node forward_ort.mjs MODEL.onnx CELL T B I H L BIDIR THREADS
// onnxruntime-node comes from tests/crosscheck/ort (scripts/setup.sh --crosscheck).
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const ort = createRequire(path.join(here, '..', 'tests', 'crosscheck', 'ort', 'package.json'))('onnxruntime-node');
const [model, cell, ...nums] = process.argv.slice(2);
const [T, B, I, H, L, bidir, threads] = nums.map(Number);
const D = bidir ? 2 : 1, G = cell === 'lstm' ? 4 : cell === 'gru' ? 3 : 1;
let flops = 0;
for (let l = 0; l < L; l++) flops += 2 * T * B * G * H * ((l === 0 ? I : H * D) + H) * D;

const session = await ort.InferenceSession.create(model, {
  intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all',
});
let seed = 12345;
const x = new Float32Array(T * B * I);
for (let i = 0; i < x.length; i++) { seed = (seed * 1664525 + 1013904223) >>> 0; x[i] = (seed / 4294967296) * 2 - 1; }
const feeds = { X: new ort.Tensor('float32', x, [T, B, I]), initial_h: new ort.Tensor('float32', new Float32Array(L * D * B * H), [L * D, B, H]) };
if (cell === 'lstm') feeds.initial_c = new ort.Tensor('float32', new Float32Array(L * D * B * H), [L * D, B, H]);

const now = () => Number(process.hrtime.bigint()) / 1e6;
const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e3; };
const times = [];
let cpuTotal = 0;
const start = now();
for (let warm = 0; warm < 2 || (times.length < 64 && (times.length < 5 || now() - start < 3000)); warm++) {
  const t0 = now(), c0 = cpu();
  await session.run(feeds);
  const dt = now() - t0;
  if (warm >= 1) { times.push(dt); cpuTotal += cpu() - c0; }
}
times.sort((a, b) => a - b);
const med = times[Math.floor(times.length / 2)];
const rss = process.resourceUsage().maxRSS / 1024;
console.log(`ort ${med.toFixed(3)} ${times[0].toFixed(3)} ${(flops / (med * 1e6)).toFixed(1)} ${rss.toFixed(1)} ${(cpuTotal / times.length).toFixed(3)}`);
