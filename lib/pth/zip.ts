/**
 * A minimal zip reader and writer for PyTorch's checkpoint archives (`torch.save` since torch 1.6):
 * the central directory is read (ZIP64 included), entries must be stored (method 0, as torch
 * writes them) and their CRC-32 is checked. The writer stores entries uncompressed with their data
 * aligned to 64 bytes, the way torch's `PyTorchStreamWriter` does.
 *
 * @module
 */

/** One entry of an archive. */
export interface ZipEntry {
  /** Name in the archive (`archive/data.pkl`). */
  name: string;
  /** Entry bytes (a view into the archive). */
  data: Uint8Array;
}

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const U32_MAX = 0xffffffff;

let crcTable: Uint32Array | undefined;

/** CRC-32 (IEEE, as zip uses) of bytes. */
export function crc32(bytes: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  const t = crcTable;
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = t[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Whether bytes start like a zip archive (a local header or an empty archive's directory end). */
export function isZip(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b &&
    ((bytes[2] === 3 && bytes[3] === 4) || (bytes[2] === 5 && bytes[3] === 6));
}

function u64(view: DataView, at: number, source: string, what: string): number {
  const v = view.getBigUint64(at, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`${source}: zip ${what} ${v} too large`);
  return Number(v);
}

/**
 * Reads every entry of a zip archive from its central directory. Errors name `source` and say
 * what is wrong (truncated archive, compressed entry, CRC mismatch, damaged directory).
 */
export function readZip(bytes: Uint8Array, source: string): ZipEntry[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const truncated = `${source}: zip archive is truncated or damaged`;
  // End of central directory: 22 bytes plus a comment of at most 65535 bytes, at the end.
  let eocd = -1;
  for (let p = bytes.length - 22; p >= 0 && p >= bytes.length - 22 - 65535; p--) {
    if (
      view.getUint32(p, true) === SIG_EOCD && p + 22 + view.getUint16(p + 20, true) <= bytes.length
    ) {
      eocd = p;
      break;
    }
  }
  if (eocd < 0) throw new Error(`${truncated} (no end-of-central-directory record)`);
  let count = view.getUint16(eocd + 10, true);
  let cdSize = view.getUint32(eocd + 12, true);
  let cdOffset = view.getUint32(eocd + 16, true);
  if (count === 0xffff || cdSize === U32_MAX || cdOffset === U32_MAX) {
    const loc = eocd - 20;
    if (loc < 0 || view.getUint32(loc, true) !== SIG_ZIP64_LOCATOR) {
      throw new Error(`${truncated} (ZIP64 locator missing)`);
    }
    const z = u64(view, loc + 8, source, "ZIP64 record offset");
    if (z + 56 > bytes.length || view.getUint32(z, true) !== SIG_ZIP64_EOCD) {
      throw new Error(`${truncated} (ZIP64 end record missing)`);
    }
    count = u64(view, z + 32, source, "entry count");
    cdSize = u64(view, z + 40, source, "directory size");
    cdOffset = u64(view, z + 48, source, "directory offset");
  }
  if (cdOffset + cdSize > bytes.length) throw new Error(`${truncated} (central directory cut off)`);
  const entries: ZipEntry[] = [];
  const decoder = new TextDecoder();
  let p = cdOffset;
  for (let i = 0; i < count; i++) {
    if (p + 46 > bytes.length || view.getUint32(p, true) !== SIG_CENTRAL) {
      throw new Error(`${truncated} (central directory entry ${i} unreadable)`);
    }
    const flags = view.getUint16(p + 8, true);
    const method = view.getUint16(p + 10, true);
    const crc = view.getUint32(p + 16, true);
    let csize = view.getUint32(p + 20, true);
    let usize = view.getUint32(p + 24, true);
    const nameLen = view.getUint16(p + 28, true);
    const extraLen = view.getUint16(p + 30, true);
    const commentLen = view.getUint16(p + 32, true);
    let local = view.getUint32(p + 42, true);
    const name = decoder.decode(bytes.subarray(p + 46, p + 46 + nameLen));
    // ZIP64 extended information: the 0xffffffff fields, in this order.
    let e = p + 46 + nameLen;
    const extraEnd = e + extraLen;
    while (e + 4 <= extraEnd) {
      const id = view.getUint16(e, true);
      const size = view.getUint16(e + 2, true);
      if (id === 0x0001) {
        let q = e + 4;
        if (usize === U32_MAX) (usize = u64(view, q, source, "entry size")), (q += 8);
        if (csize === U32_MAX) (csize = u64(view, q, source, "entry size")), (q += 8);
        if (local === U32_MAX) local = u64(view, q, source, "entry offset");
      }
      e += 4 + size;
    }
    p = extraEnd + commentLen;
    if (method !== 0) {
      throw new Error(
        `${source}: zip entry "${name}" is compressed (method ${method}); PyTorch writes ` +
          "checkpoints uncompressed: save it again with torch.save, or unzip and re-zip it with -0",
      );
    }
    if (flags & 1) throw new Error(`${source}: zip entry "${name}" is encrypted`);
    if (local + 30 > bytes.length || view.getUint32(local, true) !== SIG_LOCAL) {
      throw new Error(`${truncated} (local header of "${name}" missing)`);
    }
    const start = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
    if (csize !== usize || start + usize > bytes.length) {
      throw new Error(`${truncated} (entry "${name}" cut off)`);
    }
    const data = bytes.subarray(start, start + usize);
    if (crc32(data) !== crc) {
      throw new Error(`${source}: zip entry "${name}" is corrupt (CRC-32 mismatch)`);
    }
    entries.push({ name, data });
  }
  return entries;
}

/**
 * Builds a zip archive of stored (uncompressed) entries whose data start at multiples of
 * `align` bytes (padding in an extra field, as torch's writer does). Archives over 4 GiB or with
 * more than 65535 entries are refused.
 */
export function writeZip(entries: ZipEntry[], align = 64): Uint8Array {
  const enc = new TextEncoder();
  const names = entries.map((e) => enc.encode(e.name));
  // Layout pass.
  const locals: number[] = [];
  const pads: number[] = [];
  let size = 0;
  entries.forEach((e, i) => {
    locals.push(size);
    const headerEnd = size + 30 + names[i].length + 4; // 4: the padding field's own header
    const pad = (align - (headerEnd % align)) % align;
    pads.push(pad);
    size = headerEnd + pad + e.data.length;
  });
  const cdOffset = size;
  for (const n of names) size += 46 + n.length;
  const cdSize = size - cdOffset;
  size += 22;
  if (size > U32_MAX || entries.length > 0xffff) {
    throw new Error(`writeZip: archive of ${size} bytes / ${entries.length} entries is too large`);
  }
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  const crcs = entries.map((e) => crc32(e.data));
  entries.forEach((e, i) => {
    let p = locals[i];
    view.setUint32(p, SIG_LOCAL, true);
    view.setUint16(p + 4, 20, true); // version needed
    view.setUint16(p + 6, 0, true); // flags
    view.setUint16(p + 8, 0, true); // stored
    view.setUint16(p + 10, 0, true); // time
    view.setUint16(p + 12, 0x21, true); // date 1980-01-01
    view.setUint32(p + 14, crcs[i], true);
    view.setUint32(p + 18, e.data.length, true);
    view.setUint32(p + 22, e.data.length, true);
    view.setUint16(p + 26, names[i].length, true);
    view.setUint16(p + 28, 4 + pads[i], true);
    out.set(names[i], p + 30);
    p += 30 + names[i].length;
    view.setUint16(p, 0x4246, true); // "FB": padding, as torch writes it
    view.setUint16(p + 2, pads[i], true);
    out.fill(0x5a, p + 4, p + 4 + pads[i]);
    out.set(e.data, p + 4 + pads[i]);
  });
  let p = cdOffset;
  entries.forEach((e, i) => {
    view.setUint32(p, SIG_CENTRAL, true);
    view.setUint16(p + 4, 20, true); // version made by
    view.setUint16(p + 6, 20, true); // version needed
    view.setUint16(p + 12, 0, true);
    view.setUint16(p + 14, 0x21, true);
    view.setUint32(p + 16, crcs[i], true);
    view.setUint32(p + 20, e.data.length, true);
    view.setUint32(p + 24, e.data.length, true);
    view.setUint16(p + 28, names[i].length, true);
    view.setUint32(p + 42, locals[i], true);
    out.set(names[i], p + 46);
    p += 46 + names[i].length;
  });
  view.setUint32(p, SIG_EOCD, true);
  view.setUint16(p + 8, entries.length, true);
  view.setUint16(p + 10, entries.length, true);
  view.setUint32(p + 12, cdSize, true);
  view.setUint32(p + 16, cdOffset, true);
  return out;
}
