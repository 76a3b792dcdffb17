/**
 * JSON Schemas of what the API answers, registered by `$id` so that the OpenAPI document
 * names them (`components.schemas.Experiment` ...) and clients generate their types from
 * it (the web UI does: `npm run generate:api`). They document; they do not filter: the
 * server serializes with plain JSON.stringify (see server.ts).
 */
import { activeExperimentStates, experimentStates, terminalExperimentStates } from '../domain/experiment.ts';
import { defaultJobSettings } from '../domain/resource.ts';
import { jobStates } from '../domain/job.ts';
import { taskKinds, taskStates } from '../domain/task.ts';
import { inputTypes } from '../domain/application.ts';
import { headlineFileLimitBytes, headlineTextLimit } from '../domain/headline-values.ts';
import { maxSweepElements, sweepCombinations } from '../domain/sweep.ts';
import { attemptOutcomes, deliveryStates, notificationChannels, notificationEvents } from '../domain/notification.ts';

const nullable = (schema: Record<string, unknown>) => ({ anyOf: [schema, { type: 'null' }] });
/** A page of a cursor-paged list: `items` of schema `item`, and the `nextCursor` to pass as `cursor` (null on the last). */
const pageOf = (id: string, item: string) => ({
  $id: id,
  type: 'object',
  required: ['items', 'nextCursor'],
  properties: {
    items: { type: 'array', items: { $ref: `${item}#` } },
    nextCursor: nullable({ type: 'string' }),
  },
});
const time = { type: 'string', format: 'date-time' } as const;
const inputValue = { anyOf: [{ type: 'string' }, { type: 'number' }, { type: 'boolean' }] } as const;

/** A reference to a registered schema, for route `response` maps. */
export const ref = (id: SchemaId) => ({ $ref: `${id}#` });

