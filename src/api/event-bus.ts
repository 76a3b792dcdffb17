/**
 * Fans the store's event notifications out to the SSE streams of this API process:
 * one LISTEN per process, however many clients watch.
 */
import { EventEmitter } from 'node:events';
import type { Store } from '../store/port.ts';
import { eventsChannel } from '../state/events.ts';

export interface EventBus {
  /** Calls `listener` when experiment `id` may have new events. Returns an unsubscribe. */
  subscribe(experimentId: string, listener: () => void): () => void;
  /** Calls `listener` with the ids of every batch of experiments that may have new events. */
  subscribeAll(listener: (experimentIds: string[]) => void): () => void;
  close(): Promise<void>;
}

/** The emitter's event for "some experiments changed" (never an experiment id: those are UUIDs). */
const anyExperiment = '*';

export async function createEventBus(store: Store): Promise<EventBus> {
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  const unlisten = await store.listen(eventsChannel, (payload) => {
    const ids = payload.split(',').filter(Boolean);
    for (const id of ids) emitter.emit(id);
    emitter.emit(anyExperiment, ids);
  });
  return {
    subscribe(experimentId, listener) {
      emitter.on(experimentId, listener);
      return () => emitter.off(experimentId, listener);
    },
    subscribeAll(listener) {
      emitter.on(anyExperiment, listener);
      return () => emitter.off(anyExperiment, listener);
    },
    close: unlisten,
  };
}
