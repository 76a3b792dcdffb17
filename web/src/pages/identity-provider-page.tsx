import { useState, type FormEvent } from 'react';
import { ApiError, ok } from '../../../src/api-client/client';
import type { IdentityProvider, IdentityProviderRequest } from '../../../src/api-client/types';
import { api, errorMessage } from '../api/client';
import { useMe } from '../auth';
import { ConfirmDialog } from '../components/confirm-dialog';
import { Field, fieldIds } from '../components/field';
import { FormActions } from '../components/form-actions';
import { PageHeading } from '../components/page-heading';
import { useAsync } from '../use-async';

/**
 * The gateway's OpenID Connect provider (admins): the sign-in page offers "Sign in with
 * <name>" once it is set. Drover checks the issuer's discovery document on saving; the
 * client secret is write-only (never shown, kept when the field is left empty).
 */
export function IdentityProviderPage() {
  const me = useMe();
  // A 404 (none set yet) is an empty form, not an error.
  const stored = useAsync(
    () =>
      ok(api.GET('/api/v1/identity-provider')).catch((error) => {
        if (error instanceof ApiError && error.status === 404) return null;
        throw error;
      }),
    [],
  );
  return (
    <>
      <PageHeading title="Sign-in settings" />
      <p>
        Let the users of {me.gateway.name} sign in with their institution's account through an OpenID Connect provider
        (Keycloak, CILogon, Globus Auth…). A user's first sign-in makes their account here, as a user.
      </p>
      {me.user.role !== 'admin' && <p role="alert">Only an admin of this gateway can change how its users sign in.</p>}
      {stored.error !== undefined && (
        <p className="error" role="alert">
          The settings could not be loaded: {errorMessage(stored.error)}
        </p>
      )}
      {me.user.role === 'admin' && stored.data !== undefined && (
        <ProviderForm stored={stored.data} onChange={stored.reload} />
      )}
    </>
  );
}

const fieldNames = ['displayName', 'issuer', 'clientId', 'clientSecret', 'scopes', 'userClaim', 'allowedDomains'];

