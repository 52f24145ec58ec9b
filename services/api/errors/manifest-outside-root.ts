import { QuiverError } from '../../../schemas/errors/quiver-error.js';

/**
 * A succeeded job's manifest lists a file outside the job's own output root (`<output.uri>/<id>/`): another
 * bucket, another prefix, or a path that climbs out with `..`. Results would hand out a presigned URL for
 * it with the API's credentials, so nothing is signed and the request is refused (409): the manifest is
 * forged or corrupt, and no retry makes it right.
 */
export class ManifestOutsideRoot extends QuiverError {
  static readonly code = 'MANIFEST_OUTSIDE_ROOT';

  constructor(
    readonly jobId: string,
    /** Where in the manifest: `parts[2].uri`, `rejected[0].uri`. */
    readonly path: string,
    readonly uri: string,
    /** The job's output root the entry should lie under. */
    readonly root: string,
  ) {
    super(
      ManifestOutsideRoot.code,
      `${ManifestOutsideRoot.code}: the manifest of job ${jobId} lists ${path} = ${JSON.stringify(uri)}, ` +
        `outside the job's output ${root}; no URL is signed`,
      { location: { uri } },
    );
  }
}
