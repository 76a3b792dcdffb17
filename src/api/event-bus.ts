/**
 * Fans the store's event and progress notifications out to the SSE streams of this API
 * process: one LISTEN per channel per process, however many clients watch.
 */
import { EventEmitter } from 'node:events';
import type { Store } from '../store/port.ts';
import { eventsChannel } from '../state/events.ts';
import { progressChannel } from '../state/job-state.ts';

export interface EventBus {
  /** Calls `listener` when experiment `id` may have new events. Returns an unsubscribe. */
  subscribe(experimentId: string, listener: () => void): () => void;
  /** Calls `listener` when the job of experiment `id` may have reported new progress. Returns an unsubscribe. */
  subscribeProgress(experimentId: string, listener: () => void): () => void;
  /** Calls `listener` with the ids of every batch of experiments that may have new events or progress. */
  subscribeAll(listener: (experimentIds: string[]) => void): () => void;
  close(): Promise<void>;
}

/** The emitter's event for "some experiments changed" (never an experiment id: those are UUIDs). */
const anyExperiment = '*';
/** The emitter's event for an experiment's progress. */
const progressOf = (experimentId: string) => `progress:${experimentId}`;

export async function createEventBus(store: Store): Promise<EventBus> {
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  const unlistenEvents = await store.listen(eventsChannel, (payload) => {
    const ids = payload.split(',').filter(Boolean);
    for (const id of ids) emitter.emit(id);
    emitter.emit(anyExperiment, ids);
  });
  const unlistenProgress = await store.listen(progressChannel, (payload) => {
    const ids = payload.split(',').filter(Boolean);
    for (const id of ids) emitter.emit(progressOf(id));
    emitter.emit(anyExperiment, ids);
  });
  return {
    subscribe(experimentId, listener) {
      emitter.on(experimentId, listener);
      return () => emitter.off(experimentId, listener);
    },
    subscribeProgress(experimentId, listener) {
      emitter.on(progressOf(experimentId), listener);
      return () => emitter.off(progressOf(experimentId), listener);
    },
    subscribeAll(listener) {
      emitter.on(anyExperiment, listener);
      return () => emitter.off(anyExperiment, listener);
    },
    async close() {
      await Promise.all([unlistenEvents(), unlistenProgress()]);
    },
  };
}
