/**
 * Picks the Shell and BatchScheduler adapters for a resource, once per resource: a
 * cluster gets one pooled SSH connection per process, shared by every task and poll.
 */
import type { Logger } from 'pino';
import type { BatchScheduler } from '../batch/port.ts';
import type { Shell } from '../shell/port.ts';
import type { ResourceSpec } from '../domain/resource.ts';
import { LocalScheduler } from '../batch/local/local-scheduler.ts';
import { SlurmScheduler } from '../batch/slurm/slurm-scheduler.ts';
import { PbsScheduler } from '../batch/pbs/pbs-scheduler.ts';
import { LocalShell } from '../shell/local-shell.ts';
import { SshShell } from '../shell/ssh-shell.ts';
import { finalFailure } from '../domain/failure.ts';

/** A resource ready to use: its spec and the adapters that reach it. */
export interface ResourceHandle {
  spec: ResourceSpec;
  shell: Shell;
  scheduler: BatchScheduler;
}

export interface ResourceRegistry {
  /** The adapters for a resource, created on first use. */
  open(spec: ResourceSpec): ResourceHandle;
  close(): Promise<void>;
}

/** One command run on a cluster's login node, for metrics and for tests that count scheduler calls. */
export interface ResourceCommand {
  resource: string;
  /** argv[0]: `squeue`, `sacct`, `bash` ... */
  program: string;
  durationMs: number;
  /** Exit code, or null when the login node did not answer. */
  code: number | null;
}

export interface ResourceRegistryOptions {
  logger?: Logger;
  /**
   * The decrypted private key of a gateway's stored credential (resources whose ssh
   * settings name `credential`). Without it such resources cannot connect.
   */
  loadCredential?: (gatewayId: string, name: string) => Promise<Buffer>;
  onCommand?: (command: ResourceCommand) => void;
}

export function createResourceRegistry(options: ResourceRegistryOptions = {}): ResourceRegistry {
  const handles = new Map<string, ResourceHandle>();
  const create = (spec: ResourceSpec): ResourceHandle => {
    if (spec.kind === 'local') {
      const shell = new LocalShell();
      return { spec, shell, scheduler: new LocalScheduler({ shell }) };
    }
    const ssh = spec.config.ssh;
    if (!ssh) throw finalFailure('resource-misconfigured', `resource ${spec.name} (${spec.kind}) has no ssh settings`);
    const { credential } = ssh;
    const loadCredential = options.loadCredential;
    const shell = new SshShell({
      resource: spec.name,
      ...ssh,
      privateKey:
        credential === undefined
          ? undefined
          : () => {
              if (!loadCredential || !spec.gatewayId)
                return Promise.reject(new Error(`this Drover process cannot read stored credentials for ${spec.name}`));
              return loadCredential(spec.gatewayId, credential);
            },
      logger: options.logger?.child({ resource: spec.name }),
      onCommand: (event) => options.onCommand?.({ resource: spec.name, ...event }),
    });
    const scheduler =
      spec.kind === 'slurm'
        ? new SlurmScheduler({ shell, resource: spec.name })
        : new PbsScheduler({ shell, resource: spec.name });
    return { spec, shell, scheduler };
  };
  return {
    open(spec) {
      // Keyed by gateway and the whole configuration: gateways may name their resources and
      // credentials alike, and an admin's change takes effect for the work that follows.
      const key = `${spec.gatewayId ?? ''}:${spec.kind}:${spec.name}:${JSON.stringify(spec.config)}`;
      let handle = handles.get(key);
      if (!handle) {
        handle = create(spec);
        handles.set(key, handle);
      }
      return handle;
    },
    async close() {
      await Promise.all([...handles.values()].map((handle) => handle.shell.close()));
      handles.clear();
    },
  };
}