/** The form, starting from the stored settings (or empty). */
function ProviderForm({ stored, onChange }: { stored: IdentityProvider | null; onChange(): void }) {
  const [displayName, setDisplayName] = useState(stored?.displayName ?? '');
  const [issuer, setIssuer] = useState(stored?.issuer ?? '');
  const [clientId, setClientId] = useState(stored?.clientId ?? '');
  const [clientSecret, setClientSecret] = useState('');
  const [scopes, setScopes] = useState((stored?.scopes ?? ['openid', 'profile', 'email']).join(' '));
  const [userClaim, setUserClaim] = useState(stored?.userClaim ?? 'sub');
  const [domains, setDomains] = useState((stored?.allowedDomains ?? []).join(', '));
  const [claimName, setClaimName] = useState(stored?.requiredClaim?.name ?? '');
  const [claimValue, setClaimValue] = useState(stored?.requiredClaim?.value ?? '');
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [failure, setFailure] = useState<string | null>(null);
  const [status, setStatus] = useState('');
  const [busy, setBusy] = useState(false);
  const [removing, setRemoving] = useState(false);

  const save = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setFailure(null);
    setStatus('');
    const body: IdentityProviderRequest = {
      issuer: issuer.trim(),
      clientId: clientId.trim(),
      ...(displayName.trim() ? { displayName: displayName.trim() } : {}),
      ...(clientSecret ? { clientSecret } : {}),
      scopes: scopes.split(/[\s,]+/).filter(Boolean),
      userClaim: userClaim.trim() || 'sub',
      allowedDomains: domains
        .split(/[\s,]+/)
        .map((domain) => domain.trim())
        .filter(Boolean),
      requiredClaim: claimName.trim() ? { name: claimName.trim(), value: claimValue } : null,
    };
    try {
      await ok(api.PUT('/api/v1/identity-provider', { body }));
      setErrors({});
      setClientSecret('');
      setStatus('Saved. The sign-in page offers it now.');
      onChange();
    } catch (error) {
      if (error instanceof ApiError) {
        // `allowedDomains.0` and `requiredClaim.name` show at their fields.
        const byField: Record<string, string> = {};
        for (const [field, message] of Object.entries(error.fieldErrors())) {
          const name = field.replace(/\.\d+$/, '').replace(/^requiredClaim\..*/, 'requiredClaim');
          byField[name] = byField[name] ? `${byField[name]}; ${message}` : message;
        }
        setErrors(byField);
        if (!Object.keys(byField).some((field) => fieldNames.includes(field) || field === 'requiredClaim'))
          setFailure(errorMessage(error));
      } else setFailure(errorMessage(error));
    } finally {
      setBusy(false);
    }
  };

  const remove = async () => {
    setBusy(true);
    try {
      await ok(api.DELETE('/api/v1/identity-provider'));
      setStatus('Removed: users sign in with API tokens only.');
      onChange();
    } catch (error) {
      setFailure(errorMessage(error));
    } finally {
      setBusy(false);
      setRemoving(false);
    }
  };

  const text = (
    id: string,
    label: string,
    value: string,
    set: (value: string) => void,
    hint: string,
    error: string | undefined,
    extra: Record<string, string> = {},
  ) => (
    <Field id={id} label={label} hint={hint} error={error}>
      <input
        id={id}
        value={value}
        onChange={(change) => set(change.target.value)}
        {...extra}
        {...fieldIds(id, true, error)}
      />
    </Field>
  );

  return (
    <>
      {stored && (
        <section aria-labelledby="redirect-title" className="panel">
          <h2 id="redirect-title">Redirect URI</h2>
          <p>Register this address at the provider as the client's redirect URI:</p>
          <pre className="secret" tabIndex={0} aria-label="Redirect URI">
            {stored.redirectUri}
          </pre>
        </section>
      )}
      <form onSubmit={save} noValidate className="settings-form">
        {text(
          'idp-name',
          'Name on the button',
          displayName,
          setDisplayName,
          'The sign-in page says "Sign in with <name>".',
          errors.displayName,
        )}
        {text(
          'idp-issuer',
          'Issuer URL',
          issuer,
          setIssuer,
          'Keycloak: https://<host>/realms/<realm>; CILogon: https://cilogon.org. Drover reads <issuer>/.well-known/openid-configuration.',
          errors.issuer,
          { type: 'url', placeholder: 'https://keycloak.example.org/realms/science' },
        )}
        {text('idp-client', 'Client ID', clientId, setClientId, 'As registered at the provider.', errors.clientId)}
        {text(
          'idp-secret',
          'Client secret',
          clientSecret,
          setClientSecret,
          stored?.clientSecretSet
            ? 'A secret is stored (never shown). Leave this empty to keep it.'
            : 'Stored encrypted, never shown again. Leave it empty for a public client.',
          errors.clientSecret,
          { type: 'password', autoComplete: 'off' },
        )}
        {text('idp-scopes', 'Scopes', scopes, setScopes, 'Separated by spaces; must include openid.', errors.scopes)}
        {text(
          'idp-claim',
          'User name claim',
          userClaim,
          setUserClaim,
          'The claim that names the user here: sub, email or preferred_username.',
          errors.userClaim,
        )}
        {text(
          'idp-domains',
          'Allowed e-mail domains',
          domains,
          setDomains,
          'Only verified addresses at these domains may sign in, e.g. example.edu; empty for anyone.',
          errors.allowedDomains,
        )}
        <fieldset>
          <legend>Required claim (optional)</legend>
          {text('idp-required-name', 'Claim', claimName, setClaimName, 'e.g. groups', errors.requiredClaim)}
          {text('idp-required-value', 'Value it must hold', claimValue, setClaimValue, 'e.g. hpc-users', undefined)}
        </fieldset>
        <FormActions busy={busy} status={status} failure={failure}>
          {stored && (
            <button type="button" onClick={() => setRemoving(true)} disabled={busy}>
              Remove
            </button>
          )}
        </FormActions>
      </form>
      <ConfirmDialog
        open={removing}
        title="Remove the identity provider?"
        confirmLabel="Remove it"
        dismissLabel="Keep it"
        busy={busy}
        onConfirm={remove}
        onDismiss={() => setRemoving(false)}
      >
        <p>The sign-in page stops offering it. Users keep their accounts, sessions and API tokens.</p>
      </ConfirmDialog>
    </>
  );
}
