// ONNX Runtime cross-check tier (issue 12, "a real runtime").
//
// Export: for PyTorch fixtures and schema files with ONNX-only semantics,
//   `rnnck convert SRC m.onnx --to onnx`, run m.onnx in ONNX Runtime
//   (onnxruntime-node, CPU, one thread) and compare Y, Y_h, Y_c with
//   `rnnck forward SRC` on the same X and initial states; PyTorch sources are
//   also run in torch (tests/crosscheck/ort/torch_run.py) when it is there.
//   `rnnck validate SRC m.onnx` must pass as well. Sources with several
//   modules export one graph ("NAME:X" inputs), compared module by module.
// Import: the ONNX models in fixtures/onnx (torch.onnx.export ones,
//   single-node ones, misc, and fixtures/onnx/ort with sequence_lens) run in
//   ONNX Runtime and in `rnnck forward` on the same .onnx file; compared with
//   each other and with the goldens beside them (torch's outputs; onnx's
//   reference helpers; ONNX Runtime's own stored outputs).
// ONNX Runtime 1.30 runs recurrent ops in float32 only: float64 models run as
//   a float32 copy (onnx_f32.py), rnnck's float64 result being the reference.
// An element passes when |a - b| <= 2e-5 + 2e-4 |ref|, ref being rnnck's value
// (torch's or the golden's in those columns). Prints a table of max abs / rel
// errors per model; exits 1 naming the models outside tolerance, 77 (ctest:
// skipped) when onnxruntime-node is not installed.
//
// Usage: node crosscheck_ort.mjs RNNCK_BINARY SOURCE_DIR
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readNpy, writeNpy } from './npy.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const [rnnck, srcDir] = process.argv.slice(2).map((p) => path.resolve(p));
if (!rnnck || !srcDir) {
  console.error('usage: node crosscheck_ort.mjs RNNCK_BINARY SOURCE_DIR');
  process.exit(2);
}
let ort;
try {
  ort = createRequire(path.join(here, 'package.json'))('onnxruntime-node');
} catch (e) {
  console.log(`SKIPPED: onnxruntime-node is not installed in ${here}/node_modules ` +
              `(scripts/setup.sh --crosscheck installs it): ${e.message.split('\n')[0]}`);
  process.exit(77);
}
const ATOL = 2e-5, RTOL = 2e-4;
const FX = path.join(srcDir, 'fixtures');
const PY = '/usr/bin/python3';
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'rnnck-ort-'));
process.on('exit', () => fs.rmSync(work, { recursive: true, force: true }));

const have = (args) => spawnSync(PY, args, { stdio: 'ignore' }).status === 0;
const haveTorch = have(['-c', 'import torch, numpy']);
const haveH5py = have(['-c', 'import h5py, numpy']);
const haveOnnx = have(['-c', 'import onnx, numpy']);
class Skip extends Error {} // a model this machine cannot run: listed, not failed
const safe = (name) => name.replace(/[^A-Za-z0-9_.=-]+/g, '_');
// ONNX Runtime 1.30's CPU LSTM/GRU/RNN kernels run float32 only: a float64
// model runs as a float32 copy (onnx_f32.py) on float32 inputs.
// Copies are made in batches (one python start for many models): f32Batch
// writes them, f32Model finds one made before or makes it.
const f32Made = new Map();
function f32Batch(pairs) {
  if (!haveOnnx || !pairs.length) return;
  sh(PY, [path.join(here, 'onnx_f32.py'), ...pairs.flat()], 'onnx_f32');
  for (const [src, dst] of pairs) f32Made.set(src, dst);
}
function f32Model(model, dir) {
  if (!haveOnnx) throw new Skip('not run: a float64 model needs python3-onnx for its float32 copy');
  if (!f32Made.has(model)) f32Batch([[model, path.join(dir, 'model_f32.onnx')]]);
  return f32Made.get(model);
}
const toF32 = (a) => (a.dtype === 'float64' ? { dtype: 'float32', shape: a.shape, data: Float32Array.from(a.data) } : a);
const f32Feeds = (feeds) => Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, v instanceof ort.Tensor ? v : toF32(v)]));

