/**
 * The catalogue file: a YAML list of applications and resources that `drover up` and
 * `drover api` load into a gateway at start (`--catalogue`), as the platform operator.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { ValidationError } from '../domain/errors.ts';
import type { Queryable } from '../store/port.ts';
import { upsertApplication, upsertResource } from './catalogue.ts';

/** A catalogue file: applications and resources for one gateway. */
export interface CatalogueFile {
  gateway?: { id?: string; name?: string; theme?: Record<string, string> };
  resources?: unknown[];
  applications?: unknown[];
}

/**
 * Loads a YAML catalogue into a gateway, as the platform operator (the files are the operator's). `${scratch}` in a resource's scratchDir is
 * replaced by `scratchRoot`, so the demo catalogue works in any data folder.
 */
export async function loadCatalogueFile(
  db: Queryable,
  gatewayId: string,
  path: string,
  scratchRoot: string,
): Promise<{ applications: number; resources: number }> {
  let file: CatalogueFile;
  try {
    file = (parseYaml(readFileSync(path, 'utf8')) ?? {}) as CatalogueFile;
  } catch (error) {
    throw new ValidationError(`cannot read catalogue ${path}: ${(error as Error).message}`);
  }
  for (const resource of file.resources ?? []) {
    const withScratch = JSON.parse(
      JSON.stringify(resource).replaceAll('${scratch}', scratchRoot.replaceAll('\\', '\\\\')),
    );
    await upsertResource(db, gatewayId, withScratch, { operator: true });
  }
  for (const application of file.applications ?? [])
    await upsertApplication(db, gatewayId, application, { operator: true });
  return { applications: file.applications?.length ?? 0, resources: file.resources?.length ?? 0 };
}
