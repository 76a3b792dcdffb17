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
  close(): Promise<void>;
}

export async function createEventBus(store: Store): Promise<EventBus> {
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  const unlisten = await store.listen(eventsChannel, (payload) => {
    for (const id of payload.split(',').filter(Boolean)) emitter.emit(id);
  });
  return {
    subscribe(experimentId, listener) {
      emitter.on(experimentId, listener);
      return () => emitter.off(experimentId, listener);
    },
    close: unlisten,
  };
}