function sh(cmd, args, what) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${what}: ${path.basename(cmd)} ${args.join(' ')}: exit ${r.status}: ${(r.stderr || '').trim()}`);
  return r.stdout;
}
const rn = (args, what) => sh(rnnck, args, what);

// ---------------------------------------------------------------- arrays
let seed = 0x2545f491;
function uniform() { // xorshift32, deterministic
  seed ^= seed << 13; seed >>>= 0; seed ^= seed >>> 17; seed ^= seed << 5; seed >>>= 0;
  return (seed + 0.5) / 4294967296;
}
function normal() { return Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform()); }
function randArr(dtype, shape, scale) {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = dtype === 'float64' ? new Float64Array(n) : new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = normal() * scale;
  return { dtype, shape, data };
}
// Permute the axes of a C-order array.
function permute(a, perm) {
  const shape = perm.map((p) => a.shape[p]);
  const n = a.data.length, out = new a.data.constructor(n);
  const inStride = [];
  for (let k = a.shape.length - 1, s = 1; k >= 0; k--) { inStride[k] = s; s *= a.shape[k]; }
  const idx = new Array(shape.length).fill(0);
  for (let i = 0; i < n; i++) {
    let off = 0;
    for (let k = 0; k < shape.length; k++) off += idx[k] * inStride[perm[k]];
    out[i] = a.data[off];
    for (let k = shape.length - 1; k >= 0; k--) { if (++idx[k] < shape[k]) break; idx[k] = 0; }
  }
  return { dtype: a.dtype, shape, data: out };
}
const reshape = (a, shape) => ({ ...a, shape });
// Columns [from, to) of the last axis.
function lastAxis(a, from, to) {
  const W = a.shape[a.shape.length - 1], n = a.data.length / W, w = to - from;
  const out = new a.data.constructor(n * w);
  for (let i = 0; i < n; i++) out.set(a.data.subarray(i * W + from, i * W + to), i * w);
  return { dtype: a.dtype, shape: [...a.shape.slice(0, -1), w], data: out };
}
// ONNX Y (T, D, B, H) -> PyTorch's (T, B, D*H)
const onnxY = (y) => { const p = permute(y, [0, 2, 1, 3]); return reshape(p, [p.shape[0], p.shape[1], p.shape[2] * p.shape[3]]); };
const fromOrt = (t) => ({ dtype: t.type, shape: t.dims.map(Number), data: t.data });
const toOrt = (a) => new ort.Tensor(a.dtype, a.data, a.shape);

// max |a-b|, max |a-b|/|ref| (ref != 0), worst (|a-b| / (ATOL + RTOL |ref|))
function compare(ref, got, what) {
  if (ref.shape.join() !== got.shape.join())
    return { abs: Infinity, rel: Infinity, worst: Infinity, note: `${what}: shape ${got.shape} vs ${ref.shape}` };
  let abs = 0, rel = 0, worst = 0, peak = 0;
  for (let i = 0; i < ref.data.length; i++) peak = Math.max(peak, Math.abs(Number(ref.data[i])));
  if (!(peak > 0)) return { abs: Infinity, rel: Infinity, worst: Infinity, note: `${what}: the reference is all zero` };
  for (let i = 0; i < ref.data.length; i++) {
    const r = Number(ref.data[i]), d = Math.abs(Number(got.data[i]) - r);
    if (Number.isNaN(d)) return { abs: NaN, rel: NaN, worst: Infinity, note: `${what}: NaN` };
    abs = Math.max(abs, d);
    if (r !== 0) rel = Math.max(rel, d / Math.abs(r));
    worst = Math.max(worst, d / (ATOL + RTOL * Math.abs(r)));
  }
  return { abs, rel, worst };
}
function merge(list) {
  const out = { abs: 0, rel: 0, worst: 0, notes: [] };
  for (const c of list) {
    out.abs = Math.max(out.abs, c.abs); out.rel = Math.max(out.rel, c.rel); out.worst = Math.max(out.worst, c.worst);
    if (c.note) out.notes.push(c.note);
  }
  return out;
}

async function runOrt(model, feeds) {
  const s = await ort.InferenceSession.create(model, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  const f = {};
  for (const [k, v] of Object.entries(feeds)) f[k] = v instanceof ort.Tensor ? v : toOrt(v);
  const r = await s.run(f);
  const out = s.outputNames.map((n) => fromOrt(r[n]));
  await s.release?.();
  return out;
}

async function runOrtNamed(model, feeds) {
  const s = await ort.InferenceSession.create(model, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  const f = {};
  for (const [k, v] of Object.entries(feeds)) f[k] = v instanceof ort.Tensor ? v : toOrt(v);
  const r = await s.run(f);
  const out = Object.fromEntries(s.outputNames.map((n) => [n, fromOrt(r[n])]));
  await s.release?.();
  return out;
}

const rows = [];
function row(name, dir, ortCmp, goldCmp, goldName, note) {
  rows.push({ name, dir, ort: ortCmp, gold: goldCmp, goldName, note });
}

// ---------------------------------------------------------------- export
function modulesOf(src, sets) {
  return JSON.parse(rn(['inspect', src, '--json', ...sets], 'inspect')).modules;
}

// Graph inputs/outputs of an export are X, initial_h, ... for one module and
// "NAME:X", ... for several (docs/CLI.md).
const torchJobs = [], pendingF32 = [], exported = [];
// Every export passes onnx.checker.check_model(full_check=True) (python3-onnx).
function checkExports() {
  if (!haveOnnx || !exported.length) return;
  const code = 'import sys, onnx\nfor p in sys.argv[1:]:\n    try:\n        onnx.checker.check_model(onnx.load(p), full_check=True)\n'
             + '    except Exception as e:\n        print(p + ": " + str(e).splitlines()[0])\n';
  const out = sh(PY, ['-c', code, ...exported.map(([, m]) => m)], 'onnx.checker').trim();
  for (const line of out ? out.split('\n') : []) {
    const hit = exported.find(([, m]) => line.startsWith(m));
    failures.push(`${hit ? hit[0] : '?'}: onnx.checker refuses the export: ${line}`);
  }
  console.log(`onnx.checker.check_model(full_check=True): ${exported.length} exports checked`);
}
async function runPendingF32() {
  if (!haveOnnx) {
    for (const p of pendingF32) {
      p.r.note = 'not run: a float64 model needs python3-onnx for its float32 copy';
      if (p.vnote) p.r.ort = { abs: 0, rel: 0, worst: Infinity, notes: [p.vnote] };
    }
    return;
  }
  f32Batch(pendingF32.map((p) => [p.src, p.dst]));
  for (const p of pendingF32) await attempt(p.name, async () => p.finish(await runOrtNamed(p.dst, p.feeds)));
}
// With lens, the export has a sequence_lens input (convert --onnx-sequence-lens):
// each module gets lengths in [1, T] (some rows shorter than T), fed to ORT as
// int32 sequence_lens and to rnnck forward as --lengths.
async function exportCase({ name, src, sets = [], T = 7, B = 3, torch = false, lens = false }) {
  const dir = path.join(work, safe(name));
  fs.mkdirSync(dir);
  const f = (n) => path.join(dir, n);
  const mods = modulesOf(src, sets);
  if (!mods.length) throw new Error(`${src}: no recurrent module`);
  rn(['convert', src, f('model.onnx'), '--to', 'onnx', ...(lens ? ['--onnx-sequence-lens'] : []), ...sets], 'convert');
  exported.push([name, f('model.onnx')]);
  const feeds = {}, mine = [], per = [];
  let wide = false;
  mods.forEach((m, k) => {
    const D = m.bidirectional ? 2 : 1, dt = m.dtype, lstm = m.module === 'LSTM';
    const p = mods.length === 1 ? '' : `${m.name || 'rnn'}:`, g = (n) => f(`m${k}_${n}`);
    const x = randArr(dt, m.batch_first ? [B, T, m.input_size] : [T, B, m.input_size], 1);
    const h0 = randArr(dt, [m.num_layers * D, B, m.hidden_size], 0.5);
    const c0 = randArr(dt, [m.num_layers * D, B, m.hidden_size], 0.5);
    writeNpy(g('x.npy'), x); writeNpy(g('h0.npy'), h0); writeNpy(g('c0.npy'), c0);
    // lengths: row 0 full, the others cycling through 1 .. T-1
    const L = lens ? { dtype: 'int32', shape: [B], data: Int32Array.from({ length: B }, (_, b) => (b === 0 ? T : 1 + ((b * 3) % (T - 1)))) } : null;
    if (L) writeNpy(g('lengths.npy'), L);
    rn(['forward', src, ...(mods.length > 1 ? ['--module', m.name] : []), '--input', g('x.npy'), '--h0', g('h0.npy'),
        ...(lstm ? ['--c0', g('c0.npy'), '--cn', g('cn.npy')] : []), '--output', g('y.npy'), '--hn', g('hn.npy'),
        ...(L ? ['--lengths', g('lengths.npy')] : []), '--threads', '1', ...sets], 'forward');
    const outs = [readNpy(g('y.npy')), readNpy(g('hn.npy')), ...(lstm ? [readNpy(g('cn.npy'))] : [])];
    Object.assign(feeds, { [`${p}X`]: x, [`${p}initial_h`]: h0, ...(lstm ? { [`${p}initial_c`]: c0 } : {}),
                           ...(L ? { [`${p}sequence_lens`]: new ort.Tensor('int32', L.data, [B]) } : {}) });
    // merge_mode none: two outputs, y_f and y_r, where rnnck gives concat's layout
    if (m.merge_mode === 'none') {
      mine.push([`${p}Y_forward`, lastAxis(outs[0], 0, m.hidden_size)], [`${p}Y_reverse`, lastAxis(outs[0], m.hidden_size, 2 * m.hidden_size)]);
      outs.slice(1).forEach((a, i) => mine.push([`${p}${['Y_h', 'Y_c'][i]}`, a]));
    } else outs.forEach((a, i) => mine.push([`${p}${['Y', 'Y_h', 'Y_c'][i]}`, a]));
    per.push({ m, outs, g });
    if (dt === 'float64') wide = true;
  });
  // rnnck validate SRC model.onnx: the export passes rnnck's own battery too
  // (an ONNX model takes no --set: a source that needs one is validated as its .h5)
  let vsrc = src;
  if (sets.length) rn(['convert', src, (vsrc = f('source.h5')), ...sets], 'convert');
  const v = spawnSync(rnnck, ['validate', vsrc, f('model.onnx'), '--no-diagnose', '--no-per-layer', '--long-len', '40', '--seq-len', '10'], { encoding: 'utf8' });
  const vnote = v.status === 0 ? null : `rnnck validate SRC model.onnx: exit ${v.status}: ${(v.stdout + v.stderr).trim().split('\n').slice(-3).join(' | ')}`;
  const notes = [wide ? 'ORT: float32 copy' : '', mods.length > 1 ? `${mods.length} modules` : '',
                 lens ? `sequence_lens ${Array.from(Object.entries(feeds).filter(([k]) => k.endsWith('sequence_lens'))[0][1].data).join(',')}` : '',
                 mods.some((m) => m.merge_mode !== 'concat') ? `merge ${mods.map((m) => m.merge_mode).join(',')}` : '']
    .filter(Boolean).join('; ');
  const r = { name, dir: 'export', note: notes || undefined };
  rows.push(r);
  const finish = (got) => {
    r.ort = merge(mine.map(([n, a]) => (got[n] ? compare(a, got[n], n) : { abs: Infinity, rel: Infinity, worst: Infinity, note: `no output ${n}` })));
    if (vnote) r.ort.notes.push(vnote), r.ort.worst = Infinity;
  };
  // a float64 export runs in ORT later, after one batch makes every float32 copy
  if (wide) pendingF32.push({ name, r, src: f('model.onnx'), dst: f('model_f32.onnx'), feeds: f32Feeds(feeds), finish, vnote });
  else finish(await runOrtNamed(f('model.onnx'), feeds));
  if (torch && haveTorch && mods.length === 1) {
    const [{ m, outs, g }] = per;
    torchJobs.push({ row: r, mine: outs, job: {
      src, prefix: m.name, cell: m.module, input_size: m.input_size, hidden_size: m.hidden_size,
      num_layers: m.num_layers, bidirectional: m.bidirectional, batch_first: m.batch_first, bias: m.bias,
      dtype: m.dtype, x: g('x.npy'), h0: g('h0.npy'), c0: g('c0.npy'), out: dir } });
  } else if (torch) r.goldName = haveTorch ? 'torch: one module only' : 'torch absent';
}

function runTorch() {
  if (!torchJobs.length) return;
  const jobs = path.join(work, 'torch_jobs.json');
  fs.writeFileSync(jobs, JSON.stringify(torchJobs.map((t) => t.job)));
  sh(PY, [path.join(here, 'torch_run.py'), jobs], 'torch');
  for (const { row: r, mine, job } of torchJobs) {
    const err = path.join(job.out, 'torch_error.txt');
    if (fs.existsSync(err)) {
      r.gold = { abs: Infinity, rel: Infinity, worst: Infinity, notes: [`torch: ${fs.readFileSync(err, 'utf8')}`] };
    } else {
      const t = ['y', 'hn', 'cn'].slice(0, mine.length).map((n) => readNpy(path.join(job.out, `${n}.npy`)));
      r.gold = merge(t.map((a, i) => compare(a, mine[i], ['Y', 'h_n', 'c_n'][i])));
    }
    r.goldName = 'torch';
  }
}

// A Keras fixture with TF.js goldens (fixtures/forward/keras11/<c>: input and
// outputs time-major, zero initial states) exported and run in ORT; the
// Keras module is batch-major, so X and Y are transposed around the run.
async function kerasGoldenCase(c) {
  const g = path.join(FX, 'forward', 'keras11', c), dir = path.join(work, `tfjs_${safe(c)}`);
  fs.mkdirSync(dir);
  const model = path.join(dir, 'model.onnx');
  rn(['convert', path.join(FX, 'keras', 'v11', `${c}.h5`), model, '--to', 'onnx'], 'convert');
  const [m] = modulesOf(model, []);
  const x = readNpy(path.join(g, 'input.npy')), [T, B] = x.shape, H = m.hidden_size, D = m.bidirectional ? 2 : 1;
  const lstm = fs.existsSync(path.join(g, 'expected_c_n.npy'));
  const zeros = { dtype: 'float32', shape: [D, B, H], data: new Float32Array(D * B * H) };
  const got = await runOrtNamed(model, { X: permute(x, [1, 0, 2]), initial_h: zeros, ...(lstm ? { initial_c: zeros } : {}) });
  const y = readNpy(path.join(g, 'expected_output.npy')), cmp = [];
  if (got.Y_forward) {
    cmp.push(compare(lastAxis(y, 0, H), permute(got.Y_forward, [1, 0, 2]), 'Y_forward'));
    cmp.push(compare(lastAxis(y, H, 2 * H), permute(got.Y_reverse, [1, 0, 2]), 'Y_reverse'));
  } else cmp.push(compare(y, permute(got.Y, [1, 0, 2]), 'Y'));
  cmp.push(compare(readNpy(path.join(g, 'expected_h_n.npy')), got.Y_h, 'Y_h'));
  if (lstm) cmp.push(compare(readNpy(path.join(g, 'expected_c_n.npy')), got.Y_c, 'Y_c'));
  rows.push({ name: `keras/v11/${c} (TF.js golden)`, dir: 'export', ort: merge(cmp),
              note: `ORT's output vs TF.js 4.22's golden (not rnnck's), T=${T} B=${B}` });
}

