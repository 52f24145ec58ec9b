import { QuiverError } from '../../../schemas/errors/quiver-error.js';

/**
 * An execution provider named explicitly (`cuda:1`, `webgpu:0`) cannot run here, or a GPU index is out of
 * range. Explicit requests never fall back silently; only `gpu`/`all` fall back (with a warning).
 */
export class DeviceUnavailableError extends QuiverError {
  static readonly code = 'DEVICE_UNAVAILABLE';

  constructor(
    /** The device as requested, e.g. `cuda:1`. */
    readonly device: string,
    readonly reason: string,
  ) {
    super(DeviceUnavailableError.code, `DEVICE_UNAVAILABLE: ${device}: ${reason}`, { permanent: true });
  }
}
