import * as fs from 'fs';
import { Command } from '../command';
import { UsageError } from '../flags';
import { startSimulator, ManagedHsmSpec } from '../../simulator';

/** `hsmctl simulator start`: runs the simulator in the foreground until SIGINT/SIGTERM. */
export const simulatorStartCommand: Command = {
  details: [
    'Makes a CA and server certificate under the state folder on first start, then writes',
    'DIR/endpoints.json (CA path, token endpoint, each Managed HSM hsmUri and administrators).',
    'Administrators get a generated client secret in DIR/secrets/<objectId>.secret (0600).',
    'Stops cleanly on SIGINT or SIGTERM.',
    '',
    'example: hsmctl simulator start --state-dir .hsm-state --instances hsms.json',
    'hsms.json: [{"name":"contoso-hsm","administrators":["<object id>"],"softDeleteRetentionDays":90,"purgeProtection":true}]',
  ].join('\n'),
  flags: {
    'state-dir': { type: 'string', value: 'DIR', description: 'folder for keys, metadata, certificates and endpoints.json (required)' },
    port: { type: 'string', value: 'N', description: 'port of the token endpoint (default: a free port)' },
    instances: { type: 'string', value: 'FILE', description: 'JSON list of Managed HSMs to create if missing' },
  },
  async run(flags) {
    const stateDir = flags['state-dir'] as string | undefined;
    if (!stateDir) throw new UsageError('--state-dir is required');
    let port: number | undefined;
    if (flags.port !== undefined) {
      port = Number(flags.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be an integer from 0 to 65535; got ${String(flags.port)}`);
    }
    const instances = flags.instances ? readInstances(flags.instances as string) : [];
    const sim = await startSimulator({ stateDir, port, instances });
    // Listening for the stop signals before announcing readiness: whoever reads the banner may stop it at once.
    const stopped = new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
    });
    const e = sim.endpoints();
    console.log(`simulator ready: token endpoint ${e.tokenEndpoint}`);
    for (const m of e.managedHsms) console.log(`  Managed HSM ${m.name}: ${m.hsmUri}${m.activated ? '' : ' (not activated)'}`);
    console.log(`endpoints: ${sim.endpointsFile}`);
    await stopped;
    await sim.close();
    console.log('simulator stopped');
    return 0;
  },
};

function readInstances(file: string): ManagedHsmSpec[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new UsageError(`--instances ${file}: ${(err as Error).message}`);
  }
  const list = Array.isArray(parsed) ? parsed : (parsed as { managedHsms?: unknown })?.managedHsms;
  if (!Array.isArray(list)) throw new UsageError(`--instances ${file}: expected a JSON list of {name, administrators, softDeleteRetentionDays?, purgeProtection?} (or {"managedHsms": [...]})`);
  return list as ManagedHsmSpec[];
}
