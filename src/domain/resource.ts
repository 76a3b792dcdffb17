/**
 * Resources and their queues, and the check that a request fits a queue's limits.
 */
import type { Deployment } from './application.ts';
import type { FieldProblem } from './validate-inputs.ts';

/** One queue (partition) of a resource, with its limits. */
export interface QueueSpec {
  name: string;
  maxWalltimeMinutes: number;
  maxCores: number;
  maxNodes?: number;
  /** The most memory a job may ask for, in MB; an automatic resubmit never asks for more (domain/resubmit.ts). */
  maxMemoryMb?: number;
  /** Active experiments one user may have on this queue at once; more wait `queued` for a place. */
  maxJobsPerUser?: number;
  /** Active experiments of all users together; more wait, in fair-share order (domain/admission.ts). */
  maxActiveJobs?: number;
  /** Cores (nodes x cores per node) of all active experiments together. */
  maxActiveCores?: number;
}

/** How Drover reaches a cluster's login node (resources of kind `slurm` and `pbs`). */
export interface SshConfig {
  host: string;
  /** Default 22. */
  port?: number;
  user: string;
  /** Name of a credential stored in Drover for the resource's gateway (the way gateway admins give the key). */
  credential?: string;
  /** Or a private key file on the machines that run Drover's workers and controller (platform operator only). */
  privateKeyPath?: string;
  /** OpenSSH known_hosts file the login node's host key is checked against (platform operator only). */
  knownHostsPath?: string;
  /** Or the host key itself, pinned: `ssh-ed25519 AAAAC3...`. One of the two is required. */
  hostKey?: string;
  /** Concurrent sessions on the one connection (login nodes commonly allow 10); default 8. */
  maxSessions?: number;
}

/** A resource's configuration as stored in `resources.config`. */
export interface ResourceConfig {
  /** Where job working directories are created on the resource. */
  scratchDir: string;
  queues: QueueSpec[];
  /** Required for `slurm` and `pbs` resources. */
  ssh?: SshConfig;
  /** Seconds between polls of the scheduler (default: every controller pass for local, 5 for clusters). */
  pollIntervalSeconds?: number;
}

/** The poll interval of a resource in milliseconds; `passMs` is the controller's pass interval. */
export function pollIntervalMs(resource: ResourceSpec, passMs: number): number {
  const seconds = resource.config.pollIntervalSeconds;
  if (seconds !== undefined) return seconds * 1000;
  return resource.kind === 'local' ? passMs : 5000;
}

export interface ResourceSpec {
  /** The gateway it belongs to; set when read from the store (credentials are looked up there). */
  gatewayId?: string;
  name: string;
  kind: 'local' | 'slurm' | 'pbs';
  config: ResourceConfig;
}

/** What a user may choose per experiment; defaults come from the deployment, then the queue. */
export interface JobSettings {
  queue: string;
  nodes: number;
  coresPerNode: number;
  walltimeMinutes: number;
  memoryMb?: number;
}

/** Drover's own job settings, for what neither the request nor the deployment gives. */
export const defaultJobSettings = { nodes: 1, coresPerNode: 1, walltimeMinutes: 10 } as const;

/** Resolves the requested settings against deployment defaults and the queue's limits. */
export function resolveJobSettings(
  resource: ResourceSpec,
  deployment: Deployment,
  requested: Partial<JobSettings>,
): { settings: JobSettings; problems: FieldProblem[] } {
  const problems: FieldProblem[] = [];
  const queueName = requested.queue ?? deployment.queue ?? resource.config.queues[0]?.name;
  const queue = resource.config.queues.find((candidate) => candidate.name === queueName);
  const settings: JobSettings = {
    queue: queueName ?? '',
    nodes: requested.nodes ?? deployment.nodes ?? defaultJobSettings.nodes,
    coresPerNode: requested.coresPerNode ?? deployment.coresPerNode ?? defaultJobSettings.coresPerNode,
    walltimeMinutes: requested.walltimeMinutes ?? deployment.walltimeMinutes ?? defaultJobSettings.walltimeMinutes,
    memoryMb: requested.memoryMb ?? deployment.memoryMb,
  };
  if (!queue) {
    problems.push({
      field: 'queue',
      message: `unknown queue ${JSON.stringify(queueName)} on ${resource.name}; queues: ${resource.config.queues.map((q) => q.name).join(', ')}`,
    });
    return { settings, problems };
  }
  const positive = (field: keyof JobSettings, value: number | undefined) => {
    if (value !== undefined && (!Number.isFinite(value) || value <= 0))
      problems.push({ field, message: 'must be a positive number' });
  };
  positive('nodes', settings.nodes);
  positive('coresPerNode', settings.coresPerNode);
  positive('walltimeMinutes', settings.walltimeMinutes);
  positive('memoryMb', settings.memoryMb);
  if (!Number.isInteger(settings.nodes)) problems.push({ field: 'nodes', message: 'must be a whole number' });
  if (!Number.isInteger(settings.coresPerNode))
    problems.push({ field: 'coresPerNode', message: 'must be a whole number' });
  // Directives carry memory in whole megabytes (`--mem=<n>M`, `mem=<n>mb`).
  if (settings.memoryMb !== undefined && !Number.isSafeInteger(settings.memoryMb))
    problems.push({ field: 'memoryMb', message: 'must be a whole number of megabytes' });
  if (settings.walltimeMinutes > queue.maxWalltimeMinutes) {
    problems.push({
      field: 'walltimeMinutes',
      message: `must be at most ${queue.maxWalltimeMinutes} on queue ${queue.name}`,
    });
  }
  if (settings.nodes * settings.coresPerNode > queue.maxCores) {
    problems.push({
      field: 'coresPerNode',
      message: `nodes x cores must be at most ${queue.maxCores} on queue ${queue.name}`,
    });
  }
  if (queue.maxMemoryMb !== undefined && settings.memoryMb !== undefined && settings.memoryMb > queue.maxMemoryMb) {
    problems.push({ field: 'memoryMb', message: `must be at most ${queue.maxMemoryMb} on queue ${queue.name}` });
  }
  if (queue.maxNodes !== undefined && settings.nodes > queue.maxNodes) {
    problems.push({ field: 'nodes', message: `must be at most ${queue.maxNodes} on queue ${queue.name}` });
  }
  return { settings, problems };
}
