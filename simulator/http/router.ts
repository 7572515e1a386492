import { errors } from './errors';
import { RequestContext, Reply } from './server';

export type Handler<C extends RequestContext = RequestContext> = (ctx: C, params: Record<string, string>) => Promise<Reply> | Reply;

interface Route<C extends RequestContext> {
  method: string;
  /** Literal segments lower-cased, parameters as ":name". */
  segments: string[];
  handler: Handler<C>;
}

/**
 * Maps METHOD + path pattern ("/keys/:name/:version/sign") to a handler. A path that matches a pattern under
 * another method is 405, one that matches nothing is 404 — both in the service's error shape.
 */
export class Router<C extends RequestContext = RequestContext> {
  /** Routes by their number of segments, in the order added: a path is compared only with patterns of its length. */
  private readonly bySize = new Map<number, Route<C>[]>();

  add(method: string, pattern: string, handler: Handler<C>): this {
    const segments = split(pattern).map((x) => (x.startsWith(':') ? x : x.toLowerCase()));
    let bucket = this.bySize.get(segments.length);
    if (!bucket) this.bySize.set(segments.length, (bucket = []));
    bucket.push({ method, segments, handler });
    return this;
  }

  resolve(method: string, path: string): { handler: Handler<C>; params: Record<string, string> } {
    const found = this.find(method, path);
    if (found === 'method') throw errors.methodNotAllowed(method, path);
    if (!found) throw errors.notFound(`No operation matches ${method} ${path}.`);
    return found;
  }

  /** The route for METHOD + path; 'method' when only another method matches; undefined when nothing does. */
  find(method: string, path: string): { handler: Handler<C>; params: Record<string, string> } | 'method' | undefined {
    const { parts, lower } = segmentsOf(path);
    const routes = this.bySize.get(parts.length);
    if (!routes) return undefined;
    let pathMatched = false;
    for (const r of routes) {
      const params = match(r.segments, parts, lower);
      if (!params) continue;
      pathMatched = true;
      if (r.method === method) return { handler: r.handler, params };
    }
    return pathMatched ? 'method' : undefined;
  }
}

/** The last path split, shared by the routers a request passes through (the data plane asks two in turn). */
let lastPath: string | undefined;
let lastSegments: { parts: string[]; lower: string[] } = { parts: [], lower: [] };

/** The segments of a path, and the same lower-cased (read only: they are shared). */
function segmentsOf(path: string): { parts: string[]; lower: string[] } {
  if (path !== lastPath) {
    const parts = split(path);
    lastSegments = { parts, lower: parts.map((x) => x.toLowerCase()) };
    lastPath = path;
  }
  return lastSegments;
}

/** One trailing slash is dropped: KeyClient asks for the latest version as /keys/{name}/. */
function split(path: string): string[] {
  let start = 0;
  while (path.charCodeAt(start) === 0x2f) start++;
  const end = path.length > start && path.endsWith('/') ? path.length - 1 : path.length;
  return start >= end ? [] : path.slice(start, end).split('/');
}

/** `lower` is `parts` lower-cased: literal segments match case-insensitively, as the service's routes do. */
function match(pattern: string[], parts: string[], lower: string[]): Record<string, string> | undefined {
  // Literal segments first: most patterns fail there, before any parameter is decoded.
  for (let i = 0; i < pattern.length; i++) {
    if (!pattern[i].startsWith(':') && pattern[i] !== lower[i]) return undefined;
  }
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    if (!pattern[i].startsWith(':')) continue;
    try {
      params[pattern[i].slice(1)] = decodeURIComponent(parts[i]);
    } catch {
      throw errors.badParameter(`The path segment '${parts[i].slice(0, 64)}' is not valid percent-encoding.`);
    }
  }
  return params;
}
