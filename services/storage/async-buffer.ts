import type { AsyncBuffer, CallOptions, Storage } from '../../jobs/ports/storage.js';

/** The bytes of a view as an ArrayBuffer holding exactly them (a Node Buffer may share a larger pool). */
export function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.byteOffset === 0 &&
    bytes.byteLength === bytes.buffer.byteLength &&
    bytes.buffer instanceof ArrayBuffer
    ? bytes.buffer
    : bytes.slice().buffer;
}

/**
 * A random-access view (hyparquet's `AsyncBuffer`) of one object of known size: each `slice` is one
 * ranged read, so footer parsing fetches only the tail of the object.
 */
export function asyncBuffer(
  storage: Storage,
  object: { uri: string; size: number },
  options: CallOptions = {},
): AsyncBuffer {
  return {
    byteLength: object.size,
    async slice(start: number, end: number = object.size): Promise<ArrayBuffer> {
      return toArrayBuffer(await storage.read(object.uri, { start, end }, options));
    },
  };
}
