/**
 * An execution provider named explicitly (`cuda:1`, `webgpu:0`) cannot run here, or a GPU index is out of
 * range. Explicit requests never fall back silently; only `gpu`/`all` fall back (with a warning).
 */
export class DeviceUnavailableError extends Error {
  static readonly code = 'DEVICE_UNAVAILABLE';
  override readonly name = 'DeviceUnavailableError';
  readonly code = DeviceUnavailableError.code;

  constructor(
    /** The device as requested, e.g. `cuda:1`. */
    readonly device: string,
    readonly reason: string,
  ) {
    super(`DEVICE_UNAVAILABLE: ${device}: ${reason}`);
  }
}
