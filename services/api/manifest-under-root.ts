import { pathSegmentsProblem } from '../../jobs/ports/storage-uri.js';
import type { Manifest } from '../../schemas/manifest.js';
import { ManifestOutsideRoot } from './errors/manifest-outside-root.js';

/**
 * Whether `uri` names a file under `root` (a job's `<output.uri>/<id>/`): it starts with the root, and what
 * follows is one or more non-empty segments none of which is `.` or `..`, percent-encoded or not, or holds
 * an encoded separator. Finalize writes every entry as the root plus plain names, so a legitimate manifest
 * always passes; a prefix match alone would let `<root>../other-job/` through.
 */
export function isUnderRoot(uri: string, root: string): boolean {
  const base = root.endsWith('/') ? root : `${root}/`;
  if (!uri.startsWith(base) || uri.length === base.length || uri.endsWith('/')) return false;
  return pathSegmentsProblem(uri.slice(base.length).split('/')) === undefined;
}

/**
 * Checks that every part and rejected-rows file a manifest lists lies under the job's output root, before
 * results sign any of them: a forged manifest naming `s3://other-bucket/…` must not become a download link
 * made with the API's credentials.
 *
 * @throws ManifestOutsideRoot naming the first entry that does not.
 */
export function checkManifestUnderRoot(jobId: string, manifest: Manifest, root: string): void {
  const entries: Array<[string, string]> = [
    ...manifest.parts.map((part, i): [string, string] => [`parts[${i}].uri`, part.uri]),
    ...manifest.rejected.map((file, i): [string, string] => [`rejected[${i}].uri`, file.uri]),
  ];
  for (const [path, uri] of entries) {
    if (!isUnderRoot(uri, root)) throw new ManifestOutsideRoot(jobId, path, uri, root);
  }
}
