// Minimal .npy reading and writing for the cross-check: little-endian float32,
// float64, int32 and int64 arrays in C order (what rnnck and numpy write here).
import fs from 'node:fs';

const KINDS = {
  '<f4': ['float32', Float32Array], '<f8': ['float64', Float64Array],
  '<i4': ['int32', Int32Array], '<i8': ['int64', BigInt64Array],
};

export function readNpy(file) {
  const buf = fs.readFileSync(file);
  if (buf.readUInt32BE(0) !== 0x934e554d || buf.toString('latin1', 4, 6) !== 'PY')
    throw new Error(`${file}: not a .npy file`);
  const major = buf[6];
  const hlen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', start, start + hlen);
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*True/.test(header);
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !(descr in KINDS) || fortran || shapeText === undefined)
    throw new Error(`${file}: unsupported .npy header ${header.trim()}`);
  const shape = shapeText.split(',').map((s) => s.trim()).filter((s) => s).map(Number);
  const [dtype, Ctor] = KINDS[descr];
  const n = shape.reduce((a, b) => a * b, 1);
  const off = start + hlen;
  const bytes = buf.subarray(off, off + n * Ctor.BYTES_PER_ELEMENT);
  if (bytes.length !== n * Ctor.BYTES_PER_ELEMENT) throw new Error(`${file}: data shorter than its shape`);
  const data = new Ctor(n);
  new Uint8Array(data.buffer).set(bytes);
  return { dtype, shape, data };
}

export function writeNpy(file, arr) {
  const descr = Object.entries(KINDS).find(([, [d]]) => d === arr.dtype)?.[0];
  if (!descr) throw new Error(`writeNpy: dtype ${arr.dtype}`);
  const shape = arr.shape.length === 1 ? `(${arr.shape[0]},)` : `(${arr.shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const head = Buffer.alloc(10);
  head.writeUInt32BE(0x934e554d, 0);
  head.write('PY', 4, 'latin1');
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(header.length, 8);
  const body = Buffer.from(arr.data.buffer, arr.data.byteOffset, arr.data.byteLength);
  fs.writeFileSync(file, Buffer.concat([head, Buffer.from(header, 'latin1'), body]));
}
