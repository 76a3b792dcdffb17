/**
 * Errors as RFC 9457 problem details (`application/problem+json`). The one place where a
 * domain error's meaning becomes an HTTP status.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import {
  ConflictError,
  ForbiddenError,
  IdempotencyKeyReusedError,
  LimitReachedError,
  NotFoundError,
  QuotaExceededError,
  RequestError,
  UnsupportedMediaError,
  ValidationError,
} from '../domain/errors.ts';
import { isStoreUnreachable } from '../store/port.ts';

/** An RFC 9457 problem details body, as the API answers every error. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  /** One entry per bad field. */
  errors?: Array<{ field: string; message: string }>;
}

/** Answers `problem` with its status and the `application/problem+json` content type. */
export function sendProblem(reply: FastifyReply, problem: Problem): FastifyReply {
  return reply.code(problem.status).type('application/problem+json').send(problem);
}

const titles: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** Seconds a client is asked to wait (Retry-After) when the store is unreachable: a restart takes a few. */
const storeRetryAfterSeconds = 2;

/** A class of request errors, as a key of `requestErrorStatuses`. */
export type RequestErrorClass = abstract new (...args: never[]) => RequestError;

/**
 * The HTTP status of each request error class. Every subclass of `RequestError` has an
 * entry (problem.test.ts checks it), so no status is ever guessed.
 */
export const requestErrorStatuses: ReadonlyMap<RequestErrorClass, number> = new Map<RequestErrorClass, number>([
  [ValidationError, 400],
  [ForbiddenError, 403],
  [NotFoundError, 404],
  [ConflictError, 409],
  [QuotaExceededError, 413],
  [UnsupportedMediaError, 415],
  [IdempotencyKeyReusedError, 422],
  [LimitReachedError, 429],
]);

/** The problem a request error answers with: its status from `requestErrorStatuses`, its type, message and fields. */
export function requestErrorProblem(error: RequestError): Problem {
  const status = [...requestErrorStatuses].find(([errorClass]) => error instanceof errorClass)?.[1] ?? 400;
  return {
    type: `urn:drover:problem:${error.type}`,
    title: titles[status] ?? 'Error',
    status,
    detail: error.message,
    errors: error.fields.length > 0 ? error.fields : undefined,
  };
}

/** Turns any thrown error into a problem response; unexpected errors are logged, not shown. */
export function handleError(error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (error instanceof RequestError) return sendProblem(reply, requestErrorProblem(error));
  const fastifyError = error as FastifyError;
  if (fastifyError.validation) {
    return sendProblem(reply, {
      type: 'urn:drover:problem:invalid-request',
      title: 'Bad Request',
      status: 400,
      detail: 'the request does not match the API schema',
      errors: fastifyError.validation.map((issue) => ({
        field: [
          fastifyError.validationContext,
          issue.instancePath.replace(/^\//, '').replaceAll('/', '.'),
          (issue.params as any)?.missingProperty ?? (issue.params as any)?.additionalProperty,
        ]
          .filter(Boolean)
          .join('.'),
        message: issue.message ?? 'is invalid',
      })),
    });
  }
  const status = fastifyError.statusCode ?? 500;
  if (status >= 500 && isStoreUnreachable(error)) {
    request.log.warn({ err: error }, 'request failed: the store is unreachable');
    return sendProblem(reply.header('retry-after', String(storeRetryAfterSeconds)), {
      type: 'urn:drover:problem:store-unavailable',
      title: titles[503],
      status: 503,
      detail: `Drover cannot reach its store just now (it may be restarting); try again in ${storeRetryAfterSeconds} s`,
    });
  }
  if (status >= 500) {
    request.log.error({ err: error }, 'request failed');
    return sendProblem(reply, {
      type: 'urn:drover:problem:internal',
      title: titles[500],
      status: 500,
      detail: 'an internal error occurred; it has been logged',
    });
  }
  const detail =
    fastifyError.code === 'FST_ERR_CTP_BODY_TOO_LARGE'
      ? `the request body is larger than the ${request.routeOptions.bodyLimit ?? ''} bytes this endpoint accepts`
      : error.message;
  return sendProblem(reply, {
    type: `urn:drover:problem:${fastifyError.code ?? 'error'}`,
    title: titles[status] ?? 'Error',
    status,
    detail,
  });
}
