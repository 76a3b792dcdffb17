/**
 * Who is signed in. The session is an httpOnly cookie set by the server (signing in
 * through the gateway's identity provider, or with an API token on the sign-in page), so
 * the page never holds a secret: it asks `GET /me` whether the cookie still signs it in.
 * The answer gives the user and their gateway (name and colours). Before sign-in, the page
 * shows the gateway a link names (`/?gateway=<id>`), else the one last signed in to, else
 * the bootstrap gateway: many gateways share one Drover, each with its own look.
 */
import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { ApiError, ok } from '../../src/api-client/client';
import { api, errorMessage, handleUnauthorized, type SessionEnd } from './api/client';
import type { Gateway, Me } from '../../src/api-client/types';
import { applyTheme } from './theme';

/** The session as pages see it. */
export interface Session {
  /** `checking` while the session cookie is checked at start. */
  status: 'checking' | 'signed-in' | 'signed-out';
  me: Me | null;
  /** The gateway whose sign-in page this is (name and colours), known before anyone signs in. */
  branding: Gateway | null;
  /** The gateway id the sign-in page is for (from the link, or remembered), or null for the bootstrap one. */
  gatewayId: string | null;
  /** Why the last session ended or could not start (shown on the sign-in page). */
  notice: string | null;
  /** Starts a session with `token`; throws an ApiError (401) when it is refused. */
  signIn(token: string): Promise<void>;
  /** Ends the session on the server (revoking it) and here. */
  signOut(notice?: string): Promise<void>;
}

const SessionContext = createContext<Session | null>(null);

const gatewayKey = 'drover.gateway';
/** Where earlier versions kept the API token: removed at start, so no secret stays in storage. */
const legacyTokenKey = 'drover.token';

const endNotices: Record<SessionEnd, string> = {
  expired: 'Your session has expired; sign in again.',
  ended: 'Your session has ended; sign in again.',
};

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

/** Provides the session; checks the session cookie once at start. */
export function SessionProvider({ children }: { children: ReactNode }) {
  const [me, setMe] = useState<Me | null>(null);
  const [status, setStatus] = useState<Session['status']>('checking');
  const [notice, setNotice] = useState<string | null>(null);
  const [branding, setBranding] = useState<Gateway | null>(null);

  // Read during the first render: the redirect to /sign-in drops the address's query.
  const [gateway] = useState(chosenGateway);

  useEffect(() => {
    // Branding is a nicety: without it the sign-in page shows Drover's own name and colours.
    ok(api.GET('/api/v1/gateway', { params: { query: gateway ? { gateway } : {} } })).then(setBranding, () => {});
  }, [gateway]);

  const signedOut = useCallback((why?: string) => {
    setMe(null);
    setStatus('signed-out');
    setNotice(why ?? null);
  }, []);

  const signedIn = useCallback((answer: Me) => {
    rememberGateway(answer.gateway.id);
    setBranding(answer.gateway);
    setNotice(null);
    setMe(answer);
    setStatus('signed-in');
  }, []);

  const signIn = useCallback(
    async (token: string) => {
      // The token is checked and turned into a session cookie; the page does not keep it.
      await ok(api.POST('/api/v1/me/session', { headers: { authorization: `Bearer ${token}` } }));
      signedIn(await ok(api.GET('/api/v1/me')));
    },
    [signedIn],
  );

  const signOut = useCallback(
    async (why?: string) => {
      try {
        await ok(api.DELETE('/api/v1/me/session'));
      } catch {
        // Already ended on the server (or unreachable): the page signs out all the same.
      }
      signedOut(why);
    },
    [signedOut],
  );

  useEffect(() => {
    try {
      localStorage.removeItem(legacyTokenKey);
    } catch {
      // storage blocked: nothing was kept there either
    }
    ok(api.GET('/api/v1/me')).then(signedIn, (error) => {
      if (error instanceof ApiError && error.status === 401)
        signedOut(error.problem.type === 'urn:drover:problem:session-expired' ? endNotices.expired : undefined);
      // The server may just be restarting: the sign-in page says so and offers to try again.
      else signedOut(errorMessage(error));
    });
  }, [signedIn, signedOut]);

  // Only a session that was signed in can end: a 401 before that is the start-up check's.
  const current = useRef(status);
  useEffect(() => {
    current.current = status;
  }, [status]);
  useEffect(() => {
    handleUnauthorized((why) => {
      if (current.current === 'signed-in') signedOut(endNotices[why]);
    });
    return () => handleUnauthorized(null);
  }, [signedOut]);

  useEffect(() => {
    applyTheme(me?.gateway.theme ?? branding?.theme ?? {});
  }, [me, branding]);

  const session = useMemo<Session>(
    () => ({ status, me, branding, gatewayId: gateway, notice, signIn, signOut }),
    [status, me, branding, gateway, notice, signIn, signOut],
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
