import * as path from 'path';
import { initLunaAppliance } from '../../commands/luna-init';
import { registerLunaClient } from '../../commands/luna-register-client';
import { initLunaPartition } from '../../commands/luna-partition-init';
import { createLunaHaGroup } from '../../commands/luna-ha';
import { LunaSession } from '../../commands/luna-ssh';
import { readEndpoints } from '../../clients/target';
import { Step } from '../step-runner';
import { DryRunContext } from '../context';
import { lunaSecrets } from '../luna-secrets';

/** A registered Luna client of the dry-run: where its CipherTrust-style bundle is, and on what. */
export interface LunaClient {
  readonly hsm: string;
  readonly name: string;
  readonly role: 'ciphertrust' | 'luna-client' | 'firewall';
  readonly ip: string;
  readonly partition: string;
  readonly bundle: string;
  readonly host: string;
  readonly ntlsPort: number;
}

export function lunaDir(ctx: DryRunContext, hsm: string): string {
  return path.join(ctx.stateDir, 'ceremonies', hsm, 'luna');
}

/**
 * Step 6: each Dedicated HSM's Luna appliance, over SSH as an administrator would: first login and password
 * change, hsm init, FIPS mode, partitions (from the config); then the clients registered as the seeds do by
 * hand: the CipherTrust Manager VM and the Luna client host with the IPs of their synthesized NICs, and the
 * configured firewalls; each with its bundle written and proven with PKCS#11 over NTLS (p11-kit); then each
 * partition initialised from its first client as lunacm does (partition init, role init co).
 */
