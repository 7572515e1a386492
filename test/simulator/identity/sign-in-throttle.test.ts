import * as https from 'https';
import { randomUUID } from 'crypto';
import { Harness } from '../harness';
import { DEFAULT_THROTTLE, FailedSignInThrottle } from '../../../simulator/identity/failed-sign-in-throttle';

describe('failed sign-in throttle (its own clock)', () => {
  const limits = { failuresPerClient: 3, failuresPerAddress: 5, windowMs: 300_000, lockMs: 60_000 };
  let t = 1_000_000;
  const throttle = () => new FailedSignInThrottle(limits, () => t);

  test('locks an application after its failures, for the lock time, and then lets it try again', () => {
    const th = throttle();
    for (let i = 0; i < 3; i++) {
      expect(th.clientLockedFor('app')).toBe(0);
      th.failed('app', `a${i}`);
    }
    expect(th.clientLockedFor('app')).toBe(60);
    expect(th.clientLockedFor('other')).toBe(0);
    expect(th.addressLockedFor('a0')).toBe(0);
    t += 59_500;
    expect(th.clientLockedFor('app')).toBe(1);
    t += 500;
    expect(th.clientLockedFor('app')).toBe(0);
  });

  test('locks an address after failures spread over many applications', () => {
    const th = throttle();
    for (let i = 0; i < 5; i++) th.failed(i % 2 ? undefined : `app-${i}`, 'spray');
    expect(th.addressLockedFor('spray')).toBe(60);
    expect(th.addressLockedFor('elsewhere')).toBe(0);
    expect(th.clientLockedFor('app-0')).toBe(0);
  });

  test('forgets failures older than the window, and a success clears the application', () => {
    const th = throttle();
    th.failed('app', 'a');
    th.failed('app', 'a');
    t += 300_001;
    th.failed('app', 'a');
    expect(th.clientLockedFor('app')).toBe(0);
    th.failed('app', 'a');
    th.succeeded('app');
    th.failed('app', 'a');
    expect(th.clientLockedFor('app')).toBe(0);
  });
});

describe('token endpoint throttling', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await Harness.start();
  });
  afterAll(() => h.close());

  /** A client-credentials request from `localAddress` (another loopback address is another client machine). */
  function signIn(clientId: string, secret: string, localAddress = '127.0.0.1'): Promise<{ status: number; body: any; retryAfter?: string }> {
    const u = new URL(h.sim.authorityHost);
    const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: secret, scope: 'https://managedhsm.azure.net/.default' }).toString();
    return new Promise((resolve, reject) => {
      const req = https.request(
        {
          host: u.hostname,
          port: u.port,
          path: `/${h.sim.tenantId}/oauth2/v2.0/token`,
          method: 'POST',
          ca: h.sim.caCert,
          agent: false,
          localAddress,
          headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(form) },
        },
        (res) => {
          let text = '';
          res.on('data', (c) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text), retryAfter: res.headers['retry-after'] as string | undefined }));
        },
      );
      req.on('error', reject);
      req.end(form);
    });
  }

  test(`after ${DEFAULT_THROTTLE.failuresPerClient} wrong secrets an application gets 429 with Retry-After, even with the right one; another gets a token at once`, async () => {
    const victim = await h.newPrincipal();
    const other = await h.newPrincipal();
    for (let i = 0; i < DEFAULT_THROTTLE.failuresPerClient; i++) {
      const r = await signIn(victim.objectId, `wrong-${i}`);
      expect({ status: r.status, error: r.body.error }).toEqual({ status: 401, error: 'invalid_client' });
    }
    const locked = await signIn(victim.objectId, 'wrong-again');
    expect(locked.status).toBe(429);
    expect(Number(locked.retryAfter)).toBeGreaterThan(0);
    expect(Number(locked.retryAfter)).toBeLessThanOrEqual(60);
    expect(locked.body.error_description).toMatch(/Too many failed sign-ins/);
    // The right secret does not open the lock: otherwise the lock would tell a guesser when it guessed right.
    expect((await signIn(victim.objectId, victim.secret)).status).toBe(429);
    // Another application from the same address is not held back, through the real credential.
    const t = await other.credential.getToken('https://managedhsm.azure.net/.default');
    expect(t?.token).toMatch(/^ey/);
  });

  test(`after ${DEFAULT_THROTTLE.failuresPerAddress} failed sign-ins from one address its failures get 429, a right secret still gets a token, and guessing one application's secret still locks it`, async () => {
    const valid = await h.newPrincipal();
    const guessed = await h.newPrincipal();
    for (let i = 0; i < DEFAULT_THROTTLE.failuresPerAddress; i++) {
      // Unknown applications: a spray over names, which no per-application count would catch.
      const r = await signIn(randomUUID(), 'guess', '127.0.0.3');
      expect(r.status).toBe(400);
    }
    const sprayed = await signIn(randomUUID(), 'guess', '127.0.0.3');
    expect([sprayed.status, Number(sprayed.retryAfter) > 0]).toEqual([429, true]);
    // Every client of this simulator is on loopback: one client's failures must not lock the others out.
    const fromSprayer = await signIn(valid.objectId, valid.secret, '127.0.0.3');
    expect(fromSprayer.status).toBe(200);
    expect(fromSprayer.body.access_token).toMatch(/^ey/);
    // Wrong secrets from the locked address are answered 429 and still count against their application.
    for (let i = 0; i < DEFAULT_THROTTLE.failuresPerClient; i++) expect((await signIn(guessed.objectId, `wrong-${i}`, '127.0.0.3')).status).toBe(429);
    expect((await signIn(guessed.objectId, guessed.secret, '127.0.0.3')).status).toBe(429);
    expect((await signIn(guessed.objectId, guessed.secret, '127.0.0.1')).status).toBe(429);
    const fromElsewhere = await signIn(valid.objectId, valid.secret, '127.0.0.1');
    expect(fromElsewhere.status).toBe(200);
  });
});