// The merge ops are Keras's maths to the bit: the merged export and the same
// module exported with merge_mode concat (h5_variant.py) run in ORT on the
// same inputs; the merged Y must equal fround(y_f + y_r), fround(y_f * y_r),
// fround(fround(y_f + y_r) / 2) of the concat Y bit for bit.
async function mergeBitsCase(c) {
  const dir = path.join(work, `bits_${safe(c)}`), f = (n) => path.join(dir, n);
  fs.mkdirSync(dir);
  rn(['convert', path.join(FX, 'keras', 'v11', `${c}.h5`), f('merged.h5')], 'convert');
  variant(f('merged.h5'), f('concat.h5'), ['merge_mode=concat']);
  rn(['convert', f('merged.h5'), f('merged.onnx')], 'convert');
  rn(['convert', f('concat.h5'), f('concat.onnx')], 'convert');
  const [m] = modulesOf(f('merged.h5'), []), H = m.hidden_size, B = 6, T = 9;
  const lstm = m.module === 'LSTM';
  const feeds = { X: randArr('float32', [B, T, m.input_size], 1), initial_h: randArr('float32', [2, B, H], 0.5),
                  ...(lstm ? { initial_c: randArr('float32', [2, B, H], 0.5) } : {}) };
  const a = (await runOrtNamed(f('merged.onnx'), feeds)).Y, cat = (await runOrtNamed(f('concat.onnx'), feeds)).Y;
  const op = { sum: (u, v) => u + v, mul: (u, v) => u * v, ave: (u, v) => Math.fround(u + v) / 2 }[m.merge_mode];
  if (!op) throw new Error(`${c}: merge_mode ${m.merge_mode}`);
  let differ = 0;
  for (let i = 0; i < a.data.length; i++) {
    const row = Math.floor(i / H), k = i % H;
    const want = Math.fround(op(cat.data[row * 2 * H + k], cat.data[row * 2 * H + H + k]));
    if (!Object.is(want, a.data[i])) differ++;
  }
  if (differ) throw new Error(`${c}: ${differ} of ${a.data.length} merged values differ from Keras's ${m.merge_mode} of the two directions`);
  rows.push({ name: `keras/v11/${c} (bit-exact merge)`, dir: 'export', ort: { abs: 0, rel: 0, worst: 0, notes: [] },
              note: `ORT ${m.merge_mode} of ${a.data.length} values == Keras's maths on ORT's y_f, y_r, bit for bit` });
}

