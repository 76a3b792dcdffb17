/**
 * Picks the Shell and BatchScheduler adapters for a resource, once per resource.
 */
import type { BatchScheduler } from '../batch/port.ts';
import type { Shell } from '../shell/port.ts';
import type { ResourceSpec } from '../domain/resource.ts';
import { LocalScheduler } from '../batch/local/local-scheduler.ts';
import { LocalShell } from '../shell/local-shell.ts';
import { TaskError } from '../domain/errors.ts';

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

export function createResourceRegistry(): ResourceRegistry {
  const handles = new Map<string, ResourceHandle>();
  return {
    open(spec) {
      const key = `${spec.kind}:${spec.name}:${JSON.stringify(spec.config)}`;
      let handle = handles.get(key);
      if (!handle) {
        if (spec.kind !== 'local') {
          throw new TaskError('unsupported-resource', `resources of kind ${spec.kind} are not supported by this Drover yet`, false);
        }
        const shell = new LocalShell();
        handle = { spec, shell, scheduler: new LocalScheduler({ shell }) };
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
