import { useState, type FormEvent } from 'react';
import { Link } from 'react-router';
import { ApiError, ok } from '../../../src/api-client/client';
import { notificationEvents } from '../../../src/api-client/constants';
import type { NotificationEvent, NotificationSettings } from '../../../src/api-client/types';
import { api, errorMessage } from '../api/client';
import { Field, fieldIds } from '../components/field';
import { FormActions } from '../components/form-actions';
import { PageHeading } from '../components/page-heading';
import { useAsync } from '../use-async';

/**
 * Your notification defaults: which events tell you, your email address and webhook URL,
 * and the webhook's signing secret (shown once when made or replaced).
 */
export function NotificationSettingsPage() {
  const settings = useAsync(() => ok(api.GET('/api/v1/notifications/settings')), []);
  // The forms start from the stored settings once they are loaded (a component of its own,
  // so that its first render already shows them).
  const loaded = settings.data;
  return (
    <>
      <PageHeading title="Notifications" />
      <p>
        Drover tells you when your experiments start and end, by email and by a signed webhook. Each experiment can
        choose otherwise on its own page. Every notification is in the <Link to="/notifications">delivery log</Link>.
      </p>
      {settings.error !== undefined && !loaded && (
        <p className="error" role="alert">
          Your settings could not be loaded: {errorMessage(settings.error)}
        </p>
      )}
      {loaded && <SettingsForms settings={loaded} />}
    </>
  );
}

/** The defaults form and the webhook secret, starting from the stored `settings`. */
function SettingsForms({ settings }: { settings: NotificationSettings }) {
  const [events, setEvents] = useState<NotificationEvent[]>(settings.events);
  const [email, setEmail] = useState(settings.email ?? '');
  const [webhookUrl, setWebhookUrl] = useState(settings.webhookUrl ?? '');
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [status, setStatus] = useState('');
  const [failure, setFailure] = useState<string | null>(null);
  const [secret, setSecret] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const save = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setStatus('');
    setFailure(null);
    try {
      const saved = await ok(
        api.PATCH('/api/v1/notifications/settings', {
          body: { events, email: email.trim() || null, webhookUrl: webhookUrl.trim() || null },
        }),
      );
      setErrors({});
      if (saved.webhookSecret) setSecret(saved.webhookSecret);
      setStatus('Saved.');
    } catch (error) {
      if (error instanceof ApiError) {
        // `events.0` (a schema error on one item) shows at the events.
        const byField = error.fieldErrors();
        setErrors(
          Object.fromEntries(Object.entries(byField).map(([field, message]) => [field.replace(/\.\d+$/, ''), message])),
        );
      }
      setFailure(errorMessage(error));
    } finally {
      setBusy(false);
    }
  };

  const rotate = async () => {
    setBusy(true);
    try {
      setSecret((await ok(api.POST('/api/v1/notifications/settings/webhook-secret'))).webhookSecret);
    } catch (error) {
      setFailure(errorMessage(error));
    } finally {
      setBusy(false);
    }
  };

  return (
    <>
      <form onSubmit={save} noValidate className="settings-form">
        <fieldset>
          <legend>Tell me when an experiment…</legend>
          <div className="checkbox-row">
            {notificationEvents.map((name) => (
              <span className="inline-control" key={name}>
                <input
                  type="checkbox"
                  id={`event-${name}`}
                  checked={events.includes(name)}
                  onChange={(change) =>
                    setEvents(
                      notificationEvents.filter((candidate) =>
                        candidate === name ? change.target.checked : events.includes(candidate),
                      ),
                    )
                  }
                />
                <label htmlFor={`event-${name}`}>{name}</label>
              </span>
            ))}
          </div>
          {errors.events && <p className="field-error">{errors.events}</p>}
        </fieldset>
        <Field
          id="notify-email"
          label="Email address"
          error={errors.email}
          hint={
            settings.emailAvailable
              ? 'One address; leave it empty for no email.'
              : 'This Drover sends no email: its operator has not configured a mail server.'
          }
        >
          <input
            id="notify-email"
            type="email"
            autoComplete="email"
            value={email}
            disabled={!settings.emailAvailable}
            onChange={(change) => setEmail(change.target.value)}
            {...fieldIds('notify-email', true, errors.email)}
          />
        </Field>
        <Field
          id="notify-webhook"
          label="Webhook URL"
          error={errors.webhookUrl}
          hint="An http(s) address that gets a signed JSON POST per event; leave it empty for none."
        >
          <input
            id="notify-webhook"
            type="url"
            value={webhookUrl}
            placeholder="https://example.org/hooks/drover"
            onChange={(change) => setWebhookUrl(change.target.value)}
            {...fieldIds('notify-webhook', true, errors.webhookUrl)}
          />
        </Field>
        <FormActions busy={busy} status={status} failure={failure} />
      </form>
      <section aria-labelledby="secret-title" className="panel secret-panel">
        <h2 id="secret-title">Webhook secret</h2>
        <p>
          Each webhook carries <code>Drover-Signature: sha256=…</code>, the HMAC-SHA256 of{' '}
          <code>&lt;Drover-Timestamp&gt;.&lt;body&gt;</code> under this secret, and an <code>Idempotency-Key</code> that
          stays the same if it is sent again.
        </p>
        {secret ? (
          <div role="status">
            <p>Your new secret. Copy it now: it is not shown again.</p>
            <pre className="secret" tabIndex={0} aria-label="New webhook secret">
              {secret}
            </pre>
          </div>
        ) : (
          <p>
            {settings.webhookSecretSet
              ? 'You have a secret (shown once, when it was made).'
              : 'None yet: saving a webhook URL makes one.'}
          </p>
        )}
        <button type="button" onClick={rotate} disabled={busy}>
          Make a new secret
        </button>
      </section>
    </>
  );
}
