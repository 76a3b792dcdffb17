/**
 * The one rule on the glob patterns `Shell.glob` takes, shared by every adapter: a pattern
 * names files inside its directory, never outside it.
 */

/**
 * Checks that every pattern stays inside the directory it is matched in.
 *
 * @throws {RangeError} when a pattern is absolute, starts with `~`, or has a `..` segment.
 */
export function checkGlobPatterns(patterns: readonly string[]): void {
  for (const pattern of patterns) {
    if (pattern.startsWith('/') || pattern.startsWith('~') || pattern.split('/').includes('..')) {
      throw new RangeError(`glob pattern must stay inside its directory, got ${JSON.stringify(pattern)}`);
    }
  }
}
