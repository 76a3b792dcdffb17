/**
 * The gateway's storage: a local folder per gateway with uploads and, per experiment,
 * the outputs and logs brought back from the resource. Names never escape their folder.
 */
import { join, resolve, sep } from 'node:path';
import { safeFileName } from '../domain/render-command.ts';

/** Paths inside the storage root. */
export interface Storage {
  root: string;
  uploadPath(gatewayId: string, uploadId: string): string;
  experimentDir(gatewayId: string, experimentId: string): string;
  outputsDir(gatewayId: string, experimentId: string): string;
  /** Resolves a relative output path inside the outputs folder, or null if it escapes. */
  outputPath(gatewayId: string, experimentId: string, relative: string): string | null;
}

export function createStorage(root: string): Storage {
  const gatewayDir = (gatewayId: string) => join(root, safeFileName(gatewayId) ?? 'invalid');
  const experimentDir = (gatewayId: string, experimentId: string) =>
    join(gatewayDir(gatewayId), 'experiments', experimentId);
  const outputsDir = (gatewayId: string, experimentId: string) =>
    join(experimentDir(gatewayId, experimentId), 'outputs');
  return {
    root,
    uploadPath: (gatewayId, uploadId) => join(gatewayDir(gatewayId), 'uploads', uploadId),
    experimentDir,
    outputsDir,
    outputPath(gatewayId, experimentId, relative) {
      const base = outputsDir(gatewayId, experimentId);
      const target = resolve(base, relative);
      return target.startsWith(base + sep) ? target : null;
    },
  };
}
