/**
 * A base for the scripted shells of unit tests whose code under test only runs commands:
 * every file call fails loudly, so a test notices code that starts to use one.
 */
import type { CommandResult, RunOptions, Shell } from '../src/shell/port.ts';

/** A `Shell` whose subclass answers `run`; the file calls throw `not used`. */
export abstract class CommandOnlyShell implements Shell {
  abstract run(argv: string[], options?: RunOptions): Promise<CommandResult>;
  makeDirectory(): Promise<void> {
    throw new Error('not used');
  }
  writeFile(): Promise<void> {
    throw new Error('not used');
  }
  readFile(): Promise<Buffer | null> {
    throw new Error('not used');
  }
  upload(): Promise<void> {
    throw new Error('not used');
  }
  download(): Promise<void> {
    throw new Error('not used');
  }
  glob(): Promise<string[]> {
    throw new Error('not used');
  }
  async close(): Promise<void> {}
}
