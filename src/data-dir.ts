/**
 * The default data folder, apart from config.ts so that the CLI finds what `drover up` saved
 * there without loading the configuration schema (zod, yaml) at every start.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';

/** The default data folder: $XDG_DATA_HOME/drover or ~/.local/share/drover. */
export function defaultDataDir(): string {
  return join(process.env.XDG_DATA_HOME || join(homedir(), '.local', 'share'), 'drover');
}
