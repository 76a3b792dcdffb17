/**
 * The quick tier's run of the BatchScheduler conformance suite: LocalScheduler with a
 * LocalShell, in a temporary directory.
 */
import { after } from 'node:test';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { LocalShell } from '../../shell/local-shell.ts';
import { schedulerConformance } from '../../../test/conformance/scheduler-suite.ts';
import { LocalScheduler } from './local-scheduler.ts';

const scratchDirectory = await fs.mkdtemp(path.join(os.tmpdir(), 'drover-local-conformance-'));
const shell = new LocalShell();
after(() => fs.rm(scratchDirectory, { recursive: true, force: true }));

schedulerConformance('LocalScheduler conformance', {
  shell,
  createScheduler: (runner) => new LocalScheduler({ shell: runner }),
  scratchDirectory,
  // 0.05 minutes = 3 s.
  overrunWalltimeMinutes: 0.05,
  overrunLimitMs: 20_000,
  settleMs: 15_000,
  pollIntervalMs: 50,
  // poll reads /proc and the job files itself, without running a command.
  commandsPerPoll: 0,
});
