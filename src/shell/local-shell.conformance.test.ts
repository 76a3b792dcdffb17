/**
 * LocalShell runs the Shell conformance suite (test/conformance/shell-suite.ts) on this
 * machine, in a scratch folder of its own.
 */
import { after } from 'node:test';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { shellConformance } from '../../test/conformance/shell-suite.ts';
import { LocalShell } from './local-shell.ts';

const scratchDirectory = await fs.mkdtemp(path.join(os.tmpdir(), 'drover-local-shell-'));
after(() => fs.rm(scratchDirectory, { recursive: true, force: true }));

shellConformance('LocalShell', { createShell: () => new LocalShell(), scratchDirectory });
