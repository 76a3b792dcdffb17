/**
 * The PBS parsers on output captured from Slurm's Torque-style wrappers (slurm-wlm-torque,
 * Slurm 22.05.8) on the test cluster.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  isPbsUnreachableMessage,
  parseQstat,
  parseQstatFullNames,
  parsePbsArrayElementId,
  parseQsubOutput,
  pbsArrayElementId,
  qsubErrorMessage,
} from './pbs-output.ts';

const qstatOutput = `Job id              Name             Username        Time Use S Queue          
------------------- ---------------- --------------- -------- - ---------------
69                  specific-2b373b2 hpcuser         00:00:00 C long           
82                  cap-cancel-runni hpcuser         00:00:00 C debug          
83                  cap-timeout      hpcuser         00:00:00 R debug          
84                  cap-whole-node   hpcuser         00:00:00 Q debug          
85                  a name with spac hpcuser         00:00:00 R debug          
`;

const qstatFullOutput = `Job Id:\t12
\tJob_Name = some-very-long-job-name-here.attempt-1
\tJob_Owner = hpcuser@localhost
\tjob_state = R
\tqueue = debug
\tAccount_Name = foo
\texec_host = vm/1
\tResource_List.walltime = 00:01:00

Job Id:\t13
\tJob_Name = other.attempt-1
\tjob_state = C
`;

/** qsub -q nope: the wrapper prints sbatch's error lines joined with spaces, on stdout, and exits 1. */
const qsubRefusal = `There was an error running the Slurm sbatch command.
The command was:
'/usr/bin/sbatch -e /tmp/y -o /tmp/x -p nope /tmp/probe/t.sh 2>&1'
and the output was:
'sbatch: error: invalid partition specified: nope
 sbatch: error: Batch job submission failed: Invalid partition name specified
'
`;

describe('parsers', () => {
  test('parseQstat skips the header and keeps names with spaces whole', () => {
    assert.deepEqual(parseQstat(qstatOutput), [
      { jobId: '69', name: 'specific-2b373b2', state: 'C', queue: 'long' },
      { jobId: '82', name: 'cap-cancel-runni', state: 'C', queue: 'debug' },
      { jobId: '83', name: 'cap-timeout', state: 'R', queue: 'debug' },
      { jobId: '84', name: 'cap-whole-node', state: 'Q', queue: 'debug' },
      { jobId: '85', name: 'a name with spac', state: 'R', queue: 'debug' },
    ]);
    assert.deepEqual(parseQstat(''), []);
  });

  test('parseQstatFullNames reads names qstat would cut', () => {
    assert.deepEqual(parseQstatFullNames(qstatFullOutput), [
      { jobId: '12', name: 'some-very-long-job-name-here.attempt-1' },
      { jobId: '13', name: 'other.attempt-1' },
    ]);
  });

  test('parseQsubOutput reads the id of the wrapper and of Torque', () => {
    assert.equal(parseQsubOutput('616\n'), '616');
    assert.equal(parseQsubOutput('616.headnode.example.org\n'), '616.headnode.example.org');
    assert.equal(parseQsubOutput(''), null);
    assert.equal(parseQsubOutput('qsub: submit error'), null);
  });

  test("array ids: qsub's answer for an array, and its elements' ids in each flavour", () => {
    assert.equal(parseQsubOutput('616[].pbs-server\n'), '616[].pbs-server');
    assert.equal(pbsArrayElementId('616', 3), '616[3]', "the Slurm wrapper's bare id");
    assert.equal(pbsArrayElementId('616[]', 3), '616[3]');
    assert.equal(pbsArrayElementId('616[].pbs-server', 3), '616[3].pbs-server', 'PBS Pro and Torque');
    assert.equal(parseQsubOutput('616[3].pbs-server'), '616[3].pbs-server');
    assert.deepEqual(parsePbsArrayElementId('616[3].pbs-server'), { arrayId: '616', index: 3 });
    assert.deepEqual(parsePbsArrayElementId('616[3]'), { arrayId: '616', index: 3 });
    assert.equal(parsePbsArrayElementId('616'), null);
    assert.equal(parsePbsArrayElementId('616[]'), null);
    assert.equal(parseQsubOutput('-616[3]'), null);
  });
});

describe('messages', () => {
  test("qsubErrorMessage unwraps the wrapper's sbatch error", () => {
    assert.equal(
      qsubErrorMessage(qsubRefusal),
      'invalid partition specified: nope; Batch job submission failed: Invalid partition name specified',
    );
    assert.equal(
      qsubErrorMessage('qsub: submit error (Unknown queue MSG=requested queue not found)'),
      'submit error (Unknown queue MSG=requested queue not found)',
    );
  });

  test('a server that does not answer is told apart from a refusal', () => {
    assert.equal(isPbsUnreachableMessage('Problem loading jobs.'), true);
    assert.equal(
      isPbsUnreachableMessage('qdel: Kill job error on job id 5: Unable to contact slurm controller (connect failure)'),
      true,
    );
    assert.equal(
      isPbsUnreachableMessage('qstat: cannot connect to server headnode (errno=111) Connection refused'),
      true,
    );
    assert.equal(isPbsUnreachableMessage(qsubRefusal), false);
  });
});
