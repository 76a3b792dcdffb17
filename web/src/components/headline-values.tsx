import type { HeadlineValue } from '../../../src/api-client/types';
import { formatHeadline } from '../format';

/**
 * The values the application declares to show first (read from its JSON outputs after
 * stage-out), each under its label; the exact value in a tooltip when rounded.
 */
export function HeadlineValues({ values }: { values: HeadlineValue[] }) {
  return (
    <dl className="headline-values">
      {values.map((headline) => (
        <div key={headline.name}>
          <dt>{headline.label}</dt>
          <dd title={typeof headline.value === 'number' ? String(headline.value) : undefined}>
            {formatHeadline(headline.value, headline.unit)}
          </dd>
        </div>
      ))}
    </dl>
  );
}