export function lunaStep(ctx: DryRunContext): Step {
  return {
    name: 'initialise the Luna appliances and register clients',
    async run({ say }) {
      const estate = ctx.estate!;
      const endpoints = readEndpoints(ctx.simulatorDir);
      ctx.endpoints = endpoints;
      const clients: LunaClient[] = [];
      const luna = ctx.config.dedicatedHsm?.luna;
      // An HA pair (<name>-1 in stamp1, <name>-2 in stamp2): one cloning domain and one set of passwords, the
      // clients registered on the first, then an HA group per partition over both.
      const pairName = ctx.config.dedicatedHsm?.haPairPrivateIpAddresses ? ctx.config.dedicatedHsm.name : undefined;
      const pair = pairName ? [`${pairName}-1`, `${pairName}-2`].map((n) => estate.dedicatedHsms.find((d) => d.name === n)).filter((d) => !!d) : [];
      const ports = (name: string) => {
        const a = endpoints.dedicatedHsms.find((x) => x.name === name);
        if (!a?.sshPort || !a.ntlsPort) throw new Error(`no Luna appliance answers for Dedicated HSM ${name}`);
        return { sshPort: a.sshPort, ntlsPort: a.ntlsPort };
      };
      const haWork: Array<{ partitions: string[]; secrets: { tenantadmin: string; so: string }; primary: string }> = [];
      for (const d of estate.dedicatedHsms) {
        const appliance = ports(d.name);
        const inPair = pair.length === 2 && pair.some((m) => m!.name === d.name);
        const dir = lunaDir(ctx, inPair ? pair[0]!.name : d.name);
        const secrets = lunaSecrets(dir);
        const partitions = luna?.partitions.map((p) => p.name) ?? [`${(inPair ? pairName! : d.name).replace(/[^A-Za-z0-9_-]/g, '')}-part`.slice(0, 32)];
        const init = await initLunaAppliance({
          host: '127.0.0.1',
          port: appliance.sshPort,
          label: luna?.hsmLabel ?? 'LunaHSM',
          partitions,
          fips: luna?.fipsMode ?? false,
          password: secrets.tenantadmin,
          initialPassword: 'PASSWORD',
          soPassword: secrets.so,
          domain: secrets.domain,
        });
        say(`${d.name} (${d.privateIps[0]}): HSM ${init.label}, FIPS ${init.fips ? 'on' : 'off'}, partitions ${init.partitions.map((p) => `${p.name} (serial ${p.serial})`).join(', ')}; ${init.changes.length ? init.changes.join('; ') : 'already set up'}`);
        if (inPair && d.name !== pair[0]!.name) continue;

        const wanted: Array<Omit<LunaClient, 'hsm' | 'bundle' | 'host' | 'ntlsPort'>> = [
          ...estate.vms
            .filter((vm) => vm.privateIp)
            .map((vm) => ({ name: vm.name, role: vm.kind === 'linux' ? ('ciphertrust' as const) : ('luna-client' as const), ip: vm.privateIp!, partition: partitions[0] })),
          ...(ctx.config.firewallClients ?? []).map((f) => ({ name: f.name, role: 'firewall' as const, ip: f.ip, partition: partitions[1] ?? partitions[0] })),
        ];
        // One SSH session for every client of this appliance.
        const session = await LunaSession.connect({ host: '127.0.0.1', port: appliance.sshPort, username: 'tenantadmin', password: secrets.tenantadmin });
        try {
          for (const c of wanted) {
            const bundle = path.join(dir, 'clients', c.name);
            const r = await registerLunaClient({
              session,
              host: '127.0.0.1',
              sshPort: appliance.sshPort,
              ntlsPort: appliance.ntlsPort,
              client: c.name,
              ip: c.ip,
              partition: c.partition,
              out: bundle,
              keyType: 'rsa',
              replace: false,
              password: secrets.tenantadmin,
            });
            say(`${c.role} ${c.name} (${c.ip}) -> partition ${r.partition.label} (serial ${r.partition.serialNumber}), PKCS#11 over NTLS ok; ${r.changes.length ? 'registered now' : 'already registered'}; bundle ${bundle}`);
            clients.push({ ...c, hsm: d.name, bundle, host: '127.0.0.1', ntlsPort: appliance.ntlsPort });
          }
        } finally {
          session.close();
        }
        // lunacm on the first client of each partition: partition init, role init co.
        for (const p of partitions) {
          const first = clients.find((c) => c.hsm === d.name && c.partition === p);
          if (!first) continue;
          const r = await initLunaPartition({ bundle: first.bundle, label: p, poPassword: secrets.po, coPassword: secrets.co });
          say(`partition ${p}: ${r.changes.length ? r.changes.join('; ') : 'already initialised, Crypto Officer set'} (from ${first.name})`);
        }
        if (inPair) haWork.push({ partitions, secrets, primary: d.name });
      }
      // Both members are initialised now: an HA group per partition, the clients' bundles given the group.
      for (const w of haWork) {
        const members = pair.map((m) => ({ host: '127.0.0.1', ...ports(m!.name) }));
        for (const p of w.partitions) {
          const ha = await createLunaHaGroup({
            label: `${p}-ha`.slice(0, 32),
            partition: p,
            members,
            password: w.secrets.tenantadmin,
            soPassword: w.secrets.so,
            bundles: clients.filter((c) => c.hsm === w.primary && c.partition === p).map((c) => c.bundle),
          });
          say(`HA group ${p}-ha over ${pair.map((m) => m!.name).join(' and ')}: ${ha.changes.length ? ha.changes.join('; ') : 'already set up'}`);
        }
      }
      ctx.facts.lunaClients = clients;
      // An HA group's clients are registered on every member.
      const hsmOf = (name: string) => (pair.length === 2 && pair.some((m) => m!.name === name) ? pair[0]!.name : name);
      ctx.facts.luna = Object.fromEntries(estate.dedicatedHsms.map((d) => [d.name, { clients: clients.filter((c) => c.hsm === hsmOf(d.name)).map((c) => c.name) }]));
      return clients.map(({ hsm, name, role, ip, partition }) => ({ hsm, name, role, ip, partition }));
    },
  };
}
