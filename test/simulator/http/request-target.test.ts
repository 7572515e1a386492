import { RequestContext } from '../../../simulator/http/server';
import { splitTarget } from '../../../simulator/http/request-target';
import { Router } from '../../../simulator/http/router';
import { ServiceError } from '../../../simulator/http/errors';

/**
 * What WHATWG URL parsing makes of a request-target, read as RFC 9112 reads it: an origin-form target (one that
 * starts with "/") is a path on this host, its leading run of slashes taken as one as the service does; anything
 * else must be an absolute URL. splitTarget's fast path must give the same answer.
 */
function viaUrl(target: string): { path: string; query: string } | undefined {
  try {
    const url = target.startsWith('/') ? new URL(`https://localhost${target.replace(/^\/+/, '/')}`) : new URL(target);
    return { path: url.pathname, query: url.searchParams.toString() };
  } catch {
    return undefined;
  }
}

function viaSplit(target: string): { path: string; query: string } | undefined {
  const t = splitTarget(target);
  return t && { path: t.path, query: t.query.toString() };
}

/** A small deterministic generator, so a failure names a target that can be replayed. */
function* targets(count: number): Generator<string> {
  const pieces = ['/', '/', 'keys', 'Keys', 'k-1', '_', '~', '.', '..', '%2e', '%2F', '%41', '%', '?', '&', '=', 'api-version', '7.4', '+', ' ', '#', '\\', 'é', '"', '<', '{', '//'];
  let seed = 12345;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
  for (let i = 0; i < count; i++) {
    let t = next() % 8 === 0 ? '' : '/';
    for (let n = next() % 9; n > 0; n--) t += pieces[next() % pieces.length];
    yield t;
  }
}

describe('request-target split', () => {
  test.each([
    '/keys/k/0123abcd/sign?api-version=7.4',
    '/keys?api-version=7.4&maxresults=2',
    '/keys/k/?api-version=2025-07-01',
    '/',
    '/keys/../securitydomain/download?api-version=7.4',
    '/keys/%2e%2e/x?api-version=7.4',
    '/keys/a%20b?q=%41+b',
    '/keys/k?a=1&a=2&b',
    '//keys//k',
    'https://other.example/keys/k?api-version=7.4',
    'keys/k',
  ])('%s: path and query as URL parsing gives them', (target) => {
    expect(viaSplit(target)).toEqual(viaUrl(target));
  });

  test.each([
    // @azure/keyvault-admin's access-control client for scope "/", and the Python client.
    ['///providers/Microsoft.Authorization/roleDefinitions?api-version=7.4', '/providers/Microsoft.Authorization/roleDefinitions'],
    ['//providers/Microsoft.Authorization/roleAssignments?api-version=7.4', '/providers/Microsoft.Authorization/roleAssignments'],
    ['//keys//k?api-version=7.4', '/keys//k'],
  ])('%s: a leading run of slashes is one slash, not a host', (target, path) => {
    expect(viaSplit(target)).toEqual({ path, query: 'api-version=7.4' });
  });

  test('refuses a target that is neither a path nor an absolute URL', () => {
    expect(splitTarget('keys/k')).toBeUndefined();
    expect(splitTarget('*')).toBeUndefined();
  });

  test('3,000 generated targets: the same path and query as URL parsing, or refused alike', () => {
    const differences: string[] = [];
    for (const t of targets(3000)) {
      if (JSON.stringify(viaSplit(t)) !== JSON.stringify(viaUrl(t))) differences.push(t);
    }
    expect(differences).toEqual([]);
  });
});

describe('router', () => {
  const handler = (name: string) => (_ctx: RequestContext, params: Record<string, string>) => ({ status: 200, body: { name, params } });
  const router = new Router().add('GET', '/keys/:name', handler('get')).add('POST', '/keys/:name/Create', handler('create')).add('GET', '/keys', handler('list'));
  const route = (method: string, path: string) => {
    const { handler: h, params } = router.resolve(method, path);
    return h({} as RequestContext, params);
  };

  test('literal segments match in any case; parameters keep theirs and are percent-decoded', () => {
    expect(route('POST', '/KEYS/My%2DKey/create')).toEqual({ status: 200, body: { name: 'create', params: { name: 'My-Key' } } });
  });

  test('leading slashes and one trailing slash are ignored, as KeyClient sends /keys/{name}/', () => {
    expect(route('GET', '//keys/k/')).toEqual({ status: 200, body: { name: 'get', params: { name: 'k' } } });
    expect(route('GET', '/keys/')).toEqual({ status: 200, body: { name: 'list', params: {} } });
  });

  test.each([
    ['GET', '/keys/k/create', 405, 'MethodNotAllowed'],
    ['GET', '/keys/k//', 404, 'NotFound'],
    ['GET', '/', 404, 'NotFound'],
    ['GET', '/keys/%E0%A4%A', 400, 'BadParameter'],
  ])('%s %s: %i %s', (method, path, status, code) => {
    let caught: unknown;
    try {
      route(method, path);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ServiceError);
    expect({ status: (caught as ServiceError).status, code: (caught as ServiceError).code }).toEqual({ status, code });
  });
});
