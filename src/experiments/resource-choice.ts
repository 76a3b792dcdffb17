/**
 * The `auto` resource: a request that names `auto` instead of a resource is given the one,
 * among those its application is deployed on, expected to start it first
 * (domain/resource-choice.ts weighs them). The outlooks come from each scheduler
 * (`BatchScheduler.expectStart`: Slurm's `sbatch --test-only`, PBS's queue length, local at
 * once) and from Drover's own admission line there (state/resource-outlook.ts).
 */
import { ResourceUnreachableError, ValidationError } from '../domain/errors.ts';
import { deploymentFor } from '../domain/render-command.ts';
import { resolveJobSettings, type JobSettings, type ResourceSpec } from '../domain/resource.ts';
import { autoResource, chooseResource, type ResourceChoice, type ResourceOutlook } from '../domain/resource-choice.ts';
import type { ApplicationSpec } from '../domain/application.ts';
import type { BatchScheduler } from '../batch/port.ts';
import type { Principal } from '../catalogue/users.ts';
import { getCatalogueEntries, listResources } from '../catalogue/catalogue.ts';
import type { Queryable } from '../store/port.ts';
import { readLineOutlooks } from '../state/resource-outlook.ts';
import { admissionLimits } from './admission.ts';

/** Opens a resource's scheduler, to ask it when a job would start (the API's resource registry). */
export type SchedulerOpener = (resource: ResourceSpec) => Pick<BatchScheduler, 'expectStart'>;

/** What a request carries that bears on the choice. */
export interface AutoRequest {
  application: string;
  resource: string;
  queue?: string;
  nodes?: number;
  coresPerNode?: number;
  walltimeMinutes?: number;
  memoryMb?: number;
}

/**
 * The choice for each request that names `auto` (null for the others), made once per
 * distinct application and settings: the experiments of one bulk creation with the same
 * shape go to the same resource. A request for an application the gateway does not have
 * is left to the creation's own validation, which names it.
 *
 * @throws {ValidationError} when an `auto` request names a queue, or no deployment of its
 *   application can take its settings, or this process cannot reach schedulers.
 */
export async function chooseAutoResources(
  db: Queryable,
  principal: Principal,
  requests: readonly AutoRequest[],
  openScheduler: SchedulerOpener | undefined,
): Promise<Array<ResourceChoice | null>> {
  const auto = requests.filter((request) => request.resource === autoResource);
  if (auto.length === 0) return requests.map(() => null);
  if (auto.some((request) => request.queue !== undefined)) {
    throw new ValidationError('a queue belongs to one resource: name the resource, or leave the queue out', [
      { field: 'queue', message: `with resource ${autoResource}, each resource's deployment picks its queue` },
    ]);
  }
  if (!openScheduler) throw new Error('this Drover process cannot ask schedulers: resource auto is not available');
  const resources = await listResources(db, principal.gatewayId);
  const catalogue = await getCatalogueEntries(
    db,
    principal.gatewayId,
    [...new Set(auto.map((request) => request.application))],
    [],
  );
  const shapes = new Set(auto.map((request) => shapeKey(request)));
  if (shapes.size > maxAutoShapes) {
    throw new ValidationError(`resource ${autoResource} asks each resource's scheduler once per kind of request`, [
      {
        field: 'items',
        message: `at most ${maxAutoShapes} different applications and settings with resource ${autoResource} in one request, not ${shapes.size}: split it, or name the resources`,
      },
    ]);
  }
  const choices = new Map<string, Promise<ResourceChoice | null>>();
  return Promise.all(
    requests.map((request) => {
      if (request.resource !== autoResource) return null;
      const entry = catalogue.applications.get(request.application);
      if (!entry) return null;
      const key = shapeKey(request);
      if (!choices.has(key)) {
        const requested = {
          nodes: request.nodes,
          coresPerNode: request.coresPerNode,
          walltimeMinutes: request.walltimeMinutes,
          memoryMb: request.memoryMb,
        };
        const candidates = candidatesFor(entry.spec, entry.registeredByOperator, resources, requested);
        choices.set(key, weighCandidates(db, principal, candidates, openScheduler));
      }
      return choices.get(key)!;
    }),
  );
}

