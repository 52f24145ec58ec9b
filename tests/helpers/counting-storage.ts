import type { ByteRange, Storage } from '../../jobs/ports/storage.js';

/** What went through a counting wrapper, for tests that assert how much I/O a plan really costs. */
export interface StorageCallCounts {
  list: number;
  stat: number;
  read: number;
  write: number;
  delete: number;
  /** Bytes returned by `read`. */
  bytesRead: number;
  /** Every read in order: the URI and the range asked for (undefined = whole object) and bytes returned. */
  reads: { uri: string; range: ByteRange | undefined; bytes: number }[];
}

export interface CountingStorage extends Storage {
  readonly counts: StorageCallCounts;
  resetCounts(): void;
}

function emptyCounts(): StorageCallCounts {
  return { list: 0, stat: 0, read: 0, write: 0, delete: 0, bytesRead: 0, reads: [] };
}

/** Wraps a storage and records every call and every byte read; behaviour is otherwise unchanged. */
export function countingStorage(inner: Storage): CountingStorage {
  let counts = emptyCounts();
  return {
    get counts() {
      return counts;
    },
    resetCounts() {
      counts = emptyCounts();
    },
    list(prefixUri, options) {
      counts.list += 1;
      return inner.list(prefixUri, options);
    },
    stat(uri, options) {
      counts.stat += 1;
      return inner.stat(uri, options);
    },
    async read(uri, range, options) {
      counts.read += 1;
      const bytes = await inner.read(uri, range, options);
      counts.bytesRead += bytes.length;
      counts.reads.push({ uri, range: range === undefined ? undefined : { ...range }, bytes: bytes.length });
      return bytes;
    },
    write(uri, body, options) {
      counts.write += 1;
      return inner.write(uri, body, options);
    },
    delete(uri, options) {
      counts.delete += 1;
      return inner.delete(uri, options);
    },
  };
}
