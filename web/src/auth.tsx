/**
 * Who is signed in. The API token is checked with `GET /me` and kept in localStorage; the
 * answer gives the user and their gateway (name and colours). Before sign-in, the page
 * shows the gateway a link names (`/?gateway=<id>`), else the one last signed in to, else
 * the bootstrap gateway: many gateways share one Drover, each with its own look.
 */
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { ApiError, ok } from '../../src/api-client/client';
import { api, errorMessage, handleUnauthorized, storeToken, storedToken } from './api/client';
import type { Gateway, Me } from '../../src/api-client/types';
import { applyTheme } from './theme';

/** The session as pages see it. */
export interface Session {
  /** `checking` while a stored token is validated at start. */
  status: 'checking' | 'signed-in' | 'signed-out';
  me: Me | null;
  /** The gateway whose sign-in page this is (name and colours), known before anyone signs in. */
  branding: Gateway | null;
  /** Why the last session ended or could not start (shown on the sign-in page). */
  notice: string | null;
  /** Checks `token` with the server and keeps it; throws an ApiError (401) when it is refused. */
  signIn(token: string): Promise<void>;
  signOut(notice?: string): void;
}

const SessionContext = createContext<Session | null>(null);

const gatewayKey = 'drover.gateway';

/** The gateway the sign-in page is for: `?gateway=` in the address (remembered), else the remembered one. */
function chosenGateway(): string | null {
  try {
    const fromLink = new URLSearchParams(window.location.search).get('gateway');
    if (fromLink) localStorage.setItem(gatewayKey, fromLink);
    return fromLink ?? localStorage.getItem(gatewayKey);
  } catch {
    return null; // storage blocked: the bootstrap gateway's look
  }
}

function rememberGateway(id: string): void {
  try {
    localStorage.setItem(gatewayKey, id);
  } catch {
    // storage blocked: nothing to remember
  }
}

/** Provides the session; checks a stored token once at start. */
export function SessionProvider({ children }: { children: ReactNode }) {
  const [me, setMe] = useState<Me | null>(null);
  const [status, setStatus] = useState<Session['status']>(storedToken() ? 'checking' : 'signed-out');
  const [notice, setNotice] = useState<string | null>(null);
  const [branding, setBranding] = useState<Gateway | null>(null);

  // Read during the first render: the redirect to /sign-in drops the address's query.
  const [gateway] = useState(chosenGateway);

  useEffect(() => {
    // Branding is a nicety: without it the sign-in page shows Drover's own name and colours.
    ok(api.GET('/api/v1/gateway', { params: { query: gateway ? { gateway } : {} } })).then(setBranding, () => {});
  }, [gateway]);

  const signOut = useCallback((why?: string) => {
    storeToken(null);
    setMe(null);
    setStatus('signed-out');
    setNotice(why ?? null);
  }, []);

  const signIn = useCallback(async (token: string) => {
    const answer = await ok(api.GET('/api/v1/me', { headers: { authorization: `Bearer ${token}` } }));
    storeToken(token);
    rememberGateway(answer.gateway.id);
    setBranding(answer.gateway);
    setNotice(null);
    setMe(answer);
    setStatus('signed-in');
  }, []);

  useEffect(() => {
    const token = storedToken();
    if (!token) return;
    signIn(token).catch((error) => {
      if (error instanceof ApiError && error.status === 401)
        signOut('Your saved token is no longer valid; sign in again.');
      else {
        // Keep the token: the server may just be restarting. The sign-in page offers a retry.
        setStatus('signed-out');
        setNotice(errorMessage(error));
      }
    });
  }, [signIn, signOut]);

  useEffect(() => {
    handleUnauthorized(() => signOut('Your token was refused by the server; sign in again.'));
    return () => handleUnauthorized(null);
  }, [signOut]);

  useEffect(() => {
    applyTheme(me?.gateway.theme ?? branding?.theme ?? {});
  }, [me, branding]);

  const session = useMemo<Session>(
    () => ({ status, me, branding, notice, signIn, signOut }),
    [status, me, branding, notice, signIn, signOut],
  );
  return <SessionContext.Provider value={session}>{children}</SessionContext.Provider>;
}

/** The current session; only inside SessionProvider. */
export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error('useSession outside SessionProvider');
  return session;
}

/** The signed-in user and gateway; only on pages behind the sign-in. */
export function useMe(): Me {
  const { me } = useSession();
  if (!me) throw new Error('useMe while signed out');
  return me;
}
