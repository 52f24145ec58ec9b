import { QuiverError } from '../../../schemas/errors/quiver-error.js';

/**
 * A `--devices` value that cannot be parsed or does not fit this host (unknown word, bad or duplicate
 * index, a GPU asked for where none is). Permanent: the worker refuses to start. `token` is the offending
 * piece of the list as the user wrote it.
 */
export class DeviceListError extends QuiverError {
  static readonly code = 'DEVICE_LIST_INVALID';

  constructor(
    readonly token: string,
    readonly detail: string,
  ) {
    super(DeviceListError.code, `DEVICE_LIST_INVALID: ${JSON.stringify(token)}: ${detail}`);
  }
}
