import * as fs from 'fs';
import * as path from 'path';
import { createHash } from 'crypto';

/** Where compiled entry points are kept between runs: the conventional cache folder of node_modules. */
export const CACHE_DIR = path.resolve(__dirname, '..', 'node_modules', '.cache', 'azure-hsm-cdktf');

interface Manifest {
  output: string;
  inputs: Record<string, { size: number; mtimeMs: number }>;
}

/**
 * The JavaScript of a TypeScript entry point (a child process's main), bundled once with esbuild (our sources
 * in one file, packages left to require) and reused while none of its inputs has changed: a child then starts
 * without loading a TypeScript transform or resolving each of our modules. Checking freshness costs a stat per
 * input file; a change rebuilds it (about 0.1 s).
 */
export function compiledEntry(tsFile: string): Promise<string> {
  // One build at a time in a process: each stops esbuild's service when done, so none outlives its build.
  const run = building.then(() => compile(tsFile));
  building = run.catch(() => undefined);
  return run;
}

let building: Promise<unknown> = Promise.resolve();

async function compile(tsFile: string): Promise<string> {
  const name = path.basename(tsFile, '.ts');
  const key = createHash('sha256').update(path.resolve(tsFile)).digest('hex').slice(0, 12);
  const manifestFile = path.join(CACHE_DIR, `${name}-${key}.json`);
  const fresh = readManifest(manifestFile);
  if (fresh) return fresh;
  // esbuild is loaded only to build; a fresh cache never needs it.
  const esbuild = require('esbuild') as typeof import('esbuild');
  fs.mkdirSync(CACHE_DIR, { recursive: true });
  const output = path.join(CACHE_DIR, `${name}-${key}.js`);
  const tmp = `${output}.${process.pid}.tmp`;
  let result: import('esbuild').BuildResult<{ metafile: true }>;
  try {
    result = await esbuild.build({
      entryPoints: [tsFile],
      bundle: true,
      packages: 'external',
      platform: 'node',
      target: 'node20',
      format: 'cjs',
      outfile: tmp,
      metafile: true,
      logLevel: 'silent',
      plugins: [keepOwnDirname],
    });
  } finally {
    // esbuild's service process would otherwise stay for the life of this process.
    await esbuild.stop();
  }
  const inputs: Manifest['inputs'] = {};
  for (const rel of Object.keys(result.metafile!.inputs)) {
    const abs = path.resolve(rel);
    const st = fs.statSync(abs);
    inputs[abs] = { size: st.size, mtimeMs: st.mtimeMs };
  }
  fs.renameSync(tmp, output);
  const m: Manifest = { output, inputs };
  fs.writeFileSync(`${manifestFile}.${process.pid}.tmp`, JSON.stringify(m));
  fs.renameSync(`${manifestFile}.${process.pid}.tmp`, manifestFile);
  return output;
}

/**
 * In a bundle __dirname would be the cache folder; each of our sources keeps its own (sign-threads.ts finds
 * sign-thread.js next to itself).
 */
const keepOwnDirname: import('esbuild').Plugin = {
  name: 'keep-own-dirname',
  setup(build) {
    build.onLoad({ filter: /\.ts$/ }, (args) => {
      const text = fs.readFileSync(args.path, 'utf8');
      if (!/\b__(dirname|filename)\b/.test(text)) return undefined;
      const contents = text.replace(/\b__dirname\b/g, JSON.stringify(path.dirname(args.path))).replace(/\b__filename\b/g, JSON.stringify(args.path));
      return { contents, loader: 'ts' };
    });
  },
};

function readManifest(file: string): string | undefined {
  let m: Manifest;
  try {
    m = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
  if (!fs.existsSync(m.output)) return undefined;
  for (const [f, want] of Object.entries(m.inputs)) {
    let st: fs.Stats;
    try {
      st = fs.statSync(f);
    } catch {
      return undefined;
    }
    if (st.size !== want.size || st.mtimeMs !== want.mtimeMs) return undefined;
  }
  return m.output;
}