// ---------------------------------------------------------------- import
// rnnck forward on an .onnx file with the given PyTorch-layout inputs.
function rnnckOnOnnx(model, dir, inputs, lstm, extra = []) {
  const f = (n) => path.join(dir, n);
  const args = ['forward', model, '--output', f('ry.npy'), '--hn', f('rhn.npy'), '--threads', '1', ...extra];
  for (const [k, a] of Object.entries(inputs)) { writeNpy(f(`${k}.npy`), a); args.push(`--${k === 'x' ? 'input' : k}`, f(`${k}.npy`)); }
  if (lstm) args.push('--cn', f('rcn.npy'));
  rn(args, 'forward');
  return [readNpy(f('ry.npy')), readNpy(f('rhn.npy')), ...(lstm ? [readNpy(f('rcn.npy'))] : [])];
}

async function importTorchCase(name) {
  const d = path.join(FX, 'onnx', 'torch', name), dir = path.join(work, `import_${safe(name)}`);
  fs.mkdirSync(dir);
  const model = path.join(d, 'model.onnx');
  const x = readNpy(path.join(d, 'input.npy'));
  const lstm = fs.existsSync(path.join(d, 'expected_c_n.npy'));
  const mine = rnnckOnOnnx(model, dir, { x }, lstm);
  const s = await ort.InferenceSession.create(model, { intraOpNumThreads: 1 });
  const outs = await runOrt(model, { [s.inputNames[0]]: x });
  const gold = ['expected_output', 'expected_h_n', 'expected_c_n'].slice(0, mine.length).map((n) => readNpy(path.join(d, `${n}.npy`)));
  rows.push({ name: `onnx/torch/${name}`, dir: 'import', ort: merge(mine.map((a, i) => compare(a, outs[i], ['Y', 'Y_h', 'Y_c'][i]))),
              gold: merge(gold.map((g, i) => compare(g, mine[i], ['Y', 'h_n', 'c_n'][i]))), goldName: 'torch' });
}

