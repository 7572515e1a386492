/**
 * Writes the package.json of the construct library into the build folder (`npm run build` -> dist/), from
 * the root package.json: same name, version and license, the entry points under "exports", and cdktf,
 * constructs and the azurerm provider as peer dependencies (the app that uses the constructs brings its
 * own). The root's other dependencies serve hsmctl and the simulator, which the library does not ship.
 *
 *   tsx library/write-package-manifest.ts OUTDIR
 */
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'fs';
import { join, resolve } from 'path';

const ROOT = resolve(__dirname, '..');
const PEERS = ['cdktf', 'constructs', '@cdktf/provider-azurerm'] as const;
const ENTRY_POINTS = ['constructs', 'stacks', 'policy'] as const;

export function libraryManifest(root: { name: string; version: string; description?: string; license?: string; engines?: object; dependencies: Record<string, string> }): object {
  return {
    name: root.name,
    version: root.version,
    description: `${root.description ?? ''} (construct library)`.trim(),
    license: root.license,
    engines: root.engines,
    exports: {
      ...Object.fromEntries(ENTRY_POINTS.map((e) => [`./${e}`, { types: `./${e}/index.d.ts`, default: `./${e}/index.js` }])),
      './package.json': './package.json',
    },
    files: [...ENTRY_POINTS.map((e) => `${e}/`), 'README.md'],
    peerDependencies: Object.fromEntries(PEERS.map((p) => [p, root.dependencies[p]])),
  };
}

if (require.main === module) {
  const outdir = process.argv[2];
  if (!outdir || !existsSync(join(outdir, 'constructs', 'index.js'))) {
    console.error('usage: tsx library/write-package-manifest.ts OUTDIR (the folder tsc -p tsconfig.build.json wrote, with constructs/index.js)');
    process.exit(2);
  }
  const root = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  writeFileSync(join(outdir, 'package.json'), `${JSON.stringify(libraryManifest(root), null, 2)}\n`);
  copyFileSync(join(ROOT, 'README.md'), join(outdir, 'README.md'));
}