const schemas = [
  {
    $id: 'Problem',
    type: 'object',
    description: 'RFC 9457 problem details; `errors` names each bad field',
    required: ['type', 'title', 'status'],
    properties: {
      type: { type: 'string' },
      title: { type: 'string' },
      status: { type: 'integer' },
      detail: { type: 'string' },
      errors: {
        type: 'array',
        items: {
          type: 'object',
          required: ['field', 'message'],
          properties: { field: { type: 'string' }, message: { type: 'string' } },
        },
      },
    },
  },
  {
    $id: 'Failure',
    type: 'object',
    required: ['code', 'message'],
    properties: { code: { type: 'string' }, message: { type: 'string' }, retryable: { type: 'boolean' } },
  },
  {
    $id: 'ExperimentSummary',
    type: 'object',
    required: [
      'id',
      'name',
      'owner',
      'application',
      'applicationVersion',
      'resource',
      'state',
      'blockedReason',
      'blockedUntil',
      'failure',
      'parentId',
      'createdAt',
      'updatedAt',
      'launchedAt',
      'finishedAt',
      'headlineValues',
      'progress',
      'waiting',
      'priority',
      'sweep',
    ],
    properties: {
      id: { type: 'string', format: 'uuid' },
      name: { type: 'string' },
      owner: { type: 'string' },
      application: { type: 'string' },
      applicationVersion: { type: 'string' },
      resource: { type: 'string' },
      state: { type: 'string', enum: [...experimentStates] },
      blockedReason: nullable({ type: 'string' }),
      blockedUntil: nullable(time),
      failure: nullable({ $ref: 'Failure#' }),
      parentId: nullable({ type: 'string', format: 'uuid' }),
      createdAt: time,
      updatedAt: time,
      launchedAt: nullable(time),
      finishedAt: nullable(time),
      headlineValues: {
        type: 'array',
        items: { $ref: 'HeadlineValue#' },
        description:
          "The application's headline values, read from its JSON outputs after stage-out, in the order it declares them; empty before",
      },
      progress: nullable({
        description:
          "How far the program in the experiment's latest job says it is (see the README, Progress from inside the job), with what a progress bar and an estimated end need; null until the program reports progress",
        allOf: [{ $ref: 'ProgressReport#' }],
        type: 'object',
        required: ['jobStartedAt', 'jobEndedAt', 'walltimeMinutes'],
        properties: {
          jobStartedAt: nullable(time),
          jobEndedAt: nullable(time),
          walltimeMinutes: nullable({ type: 'number' }),
        },
      }),
      priority: {
        type: 'integer',
        minimum: -5,
        maximum: 5,
        description:
          "The owner's priority for it among their own experiments waiting on the same queue (higher first); it does not go before other users'",
      },
      sweep: nullable({
        type: 'object',
        description:
          'The parameter sweep this experiment is an element of (GET /sweeps/{id}); null for an experiment of its own',
        required: ['id', 'index'],
        properties: {
          id: { type: 'string', format: 'uuid' },
          index: { type: 'integer', minimum: 0, description: 'Its element index in the sweep (0 first)' },
        },
      }),
      waiting: nullable({
        type: 'object',
        description:
          "Why a launched experiment has not started: a limit of its queue is reached (see the README, When experiments start). It starts by itself when a place frees; null when it is not waiting, and for the second or so before the controller's first look at a new launch",
        required: ['reason', 'place'],
        properties: {
          reason: { type: 'string', description: 'What it waits for, in words' },
          place: {
            type: 'integer',
            minimum: 1,
            description:
              'Its place in line among the waiting experiments of the same owner, resource and queue (1: next)',
          },
        },
      }),
    },
  },
  {
    $id: 'ProgressReport',
    type: 'object',
    description: 'What a running program last reported about its progress',
    required: ['fraction', 'current', 'total', 'message', 'updatedAt'],
    properties: {
      fraction: nullable({
        type: 'number',
        minimum: 0,
        maximum: 1,
        description: 'How far, 0 to 1, when the program said',
      }),
      current: nullable({ type: 'number' }),
      total: nullable({ type: 'number' }),
      message: nullable({ type: 'string', description: "The program's own words about where it is" }),
      updatedAt: { ...time, description: 'When Drover last saw the progress change' },
    },
  },
  {
    $id: 'JobProgress',
    type: 'object',
    allOf: [{ $ref: 'ProgressReport#' }],
    required: ['values'],
    properties: {
      values: {
        type: 'object',
        description: 'Named values the program reported, latest value of each (at most 24)',
        additionalProperties: { anyOf: [{ type: 'number' }, { type: 'string' }] },
      },
    },
  },
  {
    $id: 'HeadlineValue',
    type: 'object',
    required: ['name', 'label', 'unit', 'value'],
    properties: {
      name: { type: 'string' },
      label: { type: 'string' },
      unit: nullable({ type: 'string' }),
      value: {
        anyOf: [{ type: 'number' }, { type: 'string' }, { type: 'boolean' }, { type: 'null' }],
        description: `Null when the output or the path in it was missing or held no number, text or boolean; text is cut to ${headlineTextLimit} characters`,
      },
    },
  },
  {
    $id: 'TerminalExperimentState',
    type: 'string',
    description: 'The states an experiment ends in: nothing changes after one',
    enum: [...terminalExperimentStates],
  },
  {
    $id: 'ActiveExperimentState',
    type: 'string',
    description: "Launched and not yet ended: what counts against a queue's maxJobsPerUser",
    enum: [...activeExperimentStates],
  },
  {
    $id: 'JobSettings',
    type: 'object',
    description:
      "Each setting is the request's, else the deployment's, else (queue) the resource's first queue, else the default shown",
    required: ['queue', 'nodes', 'coresPerNode', 'walltimeMinutes'],
    properties: {
      queue: { type: 'string' },
      nodes: { type: 'integer', default: defaultJobSettings.nodes },
      coresPerNode: { type: 'integer', default: defaultJobSettings.coresPerNode },
      walltimeMinutes: { type: 'number', default: defaultJobSettings.walltimeMinutes },
      memoryMb: { type: 'integer' },
    },
  },
  {
    $id: 'Task',
    type: 'object',
    required: ['id', 'kind', 'state', 'attempt', 'dependsOn', 'failure', 'startedAt', 'finishedAt'],
    properties: {
      id: { type: 'integer' },
      kind: {
        type: 'string',
        enum: [...taskKinds],
        description: 'The step of the experiment DAG it runs; noop is internal (benchmarks and tests plan it)',
      },
      state: { type: 'string', enum: [...taskStates] },
      attempt: { type: 'integer', description: 'Attempts started so far' },
      dependsOn: {
        type: 'array',
        items: { type: 'integer' },
        description: 'Ids of the tasks this one waits for (the DAG)',
      },
      failure: nullable({ $ref: 'Failure#' }),
      startedAt: nullable(time),
      finishedAt: nullable(time),
    },
  },
  {
    $id: 'Job',
    type: 'object',
    required: [
      'id',
      'resource',
      'submissionKey',
      'nativeId',
      'state',
      'nativeState',
      'reason',
      'exitCode',
      'queue',
      'nodeList',
      'submittedAt',
      'startedAt',
      'endedAt',
      'progress',
    ],
    properties: {
      id: { type: 'integer' },
      resource: { type: 'string' },
      submissionKey: {
        type: 'string',
        description: 'Carried by the job on the scheduler (job name); a retried submit adopts a job with its key',
      },
      nativeId: nullable({ type: 'string' }),
      state: { type: 'string', enum: [...jobStates] },
      nativeState: nullable({
        type: 'string',
        description: "The scheduler's own word: PENDING, RUNNING, COMPLETED, Q, R, C, exited ...",
      }),
      reason: nullable({
        type: 'string',
        description: 'Why the job waits or ended, when the scheduler says (Priority, Resources, TimeLimit ...)',
      }),
      exitCode: nullable({ type: 'integer' }),
      queue: nullable({ type: 'string' }),
      nodeList: nullable({ type: 'string' }),
      workdir: { type: 'string' },
      submittedAt: time,
      startedAt: nullable(time),
      endedAt: nullable(time),
      progress: nullable({ $ref: 'JobProgress#' }),
    },
  },
  {
    $id: 'Experiment',
    type: 'object',
    allOf: [{ $ref: 'ExperimentSummary#' }],
    required: [
      'inputs',
      'inputFiles',
      'settings',
      'changedInputs',
      'resourceChoice',
      'tasks',
      'job',
      'lastEventSeq',
      'notify',
      'run',
      'resubmits',
    ],
    properties: {
      inputs: {
        type: 'object',
        additionalProperties: inputValue,
        description: 'Input name to value; a file input holds its upload id',
      },
      inputFiles: {
        type: 'object',
        additionalProperties: { type: 'string' },
        description: 'File input name to the name of the file uploaded for it',
      },
      settings: { $ref: 'JobSettings#' },
      changedInputs: {
        type: 'array',
        items: { type: 'string' },
        description: "Inputs that differ from the parent's (clones)",
      },
      resourceChoice: nullable({
        type: 'string',
        description:
          'Why Drover chose its resource, for an experiment created with resource `auto`: each candidate and what its scheduler and Drover expected (null otherwise)',
      }),
      tasks: { type: 'array', items: { $ref: 'Task#' } },
      job: nullable({ $ref: 'Job#' }),
      lastEventSeq: { type: 'integer' },
      notify: nullable({ $ref: 'ExperimentNotify#' }),
      run: {
        type: 'integer',
        minimum: 1,
        description: 'Which run it is in: 1, then one more each time the failed experiment is resumed',
      },
      resubmits: {
        type: 'integer',
        minimum: 0,
        description:
          'How many times its job was resubmitted automatically in this run, with more walltime or memory (the application sets the cap)',
      },
    },
  },
  {
    $id: 'ExperimentNotify',
    type: 'object',
    description: "An experiment's own choice of notifications over its owner's defaults; a key left out follows them",
    properties: {
      events: { type: 'array', items: { $ref: 'NotificationEvent#' } },
      email: { type: 'boolean', description: 'false: no email for this experiment' },
      webhook: { type: 'boolean', description: 'false: no webhook for this experiment' },
    },
  },
  {
    $id: 'NotificationEvent',
    type: 'string',
    enum: [...notificationEvents],
    description: 'started: queued -> executing; completed, failed, canceled: how it ended',
  },
  {
    $id: 'NotificationSettings',
    type: 'object',
    required: ['events', 'email', 'webhookUrl', 'webhookSecretSet', 'emailAvailable', 'updatedAt'],
    description: 'Your notification defaults: which events notify you, and where to',
    properties: {
      events: { type: 'array', items: { $ref: 'NotificationEvent#' } },
      email: nullable({ type: 'string', description: 'One email address' }),
      webhookUrl: nullable({ type: 'string', description: 'An http(s) URL that gets a signed POST per event' }),
      webhookSecretSet: { type: 'boolean', description: 'You have a webhook signing secret (shown once, when made)' },
      emailAvailable: { type: 'boolean', description: 'This Drover can send email (its operator configured SMTP)' },
      updatedAt: nullable(time),
      webhookSecret: {
        type: 'string',
        description: 'The new webhook signing secret: only in the answer that made it, never again',
      },
    },
  },
  {
    $id: 'WebhookSecret',
    type: 'object',
    required: ['webhookSecret'],
    properties: {
      webhookSecret: {
        type: 'string',
        description: 'The HMAC-SHA256 key of Drover-Signature (its UTF-8 bytes); shown this once',
      },
    },
  },
  {
    $id: 'DeliveryAttempt',
    type: 'object',
    required: ['attempt', 'startedAt', 'finishedAt', 'outcome', 'status', 'error'],
    properties: {
      attempt: { type: 'integer' },
      startedAt: time,
      finishedAt: nullable(time),
      outcome: { type: 'string', enum: [...attemptOutcomes] },
      status: nullable({ type: 'string', description: "The HTTP status or the mail server's reply" }),
      error: nullable({ type: 'string' }),
    },
  },
  {
    $id: 'Delivery',
    type: 'object',
    description: 'One notification: an event of an experiment on one channel, with every attempt',
    required: [
      'id',
      'eventId',
      'experimentId',
      'experimentName',
      'event',
      'channel',
      'target',
      'state',
      'attempts',
      'lastStatus',
      'lastError',
      'occurredAt',
      'nextAttemptAt',
      'deliveredAt',
      'attemptLog',
    ],
    properties: {
      id: { type: 'string', format: 'uuid', description: 'Also the Idempotency-Key every attempt carried' },
      eventId: { type: 'string', description: '<experiment id>:<event seq>' },
      experimentId: { type: 'string', format: 'uuid' },
      experimentName: { type: 'string' },
      event: { $ref: 'NotificationEvent#' },
      channel: { type: 'string', enum: [...notificationChannels] },
      target: { type: 'string', description: 'The email address or webhook URL' },
      state: { type: 'string', enum: [...deliveryStates] },
      attempts: { type: 'integer' },
      lastStatus: nullable({ type: 'string' }),
      lastError: nullable({ type: 'string' }),
      occurredAt: time,
      nextAttemptAt: nullable(time),
      deliveredAt: nullable(time),
      attemptLog: { type: 'array', items: { $ref: 'DeliveryAttempt#' } },
    },
  },
  pageOf('DeliveryPage', 'Delivery'),
  pageOf('ExperimentPage', 'ExperimentSummary'),
  {
    $id: 'Variation',
    type: 'object',
    description:
      'How one input varies: a list of `values`, or a `range` from `from` to `to` (inclusive) by `step` (number and integer inputs)',
    properties: {
      values: { type: 'array', items: inputValue, minItems: 1, maxItems: maxSweepElements },
      range: {
        type: 'object',
        required: ['from', 'to', 'step'],
        properties: { from: { type: 'number' }, to: { type: 'number' }, step: { type: 'number', exclusiveMinimum: 0 } },
      },
    },
  },
  {
    $id: 'SweepSummary',
    type: 'object',
    required: [
      'id',
      'name',
      'owner',
      'application',
      'resource',
      'inputs',
      'vary',
      'combine',
      'settings',
      'parentId',
      'createdAt',
      'elementCount',
      'counts',
      'finished',
    ],
    properties: {
      id: { type: 'string', format: 'uuid' },
      name: { type: 'string' },
      owner: { type: 'string' },
      application: { type: 'string' },
      resource: { type: 'string' },
      inputs: { type: 'object', additionalProperties: inputValue, description: 'The inputs every element shares' },
      vary: {
        type: 'object',
        additionalProperties: { $ref: 'Variation#' },
        description: 'What varies, per input name, as asked',
      },
      combine: {
        type: 'string',
        enum: [...sweepCombinations],
        description: '`product`: every combination of the varied values; `zip`: the i-th value of each together',
      },
      settings: {
        type: 'object',
        description:
          'What the elements were created with besides inputs (queue, nodes, ..., priority, notify), as asked',
        additionalProperties: true,
      },
      parentId: nullable({ type: 'string', format: 'uuid', description: 'The sweep this one was cloned from' }),
      createdAt: time,
      elementCount: { type: 'integer', minimum: 1, maximum: maxSweepElements },
      counts: {
        type: 'object',
        description:
          'How many elements (the newest experiment at each index) are in each state; states with none left out',
        propertyNames: { enum: [...experimentStates] },
        additionalProperties: { type: 'integer', minimum: 1 },
      },
      finished: {
        type: 'integer',
        minimum: 0,
        description: 'How many elements have ended (completed, failed or canceled)',
      },
    },
  },
  {
    $id: 'SweepElement',
    type: 'object',
    required: ['index', 'inputs', 'experiment', 'previous'],
    properties: {
      index: { type: 'integer', minimum: 0 },
      inputs: { type: 'object', additionalProperties: inputValue, description: "This element's varied inputs" },
      experiment: { $ref: 'ExperimentSummary#', description: 'The newest experiment at this index' },
      previous: {
        type: 'array',
        items: { type: 'string', format: 'uuid' },
        description: 'Older experiments at this index (each failed and was resubmitted), newest first',
      },
    },
  },
  {
    $id: 'Sweep',
    type: 'object',
    allOf: [{ $ref: 'SweepSummary#' }],
    required: ['elements'],
    properties: { elements: { type: 'array', items: { $ref: 'SweepElement#' } } },
  },
  pageOf('SweepPage', 'SweepSummary'),
  {
    $id: 'SweepAction',
    type: 'object',
    required: ['sweep', 'count'],
    description: 'What a bulk action did, and the sweep as it is now',
    properties: {
      count: { type: 'integer', minimum: 0, description: 'How many elements it launched, canceled or resubmitted' },
      sweep: { $ref: 'Sweep#' },
    },
  },
  {
    $id: 'ExperimentBatch',
    type: 'object',
    required: ['items'],
    description: 'The experiments a bulk creation made, in the order of its items',
    properties: { items: { type: 'array', items: { $ref: 'ExperimentSummary#' } } },
  },
  {
    $id: 'Event',
    type: 'object',
    required: ['experimentId', 'seq', 'at', 'entity', 'entityId', 'label', 'fromState', 'toState', 'message'],
    properties: {
      experimentId: { type: 'string', format: 'uuid' },
      seq: { type: 'integer', description: 'Gapless, from 1, per experiment' },
      at: time,
      entity: { type: 'string', enum: ['experiment', 'task', 'job'] },
      entityId: { type: 'string' },
      label: nullable({ type: 'string', description: 'Task kind or native job id' }),
      fromState: nullable({ type: 'string' }),
      toState: nullable({ type: 'string' }),
      message: nullable({ type: 'string' }),
      data: {},
    },
  },
  {
    $id: 'EventList',
    type: 'object',
    required: ['items'],
    properties: { items: { type: 'array', items: { $ref: 'Event#' } } },
  },
  {
    $id: 'Input',
    type: 'object',
    required: ['name', 'type'],
    properties: {
      name: { type: 'string' },
      type: {
        type: 'string',
        enum: [...inputTypes],
        description: '`string`: one line, no control characters; `text`: multi-line (line breaks and tabs allowed)',
      },
      title: { type: 'string' },
      description: { type: 'string' },
      required: { type: 'boolean' },
      default: inputValue,
      minimum: { type: 'number' },
      maximum: { type: 'number' },
      values: { type: 'array', items: { type: 'string' } },
      maxLength: { type: 'integer' },
    },
  },
  {
    $id: 'Deployment',
    type: 'object',
    required: ['command'],
    properties: {
      environmentSetup: { type: 'array', items: { type: 'string' } },
      command: { type: 'array', items: { type: 'string' } },
      queue: { type: 'string' },
      nodes: { type: 'integer' },
      coresPerNode: { type: 'integer' },
      memoryMb: { type: 'integer' },
      walltimeMinutes: { type: 'number' },
      account: { type: 'string' },
      resubmit: { $ref: 'ResubmitPolicy#' },
    },
  },
  {
    $id: 'ResubmitPolicy',
    type: 'object',
    description:
      "Resubmit a job that ran past its walltime or out of memory, with more, within the queue's limits (README, Resume and automatic resubmit)",
    required: ['attempts'],
    properties: {
      attempts: { type: 'integer', minimum: 1, maximum: 10, description: 'Automatic resubmits in one run' },
      memoryFactor: {
        type: 'number',
        exclusiveMinimum: 1,
        maximum: 16,
        description: 'Memory times this after the job ran out of it (default 2)',
      },
      walltimeFactor: {
        type: 'number',
        exclusiveMinimum: 1,
        maximum: 16,
        description: 'Walltime times this after the job ran past it (default 2)',
      },
    },
  },
  {
    $id: 'Application',
    type: 'object',
    required: ['name', 'version', 'title', 'inputs', 'outputs', 'deployments'],
    properties: {
      name: { type: 'string' },
      version: { type: 'string' },
      title: { type: 'string' },
      description: { type: 'string' },
      inputs: { type: 'array', items: { $ref: 'Input#' } },
      outputs: { type: 'array', items: { type: 'string' }, description: 'Glob patterns of the files brought back' },
      progress: {
        type: 'object',
        description:
          "How the program prints its progress when it does not print Drover's own `::drover progress` lines: a line template",
        required: ['pattern'],
        properties: {
          pattern: {
            type: 'string',
            description:
              'Literal text with placeholders: {current} and {total}, or {percent}, for the bar; {message} (last) for its words; any other {name} is a named value. Example: `step {current}/{total} t={t}`',
          },
        },
      },
      deployments: {
        type: 'object',
        additionalProperties: { $ref: 'Deployment#' },
        description: 'Per resource name; "*" for any',
      },
      headlineValues: {
        type: 'array',
        items: { $ref: 'HeadlineValueDefinition#' },
        description: 'Values read from JSON outputs after stage-out, shown on the experiment and in lists (at most 20)',
      },
      resubmit: { $ref: 'ResubmitPolicy#' },
    },
  },
  {
    $id: 'HeadlineValueDefinition',
    type: 'object',
    required: ['name', 'label', 'file', 'path'],
    properties: {
      name: { type: 'string', description: 'An identifier, unique in the application' },
      label: { type: 'string' },
      unit: { type: 'string' },
      file: {
        type: 'string',
        description: `A JSON output (relative to the job's working directory) that outputs brings back; read up to ${headlineFileLimitBytes / 1024 / 1024} MiB`,
      },
      path: { type: 'string', description: 'Keys joined by dots: final.mean, series.0' },
    },
  },
  {
    $id: 'ApplicationList',
    type: 'object',
    required: ['items'],
    properties: { items: { type: 'array', items: { $ref: 'Application#' } } },
  },
  {
    $id: 'Queue',
    type: 'object',
    required: ['name', 'maxWalltimeMinutes', 'maxCores'],
    properties: {
      name: { type: 'string' },
      maxWalltimeMinutes: { type: 'number' },
      maxCores: { type: 'integer' },
      maxNodes: { type: 'integer' },
      maxMemoryMb: {
        type: 'integer',
        description: 'The most memory (MB) a job may ask for; an automatic resubmit never asks for more',
      },
      maxJobsPerUser: {
        type: 'integer',
        description:
          'Active experiments one user may have on this queue at once; more wait queued (README, When experiments start)',
      },
      maxActiveJobs: {
        type: 'integer',
        description: 'Active experiments of all users on this queue at once; more wait queued, in fair-share order',
      },
      maxActiveCores: {
        type: 'integer',
        description: 'Cores (nodes x cores per node) of the active experiments on this queue at once',
      },
    },
  },
  {
    $id: 'Resource',
    type: 'object',
    required: ['name', 'kind', 'config'],
    properties: {
      name: { type: 'string' },
      kind: { type: 'string', enum: ['local', 'slurm', 'pbs'] },
      config: {
        type: 'object',
        required: ['scratchDir', 'queues'],
        properties: {
          scratchDir: { type: 'string' },
          queues: { type: 'array', items: { $ref: 'Queue#' } },
          pollIntervalSeconds: { type: 'number' },
          ssh: {
            type: 'object',
            description: 'How Drover logs in to the login node (key and host key settings for admins only)',
            required: ['host', 'user'],
            properties: {
              host: { type: 'string' },
              port: { type: 'integer' },
              user: { type: 'string' },
              privateKeyPath: { type: 'string' },
              knownHostsPath: { type: 'string' },
              hostKey: { type: 'string' },
              maxSessions: { type: 'integer' },
            },
          },
        },
      },
    },
  },
  {
    $id: 'ResourceList',
    type: 'object',
    required: ['items'],
    properties: { items: { type: 'array', items: { $ref: 'Resource#' } } },
  },
  {
    $id: 'Me',
    type: 'object',
    required: ['user', 'gateway'],
    properties: {
      user: {
        type: 'object',
        required: ['id', 'name', 'role', 'operator'],
        properties: {
          id: { type: 'string' },
          name: { type: 'string' },
          role: { type: 'string', enum: ['user', 'admin'] },
          operator: {
            type: 'boolean',
            description: 'The platform operator: creates gateways and owns the Drover host',
          },
        },
      },
      gateway: { $ref: 'Gateway#' },
    },
  },
  {
    $id: 'Gateway',
    type: 'object',
    required: ['id', 'name', 'theme'],
    properties: {
      id: { type: 'string' },
      name: { type: 'string' },
      theme: {
        type: 'object',
        additionalProperties: { type: 'string' },
        description: 'Colours: primary, accent, background, text ...',
      },
    },
  },
  {
    $id: 'Upload',
    type: 'object',
    required: ['id', 'filename', 'size'],
    properties: {
      id: { type: 'string', format: 'uuid', description: 'The value of a file input' },
      filename: { type: 'string' },
      size: { type: 'integer' },
    },
  },
  {
    $id: 'OutputList',
    type: 'object',
    required: ['items'],
    properties: {
      items: {
        type: 'array',
        items: {
          type: 'object',
          required: ['path', 'size', 'mediaType'],
          properties: {
            path: { type: 'string' },
            size: { type: 'integer' },
            mediaType: {
              type: 'string',
              description:
                'What downloadOutput answers with: image/png, image/jpeg, image/gif, image/webp, text/plain, text/csv, text/tab-separated-values, application/json, else application/octet-stream (SVG and HTML too)',
            },
          },
        },
      },
    },
  },
  {
    $id: 'NewUser',
    type: 'object',
    required: ['id', 'name', 'role', 'token'],
    properties: {
      id: { type: 'string' },
      name: { type: 'string' },
      role: { type: 'string', enum: ['user', 'admin'] },
      token: { type: 'string', description: 'Shown once; stored hashed' },
    },
  },
  {
    $id: 'GatewayListing',
    type: 'object',
    required: ['id', 'name', 'theme', 'disabled', 'createdAt'],
    properties: {
      id: { type: 'string' },
      name: { type: 'string' },
      theme: { type: 'object', additionalProperties: { type: 'string' } },
      disabled: { type: 'boolean', description: "A disabled gateway's tokens are refused" },
      createdAt: { type: 'string', format: 'date-time' },
    },
  },
  {
    $id: 'GatewayList',
    type: 'object',
    required: ['items'],
    properties: { items: { type: 'array', items: { $ref: 'GatewayListing#' } } },
  },
  {
    $id: 'WorkerListing',
    type: 'object',
    required: [
      'id',
      'state',
      'kinds',
      'resources',
      'concurrency',
      'version',
      'host',
      'pid',
      'heartbeatMs',
      'startedAt',
      'lastHeartbeatAt',
      'heartbeatAgeMs',
      'stoppedAt',
      'runningTasks',
      'tasks',
    ],
    description: 'A worker process: what it can run, whether it is alive, and what it runs now',
    properties: {
      id: { type: 'string' },
      state: {
        type: 'string',
        enum: ['active', 'stopping', 'stopped', 'lost'],
        description:
          'active: takes tasks; stopping: draining after SIGTERM; stopped: left cleanly; lost: stopped heartbeating, its tasks went back to the queue',
      },
      kinds: { type: 'array', items: { type: 'string' }, description: 'The task kinds it runs' },
      resources: {
        type: ['array', 'null'],
        items: { type: 'string' },
        description: 'The resources it reaches (a name, or gateway/name); null: every resource',
      },
      concurrency: { type: 'integer' },
      version: { type: 'string', description: 'The Drover version it runs' },
      host: { type: 'string' },
      pid: { type: 'integer' },
      heartbeatMs: { type: 'integer', description: 'How often it heartbeats; lost after three missed' },
      startedAt: { type: 'string', format: 'date-time' },
      lastHeartbeatAt: { type: 'string', format: 'date-time' },
      heartbeatAgeMs: { type: 'integer', description: "Milliseconds since its last heartbeat, by the store's clock" },
      stoppedAt: { type: ['string', 'null'], format: 'date-time' },
      runningTasks: { type: 'integer', description: 'Tasks it holds now' },
      tasks: {
        type: 'array',
        description: 'The first 20 tasks it holds, oldest first',
        items: {
          type: 'object',
          required: ['id', 'kind', 'experimentId', 'gatewayId', 'attempt', 'startedAt'],
          properties: {
            id: { type: 'integer' },
            kind: { type: 'string' },
            experimentId: { type: 'string', format: 'uuid' },
            gatewayId: { type: 'string' },
            attempt: { type: 'integer' },
            startedAt: { type: 'string', format: 'date-time' },
          },
        },
      },
    },
  },
  {
    $id: 'WorkerList',
    type: 'object',
    required: ['items'],
    properties: { items: { type: 'array', items: { $ref: 'WorkerListing#' } } },
  },
  {
    $id: 'NewGateway',
    type: 'object',
    required: ['gateway', 'admin'],
    properties: { gateway: { $ref: 'GatewayListing#' }, admin: { $ref: 'NewUser#' } },
  },
  {
    $id: 'Credential',
    type: 'object',
    required: ['name', 'kind', 'publicKey', 'createdAt'],
    description: 'A stored SSH key; the private key is never returned',
    properties: {
      name: { type: 'string' },
      kind: { type: 'string', enum: ['ssh-key'] },
      publicKey: { type: 'string', description: "Install this line in the cluster account's ~/.ssh/authorized_keys" },
      createdAt: { type: 'string', format: 'date-time' },
    },
  },
  {
    $id: 'CredentialList',
    type: 'object',
    required: ['items'],
    properties: { items: { type: 'array', items: { $ref: 'Credential#' } } },
  },
  {
    $id: 'SignInMethods',
    type: 'object',
    required: ['gateway', 'identityProvider', 'token'],
    properties: {
      gateway: { type: 'string' },
      identityProvider: nullable({
        type: 'object',
        required: ['displayName', 'loginUrl'],
        properties: {
          displayName: { type: 'string', description: 'The button says "Sign in with <displayName>"' },
          loginUrl: { type: 'string', description: 'Open it in the browser (add ?returnTo=<path>) to sign in' },
        },
      }),
      token: { type: 'boolean', description: 'API tokens are always accepted' },
    },
  },
  {
    $id: 'Session',
    type: 'object',
    required: ['expiresAt'],
    description: 'A browser session: its cookies are httpOnly, so its id is never in an answer',
    properties: { expiresAt: { ...time, description: 'The latest the session lasts (it ends sooner when idle)' } },
  },
  {
    $id: 'IdentityProvider',
    type: 'object',
    description: "A gateway's OpenID Connect provider; the client secret is never returned",
    required: [
      'displayName',
      'issuer',
      'clientId',
      'clientSecretSet',
      'scopes',
      'userClaim',
      'allowedDomains',
      'requiredClaim',
      'redirectUri',
      'updatedAt',
    ],
    properties: {
      displayName: { type: 'string' },
      issuer: { type: 'string' },
      clientId: { type: 'string' },
      clientSecretSet: { type: 'boolean', description: 'False for a public client' },
      scopes: { type: 'array', items: { type: 'string' } },
      userClaim: { type: 'string' },
      allowedDomains: { type: 'array', items: { type: 'string' } },
      requiredClaim: nullable({
        type: 'object',
        required: ['name', 'value'],
        properties: { name: { type: 'string' }, value: { type: 'string' } },
      }),
      redirectUri: { type: 'string', description: "Register this as the client's redirect URI at the provider" },
      updatedAt: time,
    },
  },
  {
    $id: 'ApiToken',
    type: 'object',
    required: ['id', 'name', 'createdAt', 'lastUsedAt'],
    description: 'An API token; the token itself is shown only when it is created',
    properties: {
      id: { type: 'string', format: 'uuid' },
      name: { type: 'string' },
      createdAt: time,
      lastUsedAt: nullable({ ...time, description: 'To the minute' }),
    },
  },
  {
    $id: 'ApiTokenList',
    type: 'object',
    required: ['items'],
    properties: { items: { type: 'array', items: { $ref: 'ApiToken#' } } },
  },
  {
    $id: 'NewApiToken',
    type: 'object',
    allOf: [{ $ref: 'ApiToken#' }],
    required: ['token'],
    properties: { token: { type: 'string', description: 'Shown once; stored hashed' } },
  },
] as const;

