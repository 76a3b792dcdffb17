/**
 * Builds a job's argv from an application's deployment and an experiment's inputs.
 * Substitution happens inside argv elements; quoting is the scheduler renderer's job,
 * which quotes every element whole.
 */
import type { ApplicationSpec, Deployment, InputValue } from './application.ts';
import { InputError } from './errors.ts';

/** The deployment for `resource`, or the `*` fallback; throws when there is neither. */
export function deploymentFor(application: ApplicationSpec, resource: string): Deployment {
  const deployment = application.deployments[resource] ?? application.deployments['*'];
  if (!deployment) {
    throw new InputError(`application ${application.name} is not deployed on ${resource}`, 400, [
      { field: 'resource', message: `not a deployment of ${application.name}; try ${Object.keys(application.deployments).join(', ')}` },
    ]);
  }
  return deployment;
}

/**
 * Replaces `{{name}}` with input values (file inputs: their staged path, relative to the
 * working directory) and `{{apps}}` with the bundled programs' folder.
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

/** A file name safe to create inside a folder: no separators, no `..`, no control characters. */
export function safeFileName(name: string): string | null {
  if (!name || name.length > 255) return null;
  if (name === '.' || name === '..' || /[/\\\0-\x1f]/.test(name)) return null;
  return name;
}
