/**
 * Loading data for a page: the latest answer wins, so a slow earlier request never
 * overwrites a newer one.
 */
import { useCallback, useEffect, useRef, useState, type DependencyList } from 'react';
import { ok } from '../../src/api-client/client';
import { api } from './api/client';
import type { Application, Resource } from '../../src/api-client/types';

/** The state of a load. */
export interface AsyncState<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  /** Loads again, keeping the current data on screen meanwhile. */
  reload(): void;
}

/** Runs `load` now and whenever `deps` change. */
export function useAsync<T>(load: () => Promise<T>, deps: DependencyList): AsyncState<T> {
  const [state, setState] = useState<{ data: T | undefined; error: unknown; loading: boolean }>({
    data: undefined,
    error: undefined,
    loading: true,
  });
  const generation = useRef(0);
  const loader = useRef(load);
  loader.current = load;

  const run = useCallback(() => {
    const mine = ++generation.current;
    setState((previous) => ({ ...previous, loading: true }));
    loader.current().then(
      (data) => {
        if (mine === generation.current) setState({ data, error: undefined, loading: false });
      },
      (error) => {
        if (mine === generation.current) setState((previous) => ({ data: previous.data, error, loading: false }));
      },
    );
  }, []);

  // `deps` are the caller's: `load` is read through a ref, so it may change freely.
  // eslint-disable-next-line react-hooks/exhaustive-deps -- the lint checks them at each useAsync call instead
  useEffect(run, deps);
  useEffect(() => () => void generation.current++, []);
  return { ...state, reload: run };
}

/** The gateway's applications and resources, which the forms and filters need. */
export function useCatalogue(): AsyncState<{ applications: Application[]; resources: Resource[] }> {
  return useAsync(async () => {
    const [applications, resources] = await Promise.all([
      ok(api.GET('/api/v1/applications')),
      ok(api.GET('/api/v1/resources')),
    ]);
    return { applications: applications.items, resources: resources.items };
  }, []);
}
