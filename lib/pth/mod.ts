/**
 * PyTorch checkpoints (`.pth` / `.pt`) without Python: a restricted unpickler (`pickle.ts`), a
 * zip reader and writer (`zip.ts`), the reader of both checkpoint formats (`read.ts`) and the
 * state_dict writer (`write.ts`).
 *
 * @module
 */
export {
  decodePth,
  materialise,
  parsePth,
  type PthArchive,
  type PthFile,
  readPth,
  sniffPth,
} from "./read.ts";
export { encodePth, writePth } from "./write.ts";
export { type PthDtype, type PyValue, TensorRef, unpickle } from "./pickle.ts";
export { crc32, readZip, writeZip, type ZipEntry } from "./zip.ts";
