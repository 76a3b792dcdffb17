/**
 * Shell quoting for values that must reach a program as exactly one word.
 *
 * Two audiences, two functions:
 *
 * - `scriptWord` for the job scripts Drover writes (`#!/bin/bash`, read line by line by
 *   sbatch, qsub and bash). There a value must not only stay one word for bash: none of its
 *   characters may ever begin a line, because schedulers read directives (`#SBATCH`,
 *   `#PBS`, `#BSUB`, `#DW`...) from any line that starts with one, quoted or not.
 * - `shellQuote` for one command line handed to a POSIX `sh -c` (the SSH exec request),
 *   which no scheduler reads and where bash's `$'...'` may not exist.
 */
import { controlCharacterPattern, loneSurrogatePattern } from '../domain/application.ts';

/**
 * Characters that must never appear raw in a job script: every C0 control (line feed and
 * carriage return among them), DEL, the C1 controls (U+0085 NEL among them) and the
 * Unicode line and paragraph separators. Line-oriented readers disagree on what ends a
 * line (sbatch refuses `\r\n`, Perl and Python readers split on more than `\n`), so none
 * of them may reach a script unescaped.
 */
const unsafeInScriptPattern = controlCharacterPattern;

/**
 * Quotes `value` as one bash word for a job script, such that the script's text holds no
 * line break or other control character from `value`:
 *
 * - printable text (the usual case) becomes a POSIX single-quoted word, `'...'`, each `'`
 *   written as `'\''`: inside single quotes no character is special to bash;
 * - text with a control character (or a Unicode line separator) becomes one ANSI-C quoted
 *   word, `$'...'`, in which every such character is written as the `\xHH` escapes of its
 *   UTF-8 bytes, and `\` and `'` as `\\` and `\'`. Bash turns the escapes back into the
 *   exact bytes, whatever the locale, so the program receives `value` unchanged, while the
 *   script itself carries only printable characters: a value can never start a line,
 *   hence never add a directive or a command.
 *
 * The empty string becomes `''`.
 *
 * @throws {RangeError} when `value` holds a NUL byte (no argv element or environment value
 *   can carry one) or a lone UTF-16 surrogate (it has no bytes to pass on).
 */
export function scriptWord(value: string): string {
  checkWord(value);
  if (!unsafeInScriptPattern.test(value)) return shellQuote(value);
  let quoted = "$'";
  for (const character of value) {
    if (character === '\\' || character === "'") quoted += `\\${character}`;
    else if (unsafeInScriptPattern.test(character)) {
      for (const byte of Buffer.from(character, 'utf8')) quoted += `\\x${byte.toString(16).padStart(2, '0')}`;
    } else quoted += character;
  }
  return `${quoted}'`;
}

/**
 * True when `line` may appear in a job script as it is: it holds no control character or
 * Unicode line separator (see `scriptWord`), so it is exactly one line of the script.
 */
export function isOneScriptLine(line: string): boolean {
  return !unsafeInScriptPattern.test(line);
}

/**
 * Quotes `value` as one POSIX shell word: the whole value inside single quotes, each `'`
 * written as `'\''`. Inside single quotes no character is special (not `$`, backquote,
 * `\`, `*`, newline), so user input can never become shell syntax. The empty string
 * becomes `''`. For a job script use `scriptWord`, which also keeps line breaks out.
 *
 * @throws {RangeError} when `value` holds a NUL byte, which no argv element or
 *   environment value can carry, or a lone UTF-16 surrogate.
 */
export function shellQuote(value: string): string {
  checkWord(value);
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

function checkWord(value: string): void {
  if (value.includes('\0')) {
    throw new RangeError('a shell word cannot contain a NUL byte');
  }
  if (loneSurrogatePattern.test(value)) {
    throw new RangeError('a shell word cannot contain a lone UTF-16 surrogate');
  }
}
