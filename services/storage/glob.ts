import picomatch from 'picomatch';

/** Tests a path relative to a listed prefix (always `/`-separated, no leading `/`). */
export type GlobMatcher = (relativePath: string) => boolean;

/**
 * Compiles a glob (`*` within a segment, `**` across segments, `?`, `{a,b}`, `[abc]`) once per listing.
 * Dotfiles match only when the glob names them, as in a shell: `*.parquet` skips `.hidden.parquet`.
 */
export function makeGlobMatcher(glob: string): GlobMatcher {
  const isMatch = picomatch(glob, { dot: false });
  return (relativePath) => isMatch(relativePath);
}