/** Distinct kinds of `auto` request in one creation at most: each kind asks every candidate's scheduler. */
const maxAutoShapes = 20;

function shapeKey(request: AutoRequest): string {
  return JSON.stringify([
    request.application,
    request.nodes,
    request.coresPerNode,
    request.walltimeMinutes,
    request.memoryMb,
  ]);
}

interface Candidate {
  resource: ResourceSpec;
  settings: JobSettings;
  account?: string;
}

/**
 * The resources `application` can run on with `requested` settings, by name (a `local` one
 * only for an application the platform operator registered).
 *
 * @throws {ValidationError} when there is none.
 */
function candidatesFor(
  application: ApplicationSpec,
  registeredByOperator: boolean,
  resources: readonly ResourceSpec[],
  requested: Partial<JobSettings>,
): Candidate[] {
  const ordered = resources.filter(
    (resource) => application.deployments[resource.name] ?? application.deployments['*'],
  );
  const candidates = ordered.flatMap((resource): Candidate[] => {
    if (resource.kind === 'local' && !registeredByOperator) return [];
    const deployment = deploymentFor(application, resource.name);
    const { settings, problems } = resolveJobSettings(resource, deployment, requested);
    return problems.length === 0 ? [{ resource, settings, account: deployment.account }] : [];
  });
  if (candidates.length === 0) {
    throw new ValidationError(`no resource can run ${application.name} with these settings`, [
      {
        field: 'resource',
        message: `none of ${application.name}'s deployments takes these settings: name a resource (GET /api/v1/resources) or ask for less`,
      },
    ]);
  }
  return candidates;
}

/** Asks every candidate's scheduler at once and weighs them with Drover's own line. */
async function weighCandidates(
  db: Queryable,
  principal: Principal,
  candidates: readonly Candidate[],
  openScheduler: SchedulerOpener,
): Promise<ResourceChoice> {
  const lines = await readLineOutlooks(
    db,
    principal.gatewayId,
    principal.userId,
    candidates.map((candidate) => ({ resource: candidate.resource.name, queue: candidate.settings.queue })),
  );
  const outlooks = await Promise.all(
    candidates.map(async ({ resource, settings, account }, index): Promise<ResourceOutlook> => {
      const line = lines[index];
      const limits = admissionLimits(resource, settings.queue);
      const full =
        limits !== undefined &&
        ((limits.maxJobsPerUser !== undefined && line.ownerActive >= limits.maxJobsPerUser) ||
          (limits.maxActiveJobs !== undefined && line.queueActive >= limits.maxActiveJobs));
      return {
        resource: resource.name,
        droverAhead: (limits ? line.waiting : 0) + (full ? 1 : 0),
        active: line.resourceActive,
        typicalRunSeconds: line.recentRunSeconds ?? settings.walltimeMinutes * 60,
        typicalRunBasis: line.recentRunSeconds === null ? 'walltime' : 'recent runs',
        scheduler: await askScheduler(openScheduler, resource, settings, account),
      };
    }),
  );
  return chooseResource(outlooks);
}

async function askScheduler(
  openScheduler: SchedulerOpener,
  resource: ResourceSpec,
  settings: JobSettings,
  account: string | undefined,
): Promise<ResourceOutlook['scheduler']> {
  try {
    return await openScheduler(resource).expectStart({ ...settings, account });
  } catch (error) {
    // A cluster's message, into an event: one line, without control characters, bounded.
    const message = (error as Error).message
      .replace(/[\p{Cc}\s]+/gu, ' ')
      .trim()
      .slice(0, 300);
    return { unanswered: error instanceof ResourceUnreachableError ? `did not answer (${message})` : message };
  }
}
