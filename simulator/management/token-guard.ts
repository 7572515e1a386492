import { timingSafeEqual } from 'crypto';
import { errors } from '../http/errors';

/**
 * The check every management route makes first: the caller presents the management token of secrets/management.token
 * as a bearer token (compared in constant time); anything else is 401 Unauthorized.
 */
export function managementGuard(managementToken: string): (authorization: string | undefined) => void {
  const want = Buffer.from(managementToken);
  return (authorization) => {
    const m = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
    const given = Buffer.from(m?.[1] ?? '');
    if (given.length !== want.length || !timingSafeEqual(given, want)) throw errors.unauthorized('The management API needs the token from secrets/management.token.');
  };
}
