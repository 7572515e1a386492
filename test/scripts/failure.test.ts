import { AggregateAuthenticationError, AuthenticationError, CredentialUnavailableError } from '@azure/identity';
import { classifyFailure, describeFailure } from '../../scripts/failure';
import { HsmRequestError } from '../../scripts/clients/mhsm-admin';

/** What hsmctl says when a command fails, for the failures an operator meets against Azure. */
describe('failure messages', () => {
  const needs = { role: 'Managed HSM Crypto User', scope: '/keys' };

  test('a missing Azure login is a credential problem, even when a credential inside the chain hit a network error', () => {
    // DefaultAzureCredential joins every credential's failure; the managed identity endpoint is unreachable off Azure.
    const chain = new AggregateAuthenticationError(
      [new CredentialUnavailableError('ManagedIdentityCredential: Network unreachable. Message: connect EHOSTUNREACH 169.254.169.254:80'), new CredentialUnavailableError('AzureCliCredential: Please run \'az login\'')],
      'ChainedTokenCredential authentication failed.',
    );
    expect(describeFailure(chain, needs, {})).toMatch(/^no usable Azure credential: .*\nSign in with az login/);
    expect(classifyFailure(chain).kind).toBe('credential');
    expect(classifyFailure(new CredentialUnavailableError('EnvironmentCredential is unavailable')).kind).toBe('credential');
  });

  test('a token endpoint that does not answer is a network problem; one that refuses the secret is a credential problem', () => {
    const refusedConnection = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' });
    const down = new AuthenticationError(0, { error: 'request_failed', error_description: 'connect ECONNREFUSED 127.0.0.1:9' });
    expect(classifyFailure(refusedConnection)).toEqual({ kind: 'unreachable', text: 'ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:9' });
    expect(classifyFailure(down).kind).toBe('unreachable');
    const badSecret = new AuthenticationError(401, { error: 'invalid_client', error_description: 'AADSTS7000215: Invalid client secret provided.' });
    expect(classifyFailure(badSecret).kind).toBe('credential');
  });

  test('a 403 names the role the command needs and the roles assign that grants it, with the command\'s own target flags', () => {
    const forbidden = new HsmRequestError(403, 'Forbidden', 'Caller is not authorized');
    const text = describeFailure(forbidden, needs, { 'from-outputs': 'out puts.json', principal: '11111111-2222-3333-4444-555555555555' });
    expect(text).toBe([
      'the HSM refused: 403 Forbidden: Caller is not authorized',
      'The caller needs the role "Managed HSM Crypto User" at scope /keys (or above). An administrator of the HSM grants it with:',
      "  hsmctl roles assign --role \"Managed HSM Crypto User\" --assignee 11111111-2222-3333-4444-555555555555 --scope /keys --from-outputs 'out puts.json'",
    ].join('\n'));
    expect(classifyFailure(forbidden)).toEqual({ kind: 'denied', text: '403 Forbidden' });
  });
});
