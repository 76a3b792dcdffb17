import { useEffect, useState, type FormEvent } from 'react';
import { Navigate, useLocation, useNavigate } from 'react-router';
import { ApiError, ok } from '../../../src/api-client/client';
import type { SignInMethods } from '../../../src/api-client/types';
import { api, errorMessage } from '../api/client';
import { useSession } from '../auth';
import { PageHeading } from '../components/page-heading';

/** Why the last sign-in through the provider failed: the server leaves it in a short-lived cookie. */
const failureCookie = 'drover_sign_in_failure';

function lastSignInFailure(): string | null {
  const match = new RegExp(`(?:^|;\\s*)${failureCookie}=([^;]*)`).exec(document.cookie);
  if (!match) return null;
  try {
    return decodeURIComponent(match[1]);
  } catch {
    return match[1];
  }
}

/**
 * Signing in: through the gateway's identity provider when it has one (the usual way), or
 * with an API token (operators, and a Drover without a provider). Either way the server
 * sets an httpOnly session cookie; the page keeps nothing.
 */
export function SignInPage() {
  const session = useSession();
  const navigate = useNavigate();
  const location = useLocation();
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [methods, setMethods] = useState<SignInMethods | null>(null);
  const from = (location.state as { from?: string } | null)?.from ?? '/experiments';
  const gateway = session.gatewayId;
  const [failure] = useState(lastSignInFailure);

  useEffect(() => {
    // Shown once: a reload or the next visit starts clean.
    document.cookie = `${failureCookie}=; Max-Age=0; Path=/; SameSite=Lax`;
  }, []);

  useEffect(() => {
    // Without an answer the token form still works: the provider's button is left out.
    ok(api.GET('/api/v1/sign-in-methods', { params: { query: gateway ? { gateway } : {} } })).then(
      setMethods,
      () => {},
    );
  }, [gateway]);

  if (session.status === 'signed-in') return <Navigate to={from} replace />;

  const onSubmit = async (event: FormEvent) => {
    event.preventDefault();
    if (!token.trim()) {
      setError('Enter your API token.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await session.signIn(token.trim());
      navigate(from, { replace: true });
    } catch (failure) {
      setError(
        failure instanceof ApiError && failure.status === 401
          ? 'That token was not accepted. Check it and try again.'
          : errorMessage(failure),
      );
    } finally {
      setBusy(false);
    }
  };

  const provider = methods?.identityProvider;
  const tokenForm = (
    <form onSubmit={onSubmit} noValidate>
      <div className={`field${error ? ' has-error' : ''}`}>
        <label htmlFor="token">API token</label>
        <input
          id="token"
          name="token"
          type="password"
          autoComplete="current-password"
          spellCheck={false}
          value={token}
          onChange={(event) => setToken(event.target.value)}
          aria-invalid={error ? true : undefined}
          aria-describedby={error ? 'token-error' : undefined}
        />
        {error && (
          <p id="token-error" className="field-error" role="alert">
            <span aria-hidden="true">⚠ </span>
            {error}
          </p>
        )}
      </div>
      <button type="submit" className={provider ? undefined : 'primary'} disabled={busy}>
        {busy ? 'Signing in…' : provider ? 'Sign in with the token' : 'Sign in'}
      </button>
    </form>
  );

  return (
    <div className="sign-in">
      <PageHeading title="Sign in" />
      {failure && (
        <p className="error" role="alert">
          Signing in failed: {failure}
        </p>
      )}
      {session.notice && !error && (
        <p className="notice" role="status">
          {session.notice}
        </p>
      )}
      {provider ? (
        <>
          <p>Sign in with your institution's account.</p>
          <p>
            <a className="button primary" href={`${provider.loginUrl}?returnTo=${encodeURIComponent(from)}`}>
              Sign in with {provider.displayName}
            </a>
          </p>
          <details className="token-sign-in" open={Boolean(error) || undefined}>
            <summary>Sign in with an API token instead</summary>
            {tokenForm}
          </details>
        </>
      ) : (
        <>
          <p>Sign in with the API token your gateway administrator gave you.</p>
          {tokenForm}
        </>
      )}
    </div>
  );
}
