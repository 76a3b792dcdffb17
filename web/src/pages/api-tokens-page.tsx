import { useState, type FormEvent } from 'react';
import { ApiError, ok } from '../../../src/api-client/client';
import type { ApiToken, NewApiToken } from '../../../src/api-client/types';
import { api, errorMessage } from '../api/client';
import { ConfirmDialog } from '../components/confirm-dialog';
import { Field, fieldIds } from '../components/field';
import { PageHeading } from '../components/page-heading';
import { formatDateTime } from '../format';
import { useAsync } from '../use-async';

/**
 * Your API tokens, for scripts and the `drover` CLI: make one (shown once), see when each
 * was last used, revoke one. The browser itself signs in by its session, not by a token.
 */
export function ApiTokensPage() {
  const tokens = useAsync(() => ok(api.GET('/api/v1/me/tokens')), []);
  const [name, setName] = useState('');
  const [nameError, setNameError] = useState<string | undefined>();
  const [failure, setFailure] = useState<string | null>(null);
  const [made, setMade] = useState<NewApiToken | null>(null);
  const [revoking, setRevoking] = useState<ApiToken | null>(null);
  const [status, setStatus] = useState('');
  const [busy, setBusy] = useState(false);

  const create = async (event: FormEvent) => {
    event.preventDefault();
    setFailure(null);
    setStatus('');
    if (!name.trim()) {
      setNameError('Give the token a name: what it is for.');
      return;
    }
    setBusy(true);
    try {
      setMade(await ok(api.POST('/api/v1/me/tokens', { body: { name: name.trim() } })));
      setName('');
      setNameError(undefined);
      tokens.reload();
    } catch (error) {
      if (error instanceof ApiError && error.fieldErrors().name) setNameError(error.fieldErrors().name);
      else setFailure(errorMessage(error));
    } finally {
      setBusy(false);
    }
  };

  const revoke = async () => {
    if (!revoking) return;
    setBusy(true);
    try {
      await ok(api.DELETE('/api/v1/me/tokens/{id}', { params: { path: { id: revoking.id } } }));
      setStatus(`Revoked ${revoking.name}.`);
      if (made?.id === revoking.id) setMade(null);
      tokens.reload();
    } catch (error) {
      setFailure(errorMessage(error));
    } finally {
      setBusy(false);
      setRevoking(null);
    }
  };

  return (
    <>
      <PageHeading title="API tokens" />
      <p>
        Scripts and the <code>drover</code> command line sign in with a token: set <code>DROVER_TOKEN</code> to it, or
        send <code>Authorization: Bearer &lt;token&gt;</code>. Make one per script or computer, so that you can revoke
        one without the others.
      </p>
      <form onSubmit={create} noValidate className="settings-form">
        <Field id="token-name" label="Name" error={nameError} hint='What the token is for, e.g. "laptop CLI".'>
          <input
            id="token-name"
            value={name}
            maxLength={64}
            onChange={(change) => setName(change.target.value)}
            {...fieldIds('token-name', true, nameError)}
          />
        </Field>
        <div className="actions">
          <button type="submit" className="primary" disabled={busy}>
            Create token
          </button>
          <p role="status" className="status">
            {status}
          </p>
        </div>
      </form>
      {made && (
        <section aria-labelledby="new-token-title" className="panel secret-panel">
          <h2 id="new-token-title">Your new token “{made.name}”</h2>
          <p>Copy it now: it is not shown again.</p>
          <pre className="secret" tabIndex={0} aria-label="New API token">
            {made.token}
          </pre>
        </section>
      )}
      {failure && (
        <p className="error" role="alert">
          {failure}
        </p>
      )}
      {tokens.error !== undefined && !tokens.data && (
        <p className="error" role="alert">
          Your tokens could not be loaded: {errorMessage(tokens.error)}
        </p>
      )}
      {tokens.data && tokens.data.items.length === 0 && <p>You have no tokens.</p>}
      {tokens.data && tokens.data.items.length > 0 && (
        <table className="experiments tokens">
          <caption className="visually-hidden">Your API tokens</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Created</th>
              <th scope="col">Last used</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {tokens.data.items.map((token) => (
              <tr key={token.id}>
                <td>{token.name}</td>
                <td>{formatDateTime(token.createdAt)}</td>
                <td>{token.lastUsedAt ? formatDateTime(token.lastUsedAt) : 'never'}</td>
                <td>
                  <button type="button" onClick={() => setRevoking(token)} aria-label={`Revoke ${token.name}`}>
                    Revoke
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <ConfirmDialog
        open={revoking !== null}
        title="Revoke this token?"
        confirmLabel="Revoke token"
        dismissLabel="Keep it"
        busy={busy}
        onConfirm={revoke}
        onDismiss={() => setRevoking(null)}
      >
        <p>
          Scripts and computers that use <strong>{revoking?.name}</strong> are refused from now on. This cannot be
          undone.
        </p>
      </ConfirmDialog>
    </>
  );
}
