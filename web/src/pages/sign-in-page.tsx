import { useState, type FormEvent } from 'react';
import { Navigate, useLocation, useNavigate } from 'react-router';
import { ApiError } from '../../../src/api-client/client';
import { errorMessage } from '../api/client';
import { useSession } from '../auth';
import { PageHeading } from '../components/page-heading';

/** Signing in with an API token; the token is checked with the server before it is kept. */
export function SignInPage() {
  const session = useSession();
  const navigate = useNavigate();
  const location = useLocation();
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const from = (location.state as { from?: string } | null)?.from ?? '/experiments';

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

  return (
    <div className="sign-in">
      <PageHeading title="Sign in" />
      <p>Sign in with the API token your gateway administrator gave you.</p>
      {session.notice && !error && <p className="notice">{session.notice}</p>}
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
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </div>
  );
}