export type SchemaId = (typeof schemas)[number]['$id'];

/** Every response schema, for `app.addSchema`. */
export const responseSchemas: ReadonlyArray<{ $id: SchemaId }> = schemas;

/** A request's list of notification events (settings and an experiment's own choice). */
export const notificationEventListSchema = (description: string) =>
  ({
    type: 'array',
    items: { type: 'string', enum: [...notificationEvents] },
    uniqueItems: true,
    description,
  }) as const;

/** Error answers every route may give, as problem+json. */
export const problemResponses = {
  400: {
    description: 'Bad input: `errors` names each field',
    content: { 'application/problem+json': { schema: ref('Problem') } },
  },
  401: {
    description: 'Missing or bad token, or the session ended',
    content: { 'application/problem+json': { schema: ref('Problem') } },
  },
  403: {
    description: 'Your role may not do this (or your gateway is disabled)',
    content: { 'application/problem+json': { schema: ref('Problem') } },
  },
  404: { description: 'Not found (or not yours)', content: { 'application/problem+json': { schema: ref('Problem') } } },
  503: {
    description: 'The store is unreachable just now (restarting?): try again after `Retry-After` seconds',
    content: { 'application/problem+json': { schema: ref('Problem') } },
  },
} as const;

/** A 409 answer, for routes that create something with a name. */
export const conflictResponse = {
  409: { description: 'The name is taken', content: { 'application/problem+json': { schema: ref('Problem') } } },
} as const;

