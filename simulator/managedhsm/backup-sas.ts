import { errors } from '../http/errors';

/**
 * The checks the service makes on a container SAS token before it accepts a full backup, restore or selective key
 * restore: a token without an expiry is refused at once (400 BadRequest, "The customer provided SAS token is
 * malformed. The SAS token does not contain the expiry field", as recorded by the Azure SDK's tests), and so, here,
 * is one without a signature, with an unreadable expiry, or already expired (those three messages are worded after
 * the recorded one; the service's own text for them is not in our sources). A well-formed token that storage then
 * refuses (wrong signature, missing permission) fails the job later, as on the service.
 */
export function checkSasToken(token: string, now = Date.now()): void {
  const malformed = (why: string) => errors.badRequest(`The customer provided SAS token is malformed. ${why}`);
  let fields: URLSearchParams;
  try {
    fields = new URLSearchParams(token.replace(/^\?/, ''));
  } catch {
    throw malformed('The SAS token is not a query string.');
  }
  const se = fields.get('se');
  if (!se) throw malformed('The SAS token does not contain the expiry field');
  if (!fields.get('sig')) throw malformed('The SAS token does not contain the signature field');
  const expiry = Date.parse(se);
  if (Number.isNaN(expiry)) throw malformed('The SAS token expiry field is not a valid date');
  if (expiry <= now) throw errors.badRequest(`The customer provided SAS token has expired (se=${new Date(expiry).toISOString()}). Provide a SAS token that is valid for the duration of the operation.`);
}
