/**
 * SshShell runs the Shell conformance suite (test/conformance/shell-suite.ts) against the
 * test cluster's login node (scripts/start-slurm.sh: sshd on 127.0.0.1:2222, as hpcuser).
 */
import { shellConformance } from '../../test/conformance/shell-suite.ts';
import { connectToTestCluster } from '../../test/test-cluster.ts';

shellConformance('SshShell', { createShell: connectToTestCluster, scratchDirectory: '/home/hpcuser/drover-scratch' });