// A single-node model of fixtures/onnx/nodes or misc: inputs X, initial_h,
// initial_c from fixtures/forward/onnx/<golden> (float64, whose goldens come
// from onnx's reference helpers). A layout=1 model takes batch-major X; ONNX
// Runtime refuses layout=1, so it is only compared with the golden.
async function importNodeCase({ name, model, golden, layout = 0, feeds = {}, module }) {
  const g = path.join(FX, 'forward', 'onnx', golden), dir = path.join(work, `import_${safe(name)}`);
  fs.mkdirSync(dir);
  const x = readNpy(path.join(g, 'input.npy')), h0 = readNpy(path.join(g, 'h0.npy'));
  const lstm = fs.existsSync(path.join(g, 'c0.npy'));
  const c0 = lstm ? readNpy(path.join(g, 'c0.npy')) : null;
  const extra = module ? ['--module', module] : [];
  const mineIn = { x: layout ? permute(x, [1, 0, 2]) : x, h0, ...(lstm ? { c0 } : {}) };
  // rnnck on the fixture itself, against the golden
  const mine = rnnckOnOnnx(model, dir, mineIn, lstm, extra);
  const gold = ['expected_output', 'expected_h_n', 'expected_c_n'].slice(0, mine.length).map((n) => readNpy(path.join(g, `${n}.npy`)));
  const y0 = layout ? permute(mine[0], [1, 0, 2]) : mine[0];
  const r = { name, dir: 'import', gold: merge(gold.map((a, i) => compare(a, i ? mine[i] : y0, ['Y', 'h_n', 'c_n'][i]))), goldName: 'onnx ref' };
  rows.push(r);
  if (layout) {
    r.ort = null;
    r.note = 'ORT 1.30 refuses layout=1 ("Batchwise recurrent operations (layout == 1) are not supported")';
    return;
  }
  // ORT and rnnck on the model ORT runs (a float32 copy of a float64 model)
  const wide = x.dtype === 'float64';
  const run = wide ? f32Model(model, dir) : model;
  const mine32 = wide ? rnnckOnOnnx(run, dir, f32Feeds(mineIn), lstm, extra) : mine;
  const ortIn = { X: x, initial_h: h0, ...(lstm ? { initial_c: c0 } : {}) };
  const outs = await runOrt(run, wide ? { ...f32Feeds(ortIn), ...feeds } : { ...ortIn, ...feeds });
  // graph outputs: Y (T, D, B, H), then Y_h (and Y_c) where the model lists them
  const cmp = [compare(mine32[0], onnxY(outs[0]), 'Y'), ...outs.slice(1).map((a, i) => compare(mine32[i + 1], a, ['Y_h', 'Y_c'][i]))];
  r.ort = merge(cmp);
  if (wide) r.note = 'ORT and rnnck: float32 copy';
}

