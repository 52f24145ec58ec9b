/** The part of the WebAssembly JS API used here (the ES2023 lib declares none of it). */
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: unknown };
};

/** A kernel's linear memory, as its exports hold it. */
export interface KernelMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}

/**
 * Instantiates a WebAssembly kernel from its compiled bytes (base64, as `npm run build:kernels` writes
 * them); null on a runtime that cannot (no WebAssembly SIMD), where the caller's scalar loop does it all.
 * Each call makes a new instance, with its own memory.
 */
export function instantiateKernel<Exports>(wasmBase64: string): Exports | null {
  try {
    const bytes = Uint8Array.from(atob(wasmBase64), (c) => c.charCodeAt(0));
    return new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports as Exports;
  } catch {
    return null;
  }
}
