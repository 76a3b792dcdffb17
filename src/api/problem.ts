/**
 * Errors as RFC 9457 problem details (`application/problem+json`).
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { InputError } from '../domain/errors.ts';

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  /** One entry per bad field. */
  errors?: Array<{ field: string; message: string }>;
}

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
  429: 'Too Many Requests',
  500: 'Internal Server Error',
};

/** Turns any thrown error into a problem response; unexpected errors are logged, not shown. */
export function handleError(error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (error instanceof InputError) {
    return sendProblem(reply, {
      type: `urn:drover:problem:${error.type}`,
      title: titles[error.status] ?? 'Error',
      status: error.status,
      detail: error.message,
      errors: error.errors.length > 0 ? error.errors : undefined,
    });
  }
  const fastifyError = error as FastifyError;
  if (fastifyError.validation) {
    return sendProblem(reply, {
      type: 'urn:drover:problem:invalid-request',
      title: 'Bad Request',
      status: 400,
      detail: 'the request does not match the API schema',
      errors: fastifyError.validation.map((issue) => ({
        field: [fastifyError.validationContext, issue.instancePath.replace(/^\//, '').replaceAll('/', '.'), (issue.params as any)?.missingProperty ?? (issue.params as any)?.additionalProperty]
          .filter(Boolean)
          .join('.'),
        message: issue.message ?? 'is invalid',
      })),
    });
  }
  const status = fastifyError.statusCode ?? 500;
  if (status >= 500) {
    request.log.error({ err: error }, 'request failed');
    return sendProblem(reply, { type: 'urn:drover:problem:internal', title: titles[500], status: 500, detail: 'an internal error occurred; it has been logged' });
  }
  const detail =
    fastifyError.code === 'FST_ERR_CTP_BODY_TOO_LARGE' ? `the request body is larger than the ${request.routeOptions.bodyLimit ?? ''} bytes this endpoint accepts` : error.message;
  return sendProblem(reply, { type: `urn:drover:problem:${fastifyError.code ?? 'error'}`, title: titles[status] ?? 'Error', status, detail });
}
