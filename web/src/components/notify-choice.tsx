import type { ExperimentNotify, NotificationSettings } from '../../../src/api-client/types';
import { notificationEvents } from '../../../src/api-client/constants';

/** Props of {@link NotifyChoice}. */
export interface NotifyChoiceProps {
  /** Ids are made from it, so two choices on one page never clash. */
  id: string;
  /** The experiment's own choice; null follows the user's defaults. */
  value: ExperimentNotify | null;
  /** The user's defaults, to say what following them means (undefined while loading). */
  defaults: NotificationSettings | undefined;
  onChange(value: ExperimentNotify | null): void;
}

/** "started, completed" or "no event". */
export function describeEvents(events: readonly string[]): string {
  return events.length === 0 ? 'no event' : events.join(', ');
}

/** Where the defaults send: "by email and webhook", or that nothing is set up. */
export function describeChannels(defaults: NotificationSettings | undefined): string {
  const channels = [defaults?.email ? 'email' : '', defaults?.webhookUrl ? 'webhook' : ''].filter(Boolean);
  return channels.length === 0 ? 'nowhere yet (no email address or webhook set)' : `by ${channels.join(' and ')}`;
}

/**
 * An experiment's notifications: follow the user's defaults, or choose its events and
 * channels. A fieldset of its own, for the new-experiment form and the experiment page.
 */
export function NotifyChoice({ id, value, defaults, onChange }: NotifyChoiceProps) {
  const own = value !== null;
  const events = value?.events ?? defaults?.events ?? [];
  const toggleEvent = (event: (typeof notificationEvents)[number], on: boolean) =>
    onChange({
      ...value,
      events: notificationEvents.filter((candidate) => (candidate === event ? on : events.includes(candidate))),
    });
  return (
    <fieldset className="notify-choice">
      <legend>Notifications</legend>
      <div className="field inline">
        <div className="inline-control">
          <input
            type="radio"
            id={`${id}-defaults`}
            name={`${id}-mode`}
            checked={!own}
            onChange={() => onChange(null)}
          />
          <label htmlFor={`${id}-defaults`}>
            My defaults: {describeEvents(defaults?.events ?? [])}, {describeChannels(defaults)}
          </label>
        </div>
      </div>
      <div className="field inline">
        <div className="inline-control">
          <input
            type="radio"
            id={`${id}-own`}
            name={`${id}-mode`}
            checked={own}
            onChange={() => onChange({ events: [...events] })}
          />
          <label htmlFor={`${id}-own`}>Choose for this experiment</label>
        </div>
      </div>
      {own && (
        <div className="notify-own">
          <p className="hint" id={`${id}-events-hint`}>
            Tell me when it…
          </p>
          <div className="checkbox-row" role="group" aria-describedby={`${id}-events-hint`}>
            {notificationEvents.map((event) => (
              <span className="inline-control" key={event}>
                <input
                  type="checkbox"
                  id={`${id}-event-${event}`}
                  checked={events.includes(event)}
                  onChange={(change) => toggleEvent(event, change.target.checked)}
                />
                <label htmlFor={`${id}-event-${event}`}>{event}</label>
              </span>
            ))}
          </div>
          <div className="checkbox-row">
            {(['email', 'webhook'] as const).map((channel) => (
              <span className="inline-control" key={channel}>
                <input
                  type="checkbox"
                  id={`${id}-${channel}`}
                  checked={value?.[channel] !== false}
                  onChange={(change) => onChange({ ...value, [channel]: change.target.checked })}
                />
                <label htmlFor={`${id}-${channel}`}>by {channel}</label>
              </span>
            ))}
          </div>
        </div>
      )}
    </fieldset>
  );
}