// A model of fixtures/onnx/ort (float32 single nodes, some with a
// sequence_lens input, given to rnnck as --lengths), whose goldens ONNX
// Runtime made when the fixture was generated.
async function importOrtCase(name) {
  const d = path.join(FX, 'onnx', 'ort', name), dir = path.join(work, `import_ort_${safe(name)}`);
  fs.mkdirSync(dir);
  const f = (n) => path.join(d, n), opt = (n) => (fs.existsSync(f(n)) ? readNpy(f(n)) : null);
  const x = readNpy(f('input.npy')), h0 = readNpy(f('h0.npy')), c0 = opt('c0.npy'), L = opt('lengths.npy');
  const lstm = !!c0;
  const mine = rnnckOnOnnx(f('model.onnx'), dir, { x, h0, ...(lstm ? { c0 } : {}), ...(L ? { lengths: L } : {}) }, lstm);
  const feeds = { X: x, initial_h: h0, ...(lstm ? { initial_c: c0 } : {}) };
  if (L) feeds.sequence_lens = { dtype: 'int32', shape: L.shape, data: Int32Array.from(L.data, Number) };
  const outs = await runOrt(f('model.onnx'), feeds);
  const cmp = [compare(mine[0], onnxY(outs[0]), 'Y'), ...outs.slice(1).map((a, i) => compare(mine[i + 1], a, ['Y_h', 'Y_c'][i]))];
  const gold = ['expected_output', 'expected_h_n', 'expected_c_n'].slice(0, mine.length).map((n) => readNpy(f(`${n}.npy`)));
  rows.push({ name: `onnx/ort/${name}`, dir: 'import', ort: merge(cmp), gold: merge(gold.map((g, i) => compare(g, mine[i], ['Y', 'h_n', 'c_n'][i]))),
              goldName: 'ORT file', note: L ? `sequence_lens ${Array.from(L.data).join(',')}` : undefined });
}

// ---------------------------------------------------------------- cases
const lines = (f) => fs.readFileSync(f, 'utf8').split('\n').map((s) => s.trim()).filter(Boolean);
const pt = (n) => path.join(FX, 'pytorch', n);
const failures = [];
async function attempt(name, fn) {
  try { await fn(); } catch (e) {
    if (e instanceof Skip) { rows.push({ name, dir: '-', ort: null, note: e.message }); return; }
    failures.push(`${name}: ${e.message}`);
    rows.push({ name, dir: '?', ort: { abs: Infinity, rel: Infinity, worst: Infinity, notes: [e.message] } });
  }
}

const t0 = Date.now();
// PyTorch sources (f32 and f64), checked against torch too
const ptCases = [
  ['pt/lstm_bare (LSTM 2L bi)', 'lstm_bare.pt'],
  ['pt/legacy (legacy format, LSTM 2L bi)', 'legacy.pt'],
  ['pt/module_lstm (LSTM 2L bi batch_first)', 'module_lstm.pt'],
  ['pt/module_thnn_backend (LSTM 2L)', 'module_thnn_backend.pt'],
  ['pt/gru_bare (GRU no bias)', 'gru_bare.pt'],
  ['pt/gru_f64 (GRU 2L float64)', 'gru_f64.pt'],
  ['pt/legacy_module (GRU 2L batch_first)', 'legacy_module.pt'],
  ['pt/rnn_relu_bare (RNN tanh 2L)', 'rnn_relu_bare.pt'],
  ['pt/rnn_relu_bare (RNN relu 2L)', 'rnn_relu_bare.pt', ['--set', 'nonlinearity=relu']],
  ['npz/lstm (LSTM bi)', 'lstm.npz'],
];
for (const [name, file, sets] of ptCases)
  await attempt(name, () => exportCase({ name, src: pt(file), sets: sets || [], torch: true }));
{ // proj_size has no ONNX equivalent: refused, exit 3
  const r = spawnSync(rnnck, ['convert', pt('lstm_proj.pt'), path.join(work, 'proj.onnx'), '--to', 'onnx'], { encoding: 'utf8' });
  if (r.status !== 3) failures.push(`pt/lstm_proj: convert --to onnx gave exit ${r.status}, not the documented refusal (3)`);
}

// Schema files with PyTorch semantics, wide enough for the packed kernels
const h5 = (n) => path.join(work, n);
const init = (out, args) => rn(['init', out, '--seed', '5', ...args], 'init');
await attempt('h5/init LSTM 2L bi H=64 B=17', async () => {
  init(h5('lstm64.h5'), ['--cell', 'lstm', '--input-size', '24', '--hidden-size', '64', '--num-layers', '2', '--bidirectional']);
  await exportCase({ name: 'h5/init LSTM 2L bi H=64 B=17', src: h5('lstm64.h5'), T: 12, B: 17 });
});
await attempt('h5/init GRU 2L bf f64 H=48 B=9', async () => {
  init(h5('gru48.h5'), ['--cell', 'gru', '--input-size', '16', '--hidden-size', '48', '--num-layers', '2', '--batch-first', '--dtype', 'float64']);
  await exportCase({ name: 'h5/init GRU 2L bf f64 H=48 B=9', src: h5('gru48.h5'), T: 10, B: 9 });
});

// Schema files with ONNX-only semantics: every single-node fixture read into
// the schema (float64; RNN also as float32, since ONNX Runtime has no float64
// RNN kernel), and wider ones made with rnnck init + h5_variant.py
const nodeCases = lines(path.join(FX, 'onnx', 'nodes', 'cases.txt'));
const variant = (src, dst, args) => sh(PY, [path.join(here, 'h5_variant.py'), src, dst, ...args], 'h5_variant');
for (const c of nodeCases) {
  await attempt(`h5/${c}`, async () => {
    rn(['convert', path.join(FX, 'onnx', 'nodes', `${c}.onnx`), h5(`${c}.h5`)], 'convert');
    await exportCase({ name: `h5/${c}`, src: h5(`${c}.h5`), B: 4 });
  });
  // reverse-only and bidirectional nodes with sequence_lens: each row's reverse run starts at its own end
  if (/reverse|bidirectional/.test(c))
    await attempt(`h5/${c} +sequence_lens`, () => exportCase({ name: `h5/${c} +sequence_lens`, src: h5(`${c}.h5`), B: 5, lens: true }));
}
// Keras go_backwards layers (schema 1.1: outputs in processing order),
// exported as a time-reversing Slice before a forward node (ReverseSequence
// with sequence_lens), and Bidirectional merge modes (Split + Add / Mul /
// Add, Div by 2; none: outputs Y_forward, Y_reverse): against rnnck forward
// on random inputs, without and with sequence_lens, and against TF.js 4.22's
// goldens (fixtures/forward/keras11: zero initial states, full lengths)
const kerasV11 = lines(path.join(FX, 'forward', 'keras11', 'cases.txt'));
for (const c of kerasV11)
  for (const lens of [false, true])
    await attempt(`keras/v11/${c}${lens ? ' +sequence_lens' : ''}`, async () => {
      await exportCase({ name: `keras/v11/${c}${lens ? ' +sequence_lens' : ''}`, src: path.join(FX, 'keras', 'v11', `${c}.h5`), T: 7, B: 5, lens });
    });
