/**
 * The one error factory of the simulator. Every refusal leaves as {"error":{"code","message"}} with the real
 * service's code and HTTP status; tests import these codes to compare. Messages name what was wrong and the
 * value received, but never secrets (key material, tokens, client secrets).
 */
export class ServiceError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly innerCode?: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  body(): { error: { code: string; message: string; innererror?: { code: string } } } {
    return { error: { code: this.code, message: this.message, ...(this.innerCode ? { innererror: { code: this.innerCode } } : {}) } };
  }
}

export const ErrorCodes = {
  BadParameter: 'BadParameter',
  Unauthorized: 'Unauthorized',
  Forbidden: 'Forbidden',
  KeyNotFound: 'KeyNotFound',
  NotFound: 'NotFound',
  Conflict: 'Conflict',
  MethodNotAllowed: 'MethodNotAllowed',
  RequestTooLarge: 'RequestEntityTooLarge',
  NotSupported: 'NotSupported',
  RoleAssignmentNotFound: 'RoleAssignmentNotFound',
  RoleDefinitionNotFound: 'RoleDefinitionNotFound',
  InternalError: 'InternalError',
  BadRequest: 'BadRequest',
  AccessDenied: 'AccessDenied',
  RoleDefinitionHasAssignments: 'RoleDefinitionHasAssignments',
  /** Key Vault's code for 429 (its message names the reason). */
  Throttled: 'Throttled',
  RequestTimeout: 'RequestTimeout',
  ServiceUnavailable: 'ServiceUnavailable',
} as const;

export const errors = {
  badParameter: (message: string) => new ServiceError(400, ErrorCodes.BadParameter, message),
  unauthorized: (message: string, headers: Record<string, string> = {}) => new ServiceError(401, ErrorCodes.Unauthorized, message, undefined, headers),
  /** RBAC refusal: the caller lacks the data action at the scope. */
  forbiddenByRbac: (message: string) => new ServiceError(403, ErrorCodes.Forbidden, message, 'ForbiddenByRbac'),
  /** The key's own rules (key_ops, enabled, nbf/exp) refuse the operation. */
  forbidden: (message: string, innerCode?: string) => new ServiceError(403, ErrorCodes.Forbidden, message, innerCode),
  notActivated: (hsm: string) =>
    new ServiceError(
      403,
      ErrorCodes.Forbidden,
      `The Managed HSM '${hsm}' is not activated: download its security domain (quorum of certificates) before using keys.`,
      'HSMNotActivated',
    ),
  keyNotFound: (message: string) => new ServiceError(404, ErrorCodes.KeyNotFound, message),
  notFound: (message: string) => new ServiceError(404, ErrorCodes.NotFound, message),
  roleAssignmentNotFound: (message: string) => new ServiceError(404, ErrorCodes.RoleAssignmentNotFound, message),
  roleDefinitionNotFound: (message: string) => new ServiceError(404, ErrorCodes.RoleDefinitionNotFound, message),
  conflict: (message: string) => new ServiceError(409, ErrorCodes.Conflict, message),
  methodNotAllowed: (method: string, path: string) => new ServiceError(405, ErrorCodes.MethodNotAllowed, `The HTTP method '${method}' is not supported on '${path}'.`),
  tooLarge: (limit: number) => new ServiceError(413, ErrorCodes.RequestTooLarge, `The request body is larger than the limit of ${limit} bytes.`),
  /** Features the simulator does not reproduce fail loudly instead of approximating. */
  notSupported: (what: string) => new ServiceError(400, ErrorCodes.NotSupported, `${what} is not supported by the simulator (see simulator/README.md).`),
  internal: () => new ServiceError(500, ErrorCodes.InternalError, 'The simulator failed to process the request; see its log.'),
  /** The code the service uses for a refused full backup/restore request (e.g. a malformed SAS token). */
  badRequest: (message: string) => new ServiceError(400, ErrorCodes.BadRequest, message),
  /** Role-management calls (role assignments, role definitions) refused by local RBAC. */
  accessDenied: (message: string) => new ServiceError(403, ErrorCodes.AccessDenied, message),
  roleDefinitionHasAssignments: (message: string) => new ServiceError(409, ErrorCodes.RoleDefinitionHasAssignments, message),
  /** 429 as Key Vault answers it when a client sends more than it serves; Retry-After says when to come back. */
  throttled: (reason: string, retryAfterSeconds: number) =>
    new ServiceError(429, ErrorCodes.Throttled, `Request was not processed because too many requests were received. Reason: ${reason}`, undefined, { 'retry-after': String(retryAfterSeconds) }),
  requestTimeout: (message: string) => new ServiceError(408, ErrorCodes.RequestTimeout, message),
  /** The state folder's disk is full or failing: the request changed nothing and can be retried once it is fixed. */
  stateStorage: (message: string) => new ServiceError(503, ErrorCodes.ServiceUnavailable, message),
};