/** The longest Idempotency-Key the API takes (as the IETF draft's examples and Stripe do). */
export const maxIdempotencyKeyLength = 255;

/**
 * The `Idempotency-Key` request header of the routes that create (README, Retrying a
 * create), and the answers it adds.
 */
export const idempotencyKeyHeaders = {
  type: 'object',
  properties: {
    'idempotency-key': {
      type: 'string',
      description: `A key of your choice, 1-${maxIdempotencyKeyLength} visible ASCII characters (a random UUID, say), optionally in double quotes: a retry with the same key and body within 24 hours creates nothing and gets the first answer again, with \`Idempotent-Replayed: true\`; a retry while the first is still running waits for it. Keys are yours alone (per user).`,
    },
  },
} as const;

/** The answer to a key used again with another request. */
export const idempotencyResponses = {
  422: {
    description: 'The Idempotency-Key answered another request of yours (within 24 hours): use a new key',
    content: { 'application/problem+json': { schema: ref('Problem') } },
  },
} as const;

/**
 * The tags that group the operations in the OpenAPI document and the API reference; every
 * route's `tags` names one of these.
 */
export const apiTags = [
  { name: 'experiments', description: 'Create, launch, watch, cancel and clone runs of an application' },
  {
    name: 'sweeps',
    description:
      'Parameter sweeps: one request makes many experiments over varied inputs; cancel, clone and resubmit them together',
  },
  { name: 'files', description: 'Uploads for file inputs; outputs and logs of an experiment' },
  { name: 'catalogue', description: 'Who you are, the applications and compute resources, users (admins write)' },
  { name: 'gateways', description: 'Gateways on this Drover (platform operator only)' },
  { name: 'workers', description: 'The worker processes, live: what each runs and can run (platform operator only)' },
  { name: 'credentials', description: "SSH keys Drover logs in to a gateway's clusters with (admins)" },
  {
    name: 'sign-in',
    description: "Signing in through the gateway's identity provider, browser sessions, your API tokens",
  },
  {
    name: 'notifications',
    description: 'Email and signed webhooks when your experiments start and end; the delivery log',
  },
];