for (const c of kerasV11) await attempt(`keras/v11/${c} (TF.js golden)`, () => kerasGoldenCase(c));
if (haveH5py) for (const c of kerasV11.filter((n) => /merge_(sum|mul|ave)/.test(n))) await attempt(`keras/v11/${c} (bit-exact merge)`, () => mergeBitsCase(c));
// sequence_lens through multi-layer, bidirectional and batch_first stacks
const lensCases = [
  ['pt/lstm_bare (LSTM 2L bi) +sequence_lens', 'lstm_bare.pt'],
  ['pt/legacy_module (GRU 2L batch_first) +sequence_lens', 'legacy_module.pt'],
  ['pt/gru_f64 (GRU 2L float64) +sequence_lens', 'gru_f64.pt'],
  ['pt/rnn_relu_bare (RNN relu 2L) +sequence_lens', 'rnn_relu_bare.pt', ['--set', 'nonlinearity=relu']],
];
for (const [name, file, sets] of lensCases)
  await attempt(name, () => exportCase({ name, src: pt(file), sets: sets || [], T: 9, B: 6, lens: true }));
if (haveH5py) {
  await attempt('h5/LSTM peepholes bi clip acts H=32 B=11 +sequence_lens', async () => {
    init(h5('lens_base.h5'), ['--cell', 'lstm', '--input-size', '10', '--hidden-size', '32', '--bidirectional', '--num-layers', '2']);
    variant(h5('lens_base.h5'), h5('lens.h5'), ['--peepholes', '3', 'clip=3', 'activations=HardSigmoid,Tanh,Softsign,Sigmoid,Tanh,Tanh',
                                                'activation_alpha=0.2,0,0,0,0,0', 'activation_beta=0.5,0,0,0,0,0']);
    await exportCase({ name: 'h5/LSTM peepholes bi clip acts H=32 B=11 +sequence_lens', src: h5('lens.h5'), T: 10, B: 11, lens: true });
  });
  const wide = [
    ['h5/GRU lbr=0 bi clip=2 H=32 B=20', ['--cell', 'gru', '--input-size', '12', '--hidden-size', '32', '--bidirectional'],
      ['linear_before_reset=0', 'clip=2'], 20],
    ['h5/GRU lbr=0 HardSigmoid/LeakyRelu H=40 B=16 f64', ['--cell', 'gru', '--input-size', '8', '--hidden-size', '40', '--dtype', 'float64'],
      ['linear_before_reset=0', 'activations=HardSigmoid,LeakyRelu', 'activation_alpha=0.2,0.1', 'activation_beta=0.5,0'], 16],
    ['h5/LSTM peepholes bi clip=3 acts H=32 B=17', ['--cell', 'lstm', '--input-size', '10', '--hidden-size', '32', '--bidirectional'],
      ['--peepholes', '9', 'clip=3', 'activations=HardSigmoid,Tanh,Softsign,Sigmoid,ScaledTanh,Elu',
       'activation_alpha=0.2,0,0,0,1.5,1.1', 'activation_beta=0.5,0,0,0,0.7,0'], 17],
    ['h5/LSTM peepholes input_forget 2L H=24 B=5', ['--cell', 'lstm', '--input-size', '6', '--hidden-size', '24', '--num-layers', '2'],
      ['--peepholes', '4', 'input_forget=1'], 5],
    ['h5/RNN Softsign/Affine bi clip=1.5 H=32 B=18', ['--cell', 'rnn_tanh', '--input-size', '9', '--hidden-size', '32', '--bidirectional'],
      ['clip=1.5', 'activations=Softsign,Affine', 'activation_alpha=0,0.6', 'activation_beta=0,-0.1'], 18],
  ];
  for (const [name, initArgs, edits, B] of wide)
    await attempt(name, async () => {
      const base = h5(`${safe(name)}_base.h5`), out = h5(`${safe(name)}.h5`);
      init(base, initArgs);
      variant(base, out, edits);
      await exportCase({ name, src: out, T: 9, B });
    });
  // two modules in one file (init --name, joined with h5py): exported as one
  // graph with "enc.rnn:X", "dec:X", ... inputs
  await attempt('h5/two modules (LSTM enc.rnn + GRU lbr=0 dec)', async () => {
    init(h5('enc.h5'), ['--cell', 'lstm', '--input-size', '6', '--hidden-size', '8', '--bidirectional', '--name', 'enc.rnn']);
    init(h5('dec0.h5'), ['--cell', 'gru', '--input-size', '16', '--hidden-size', '7', '--num-layers', '2', '--name', 'dec']);
    variant(h5('dec0.h5'), h5('dec.h5'), ['linear_before_reset=0']);
    sh(PY, ['-c', 'import h5py, sys\nwith h5py.File(sys.argv[1], "w") as o:\n'
               + '    for src, grp in ((sys.argv[2], "enc"), (sys.argv[3], "dec")):\n'
               + '        with h5py.File(src, "r") as i:\n'
               + '            for k, v in i.attrs.items(): o.attrs[k] = v\n'
               + '            i.copy(i[grp], o, grp)\n', h5('two.h5'), h5('enc.h5'), h5('dec.h5')], 'join');
    await exportCase({ name: 'h5/two modules (LSTM enc.rnn + GRU lbr=0 dec)', src: h5('two.h5'), B: 5 });
    await exportCase({ name: 'h5/two modules +sequence_lens', src: h5('two.h5'), B: 5, lens: true });
  });
} else {
  rows.push({ name: 'h5/(wide ONNX-semantics files)', dir: 'export', ort: null, note: 'skipped: python3-h5py absent' });
}

