/**
 * Path: no dot segments, no percent-escapes, nothing URL parsing would rewrite. Query: form-encoded characters
 * only. Such targets (every request the Azure SDK sends) skip the URL parser, a few percent of the event loop's
 * work for a sign; URLSearchParams reads the query exactly as URL's searchParams does.
 */
const PLAIN_TARGET = /^(\/(?:[A-Za-z0-9_~-][A-Za-z0-9_~\/-]*)?)(?:\?([A-Za-z0-9_~.=&%+\-]*))?$/;

/**
 * Path and query of a request-target as the service reads them; undefined when it is no URL. An origin-form
 * target is a path, so a leading "//" is not a host (as URL parsing would take it) but repeated slashes, which
 * the service routes as one: for scope "/" the JavaScript access-control client requests
 * `///providers/Microsoft.Authorization/...` and the Python client `//providers/...`.
 */
export function splitTarget(target: string): { path: string; query: URLSearchParams } | undefined {
  if (target.charCodeAt(0) !== 0x2f) return viaUrl(target);
  const t = target.charCodeAt(1) === 0x2f ? target.replace(/^\/+/, '/') : target;
  const plain = PLAIN_TARGET.exec(t);
  if (plain) return { path: plain[1], query: new URLSearchParams(plain[2] ?? '') };
  return viaUrl(`https://localhost${t}`);
}

/** Absolute-form targets, and origin-form ones the fast path does not take, through WHATWG URL parsing. */
function viaUrl(url: string): { path: string; query: URLSearchParams } | undefined {
  try {
    const u = new URL(url);
    return { path: u.pathname, query: u.searchParams };
  } catch {
    return undefined;
  }
}
