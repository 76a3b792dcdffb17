/**
 * Names for the shapes the web UI and the CLI use, all taken from the generated OpenAPI
 * types (./schema.d.ts, written by `npm run generate:api`); nothing here is written by hand.
 */
import type { components, paths } from './schema.d.ts';

type Schemas = components['schemas'];

/** `GET /me`: the signed-in user and their gateway (name and theme). */
export type Me = Schemas['Me'];
/** `GET /gateway` (no token needed): the deployment's gateway name and colours. */
export type Gateway = Schemas['Gateway'];
export type Application = Schemas['Application'];
/** What a running program last reported about its progress, with its named values. */
export type JobProgress = Schemas['JobProgress'];
export type InputDefinition = Schemas['Input'];
export type Deployment = Schemas['Deployment'];
export type Resource = Schemas['Resource'];
export type Queue = Schemas['Queue'];
export type ExperimentSummary = Schemas['ExperimentSummary'];
export type ExperimentDetail = Schemas['Experiment'];
export type ExperimentState = ExperimentSummary['state'];
export type Task = Schemas['Task'];
export type Job = Schemas['Job'];
export type ExperimentEvent = Schemas['Event'];
export type OutputFile = Schemas['OutputList']['items'][number];
/** A value an application declares to show with its experiments, as read from a JSON output. */
export type HeadlineValue = Schemas['HeadlineValue'];
/** One experiment to create: the body of `POST /experiments`, and an item of `POST /experiments/batch`. */
export type ExperimentRequest = NonNullable<
  paths['/api/v1/experiments']['post']['requestBody']
>['content']['application/json'];
/** The filters and paging of `GET /experiments`. */
export type ListQuery = NonNullable<paths['/api/v1/experiments']['get']['parameters']['query']>;
/** A problem+json error body: `errors` names each refused field. */
export type Problem = Schemas['Problem'];
/** `GET /notifications/settings`: your notification defaults. */
export type NotificationSettings = Schemas['NotificationSettings'];
export type NotificationEvent = Schemas['NotificationEvent'];
/** An experiment's own choice of notifications. */
export type ExperimentNotify = Schemas['ExperimentNotify'];
/** One entry of the delivery log. */
export type Delivery = Schemas['Delivery'];
/** A worker process as `GET /workers` lists it (platform operator). */
export type WorkerListing = Schemas['WorkerListing'];
/** `GET /sign-in-methods` (no token needed): what a gateway's sign-in page offers. */
export type SignInMethods = Schemas['SignInMethods'];
/** One of your API tokens (never the token itself). */
export type ApiToken = Schemas['ApiToken'];
/** `POST /me/tokens`: a new token, shown once. */
export type NewApiToken = Schemas['NewApiToken'];
/** `GET /identity-provider` (admins): the gateway's OpenID Connect settings, without the secret. */
export type IdentityProvider = Schemas['IdentityProvider'];
/** The body of `PUT /identity-provider`. */
export type IdentityProviderRequest = NonNullable<
  paths['/api/v1/identity-provider']['put']['requestBody']
>['content']['application/json'];
/** A parameter sweep with its elements (`GET /sweeps/{id}`). */
export type Sweep = Schemas['Sweep'];
/** A sweep as lists show it, with counts per state. */
export type SweepSummary = Schemas['SweepSummary'];
/** One element of a sweep: its index, varied inputs and newest experiment. */
export type SweepElement = Schemas['SweepElement'];
/** How one input of a sweep varies: `{ values }` or `{ range }`. */
export type Variation = Schemas['Variation'];
/** The body of `POST /sweeps`. */
export type SweepRequest = NonNullable<paths['/api/v1/sweeps']['post']['requestBody']>['content']['application/json'];
