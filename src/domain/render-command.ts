/**
 * Builds a job's argv from an application's deployment and an experiment's inputs.
 * Substitution happens inside argv elements; quoting is the scheduler renderer's job,
 * which quotes every element whole.
 */
import {
  controlCharacterPattern,
  loneSurrogatePattern,
  type ApplicationSpec,
  type Deployment,
  type InputValue,
} from './application.ts';
import { ValidationError } from './errors.ts';

/** The deployment for `resource`, or the `*` fallback; throws when there is neither. */
export function deploymentFor(application: ApplicationSpec, resource: string): Deployment {
  const deployment = application.deployments[resource] ?? application.deployments['*'];
  if (!deployment) {
    throw new ValidationError(`application ${application.name} is not deployed on ${resource}`, [
      {
        field: 'resource',
        message: `not a deployment of ${application.name}; try ${Object.keys(application.deployments).join(', ')}`,
      },
    ]);
  }
  return deployment;
}

/**
 * Replaces `{{name}}` with input values (file inputs: their staged path, relative to the
 * working directory) and `{{apps}}` with the bundled programs' folder. One pass over the
 * deployment's text: a value that itself holds `{{other}}` is copied as it is, never
 * expanded again.
 */
export function renderArgv(
  deployment: Deployment,
  values: Record<string, InputValue>,
  stagedFiles: Record<string, string>,
  appsDir: string,
): string[] {
  return deployment.command.map((part) =>
    part.replace(/\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g, (_, name: string) => {
      if (name === 'apps') return appsDir;
      if (name in stagedFiles) return stagedFiles[name];
      const value = values[name];
      return value === undefined ? '' : String(value);
    }),
  );
}

/**
 * A file name safe to create inside a folder and to name in a job's argv: not empty, `.`
 * or `..`, at most 255 characters, no `/` or `\\`, no control character or line separator
 * (NUL included; see `controlCharacterPattern`), valid Unicode. Returns `name`, or null.
 */
export function safeFileName(name: string): string | null {
  if (!name || name.length > 255) return null;
  if (name === '.' || name === '..' || /[/\\]/.test(name)) return null;
  if (controlCharacterPattern.test(name) || loneSurrogatePattern.test(name)) return null;
  return name;
}