await runPendingF32();
checkExports();

// Import: real torch.onnx.export models and single-node models (the float64
// ones run in ORT as float32 copies, made in one batch)
if (haveOnnx) {
  const f32dir = path.join(work, 'f32');
  fs.mkdirSync(f32dir);
  const src = [...nodeCases.map((c) => path.join(FX, 'onnx', 'nodes', `${c}.onnx`)),
               ...['external', 'if_subgraph'].map((n) => path.join(FX, 'onnx', 'misc', `${n}.onnx`))];
  f32Batch(src.map((m) => [m, path.join(f32dir, `${safe(path.relative(FX, m))}`)]));
}
for (const c of lines(path.join(FX, 'onnx', 'torch', 'cases.txt')))
  await attempt(`onnx/torch/${c}`, () => importTorchCase(c));
for (const c of nodeCases)
  await attempt(`onnx/nodes/${c}`, () => importNodeCase({ name: `onnx/nodes/${c}`, model: path.join(FX, 'onnx', 'nodes', `${c}.onnx`), golden: c }));
const misc = path.join(FX, 'onnx', 'misc');
await attempt('onnx/misc/layout1', () => importNodeCase({ name: 'onnx/misc/layout1 (layout=1)', model: path.join(misc, 'layout1.onnx'), golden: 'lstm_peepholes', layout: 1 }));
await attempt('onnx/misc/external', () => importNodeCase({ name: 'onnx/misc/external (external data)', model: path.join(misc, 'external.onnx'), golden: 'lstm_peepholes' }));
{ // ONNX Runtime refuses this fixture: its X is float64, its weights float16
  const model = path.join(misc, 'float16.onnx');
  try {
    await ort.InferenceSession.create(model);
    failures.push('onnx/misc/float16: ONNX Runtime now loads it; add it to the compared models');
  } catch (e) {
    rows.push({ name: 'onnx/misc/float16 (float16 weights)', dir: 'import', ort: null,
                note: 'ORT refuses the model: LSTM type T bound to both float64 (X) and float16 (W)' });
  }
}
await attempt('onnx/misc/if_subgraph', () => importNodeCase({
  name: 'onnx/misc/if_subgraph (If, then)', model: path.join(misc, 'if_subgraph.onnx'), golden: 'lstm_peepholes',
  module: 'choose.then_branch.cell_lstm_peepholes', feeds: { cond: new ort.Tensor('bool', [true], []) } }));
for (const c of lines(path.join(FX, 'onnx', 'ort', 'cases.txt')))
  await attempt(`onnx/ort/${c}`, () => importOrtCase(c));
if (haveTorch) runTorch();

// ---------------------------------------------------------------- report
const fmt = (v) => (v === undefined ? '-' : Number.isFinite(v) ? v.toExponential(1) : String(v));
const w = Math.max(...rows.map((r) => r.name.length), 10);
console.log(`ONNX Runtime ${ort.env?.versions?.common ?? ''} cross-check: pass when |a-b| <= ${ATOL} + ${RTOL}|ref| (ref: rnnck, or the golden)`);
console.log(`${'model'.padEnd(w)}  dir     ORT vs rnnck: max_abs max_rel  tol%   golden vs rnnck: max_abs max_rel  tol%`);
const bad = [];
for (const r of rows) {
  const o = r.ort, g = r.gold;
  let line = `${r.name.padEnd(w)}  ${r.dir.padEnd(6)}  `;
  line += o ? `${fmt(o.abs).padStart(21)} ${fmt(o.rel).padStart(7)} ${(o.worst * 100).toFixed(1).padStart(5)}` : `${'not run'.padStart(21)} ${''.padStart(7)} ${''.padStart(5)}`;
  line += g ? `   ${(r.goldName || '').padStart(8)}: ${fmt(g.abs).padStart(7)} ${fmt(g.rel).padStart(7)} ${(g.worst * 100).toFixed(1).padStart(5)}`
            : r.goldName ? `   ${r.goldName}` : '';
  if (r.note) line += `   (${r.note})`;
  console.log(line);
  for (const n of [...(o?.notes || []), ...(g?.notes || [])]) console.log(`    ${n}`);
  if ((o && !(o.worst <= 1)) || (g && !(g.worst <= 1))) bad.push(r.name);
}
const notRun = rows.filter((r) => !r.ort).length;
console.log(`${rows.length} models (${notRun} not run in ORT), torch ${haveTorch ? 'present' : 'absent'}, ${((Date.now() - t0) / 1000).toFixed(1)} s`);
for (const f of failures) console.log(`FAILED: ${f}`);
if (bad.length || failures.length) {
  console.log(`outside tolerance or failed: ${[...new Set([...bad, ...failures.map((f) => f.split(':')[0])])].join(', ')}`);
  process.exit(1);
}
console.log('all within tolerance');
