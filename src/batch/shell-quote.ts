/**
 * POSIX shell quoting for values that must reach a program as exactly one word.
 */

/**
 * Quotes `value` as one POSIX shell word: the whole value inside single quotes, each `'`
 * written as `'\''`. Inside single quotes no character is special (not `$`, backquote,
 * `\`, `*`, newline), so user input can never become shell syntax. The empty string
 * becomes `''`.
 *
 * @throws {RangeError} when `value` holds a NUL byte, which no argv element or
 *   environment value can carry.
 */
export function shellQuote(value: string): string {
  if (value.includes('\0')) {
    throw new RangeError('a shell word cannot contain a NUL byte');
  }
  return `'${value.replaceAll("'", `'\\''`)}'`;
}
