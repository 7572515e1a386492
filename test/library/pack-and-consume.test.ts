import { execFileSync } from 'child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join, resolve } from 'path';

/**
 * The constructs as a library, end to end and offline: build (tsc + the generated manifest), `npm pack`, then a
 * new cdktf app in a temp folder outside the repository installs the tarball with npm and synthesizes with it.
 * The tarball has no dependencies of its own (cdktf, constructs and the provider are peers), so npm needs no
 * registry; the app's peers are links to this repository's installed copies, as an app's own would be.
 */
const ROOT = resolve(__dirname, '..', '..');
const NODE_BIN = join(ROOT, 'node_modules', '.bin');
const PEERS = ['cdktf', 'constructs', '@cdktf/provider-azurerm'];

const CONSUMER_APP = `
import { App, TerraformStack } from 'cdktf';
import { AzurermProvider } from '@cdktf/provider-azurerm/lib/provider';
import { HsmNetwork, ManagedHsm, hsmProviderFeatures } from 'azure-hsm-cdktf/constructs';
import { HsmPolicy, acknowledgePolicy } from 'azure-hsm-cdktf/policy';
import { Aspects } from 'cdktf';

class KeysStack extends TerraformStack {
  constructor(app: App) {
    super(app, 'consumer');
    new AzurermProvider(this, 'azurerm', { features: [hsmProviderFeatures()] });
    const net = new HsmNetwork(this, 'Network', { location: 'westeurope', resourceGroupName: 'rg-consumer', namePrefix: 'consumer', dedicatedHsmSubnet: false, adminCidrs: [] });
    const hsm = new ManagedHsm(this, 'ManagedHsm', {
      name: 'consumer-mhsm', resourceGroupName: net.resourceGroupName, location: net.location,
      tenantId: '11111111-2222-3333-4444-555555555555', adminObjectIds: ['aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee'],
      privateEndpoint: { subnetId: net.computeSubnet.id, virtualNetworkId: net.vnet.id },
      publicNetworkAccessEnabled: true,
    });
    acknowledgePolicy(hsm, 'HSM-MHSM-004', 'reached from the build agents during the pilot');
    Aspects.of(this).add(new HsmPolicy());
  }
}

// The output folder comes from CDKTF_OUTDIR, as the cdktf CLI passes it.
const app = new App();
new KeysStack(app);
app.synth();
`;

/** Runs a command; a failure throws with what it printed (tsc reports on stdout). */
function run(command: string, args: string[], cwd: string, env: Record<string, string> = {}): string {
  try {
    return execFileSync(command, args, { cwd, encoding: 'utf8', stdio: 'pipe', timeout: 180_000, env: { ...process.env, npm_config_update_notifier: 'false', CHECKPOINT_DISABLE: '1', ...env } });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${command} ${args.join(' ')} failed:\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}

describe('the constructs as a library', () => {
  it('is described by the manifest written into the build folder only: the root package.json (not published) declares no exports', () => {
    const root = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    expect(root.private).toBe(true);
    expect(root.exports).toBeUndefined();
  });

  const work = mkdtempSync(join(tmpdir(), 'hsm-library-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('builds, packs, installs offline into a new cdktf app outside the repository, and synthesizes there', () => {
    // Build into a temp folder, as `npm run build` does into dist/.
    const dist = join(work, 'dist');
    run(join(NODE_BIN, 'tsc'), ['-p', join(ROOT, 'tsconfig.build.json'), '--outDir', dist], ROOT);
    run(join(NODE_BIN, 'tsx'), [join(ROOT, 'library', 'write-package-manifest.ts'), dist], ROOT);
    const manifest = JSON.parse(readFileSync(join(dist, 'package.json'), 'utf8'));
    expect(Object.keys(manifest.exports)).toEqual(['./constructs', './stacks', './policy', './package.json']);
    expect(manifest.dependencies).toBeUndefined();
    expect(Object.keys(manifest.peerDependencies)).toEqual(PEERS);

    const packed = JSON.parse(run('npm', ['pack', dist, '--pack-destination', work, '--json'], work))[0];
    const paths: string[] = packed.files.map((f: { path: string }) => f.path);
    expect(paths).toEqual(expect.arrayContaining(['constructs/index.js', 'constructs/index.d.ts', 'stacks/index.js', 'policy/index.d.ts', 'package.json']));
    expect(paths.some((p) => p.startsWith('test/') || p.startsWith('scripts/') || p.startsWith('simulator/'))).toBe(false);

    // A new app, outside the repository.
    const app = join(work, 'consumer');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
    writeFileSync(join(app, 'cdktf.json'), JSON.stringify({ language: 'typescript', app: 'node main.js' }));
    run('npm', ['install', '--offline', '--no-audit', '--no-fund', '--legacy-peer-deps', join(work, packed.filename)], app);
    expect(JSON.parse(readFileSync(join(app, 'package.json'), 'utf8')).dependencies['azure-hsm-cdktf']).toMatch(/^file:/);
    for (const peer of PEERS) {
      mkdirSync(join(app, 'node_modules', peer, '..'), { recursive: true });
      symlinkSync(join(ROOT, 'node_modules', peer), join(app, 'node_modules', peer), 'dir');
    }

    // Type-check and compile the app against the installed declarations (exports honoured), then synthesize.
    writeFileSync(join(app, 'main.ts'), CONSUMER_APP);
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'node16', moduleResolution: 'node16', target: 'ES2022', strict: true, skipLibCheck: true, types: [] }, files: ['main.ts'] }));
    run(join(NODE_BIN, 'tsc'), ['-p', app], app);
    const out = join(app, 'cdktf.out');
    run(process.execPath, ['main.js'], app, { CDKTF_OUTDIR: out });
    const tf = JSON.parse(readFileSync(join(out, 'stacks', 'consumer', 'cdk.tf.json'), 'utf8'));
    expect(Object.values(tf.resource.azurerm_key_vault_managed_hardware_security_module)).toEqual([
      expect.objectContaining({ name: 'consumer-mhsm', purge_protection_enabled: true, lifecycle: { prevent_destroy: true } }),
    ]);
    expect(tf['//'].policy.acknowledgements).toEqual([expect.objectContaining({ ruleId: 'HSM-MHSM-004', construct: 'consumer/ManagedHsm' })]);
    // The stacks entry point offers only what works from an installed package: the project's config/ is not
    // shipped, so nothing that resolves config/<env>.json inside the package (configPathFor, chooseEnvironment).
    const stacksApi: string[] = JSON.parse(run(process.execPath, ['-e', "console.log(JSON.stringify(Object.keys(require('azure-hsm-cdktf/stacks'))))"], app));
    expect(stacksApi).toEqual(expect.arrayContaining(['buildApp', 'loadEnvironmentConfig', 'parseEnvironmentConfig']));
    expect(stacksApi).not.toContain('configPathFor');
    expect(stacksApi).not.toContain('chooseEnvironment');
    expect(paths.some((p) => p.startsWith('config/'))).toBe(false);
    // npm fetched nothing for the library: it came with no dependencies of its own.
    expect(readdirSync(join(app, 'node_modules', 'azure-hsm-cdktf'))).not.toContain('node_modules');
  }, 300_000); // two tsc runs and an npm install: ~30 s here, more on a loaded machine
});
