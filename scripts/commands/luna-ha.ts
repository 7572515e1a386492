import * as fs from 'fs';
import * as path from 'path';
import * as tls from 'tls';
import { Command } from '../command';
import { UsageError } from '../flags';
import { certificateFingerprint } from '../clients/certificate-fingerprint';
import { writeFileAtomic } from '../../files/private-files';
import { LUNA_TARGET_FLAGS, LunaCommandError, LunaSession, LunaStepsError, resolveLunaTarget, secretFrom } from './luna-ssh';
import { readBundle } from './luna-connect';

const PARTITION = /^[A-Za-z0-9_-]{1,32}$/;
const LABEL = /^[A-Za-z0-9_.-]{1,32}$/;

export interface HaMember {
  host: string;
  sshPort: number;
  ntlsPort: number;
}

export interface HaCreateOptions {
  label: string;
  partition: string;
  /** In order: the first holds the initialised partition, cloned to the others. */
  members: HaMember[];
  password: string;
  soPassword: string;
  /** Client bundles to make HA clients: registered on every member, their bundle.json given the group. */
  bundles: string[];
}

/**
 * `hsmctl luna ha create`: an HA group over the appliances of a Dedicated HSM HA pair. On each member, over SSH
 * as tenantadmin with the HSM SO logged in: the other members' server.pem copied, and `partition replication add`
 * for the partition (the last member first, so that the first, holding the initialised partition, clones it
 * to the others once they all know each other; appliances of different cloning domains refuse). Then each
 * client bundle is registered on every member and given the group, so its tunnel fails over in member order.
 */
export async function createLunaHaGroup(o: HaCreateOptions): Promise<{ label: string; members: string[]; results: string[]; changes: string[] }> {
  const done: string[] = [];
  const sessions: LunaSession[] = [];
  try {
    for (const m of o.members) sessions.push(await LunaSession.connect({ host: m.host, port: m.sshPort, username: 'tenantadmin', password: o.password }));
    const certs = await Promise.all(sessions.map(async (s) => (await s.get('server.pem')).toString('utf8')));
    for (const s of sessions) await s.lunash(`partition show -partition ${o.partition}`);
    const results: string[] = [];
    for (let i = o.members.length - 1; i >= 0; i--) {
      const s = sessions[i];
      await s.lunash('hsm login', [o.soPassword]);
      const show = await s.lunash(`partition replication show -partition ${o.partition}`);
      for (let j = 0; j < o.members.length; j++) {
        if (j === i) continue;
        const peer = o.members[j];
        if (show.includes(certificateFingerprint(certs[j])) && i !== 0) continue;
        const file = `peer-${peer.host.replace(/[^0-9A-Za-z.]/g, '_')}-${peer.ntlsPort}.pem`;
        await s.put(file, Buffer.from(certs[j]));
        const out = await s.lunash(`partition replication add -partition ${o.partition} -peer ${peer.host} -port ${peer.ntlsPort} -certificate ${file}`);
        const line = out.split(/\r?\n/).find((l) => /Peer|cloned|same partition/.test(l))?.trim() ?? 'replication added';
        results.push(`${o.members[i].host}:${o.members[i].ntlsPort}: ${line}`);
        done.push(`member ${i + 1}: replicates ${o.partition} with ${peer.host}:${peer.ntlsPort}`);
      }
    }
    for (const dir of o.bundles) {
      const bundleFile = path.join(dir, 'bundle.json');
      const bundle = readBundle(path.dirname(bundleFile));
      const certPem = fs.readFileSync(path.join(dir, bundle.client.certificate), 'utf8');
      const fp = certificateFingerprint(certPem);
      for (let i = 0; i < o.members.length; i++) {
        const s = sessions[i];
        const existing = await s.exec(`client show -client ${bundle.client.name}`);
        if (existing.code !== 0) {
          await s.put(`${bundle.client.ip}.pem`, Buffer.from(certPem));
          await s.lunash(`client register -client ${bundle.client.name} -ip ${bundle.client.ip}`);
          done.push(`registered ${bundle.client.name} on member ${i + 1}`);
        } else if (!(await s.lunash(`client fingerprint -client ${bundle.client.name}`)).includes(fp)) {
          throw new LunaCommandError(`client ${bundle.client.name} is registered on member ${i + 1} with another certificate; delete it there first`);
        }
        if (!(await s.lunash(`client show -client ${bundle.client.name}`)).includes(`"${o.partition}"`)) {
          await s.lunash(`client assignPartition -client ${bundle.client.name} -partition ${o.partition}`);
          done.push(`assigned ${o.partition} to ${bundle.client.name} on member ${i + 1}`);
        }
      }
      const members = o.members.map((m, i) => {
        const file = `server-${i + 1}.pem`;
        writeFileAtomic(path.join(dir, file), certs[i], 0o600);
        return { address: m.host, ntlsPort: m.ntlsPort, serverCertificate: file, serverCertificateSha256: certificateFingerprint(certs[i]) };
      });
      const ha = { label: o.label, partition: o.partition, members };
      if (JSON.stringify(bundle.ha) !== JSON.stringify(ha)) {
        writeFileAtomic(bundleFile, `${JSON.stringify({ ...bundle, ha }, null, 2)}\n`, 0o600);
        done.push(`gave ${dir} the HA group ${o.label}`);
      }
    }
    return { label: o.label, members: o.members.map((m) => `${m.host}:${m.ntlsPort}`), results, changes: done };
  } catch (err) {
    throw LunaStepsError.after(err, done);
  } finally {
    for (const s of sessions) s.close();
  }
}

/** Whether a member accepts this client's NTLS link now: TLS with the bundle's certificate, then p11-kit's version byte answered. */
export function memberUp(dir: string, m: { address: string; ntlsPort: number; serverCertificateSha256: string }, bundle: { client: { certificate: string; key?: string; name: string } }): Promise<boolean> {
  const cert = fs.readFileSync(path.join(dir, bundle.client.certificate), 'utf8');
  const key = fs.readFileSync(path.join(dir, bundle.client.key ?? `${bundle.client.name}Key.pem`), 'utf8');
  return new Promise((resolve) => {
    const s = tls.connect({ host: m.address, port: m.ntlsPort, cert, key, rejectUnauthorized: false, timeout: 5000 });
    const done = (up: boolean) => {
      s.destroy();
      resolve(up);
    };
    s.once('secureConnect', () => {
      const raw = s.getPeerCertificate()?.raw;
      if (!raw || certificateFingerprint(raw) !== m.serverCertificateSha256) return done(false);
      s.write(Buffer.from([1]));
    });
    s.once('data', () => done(true));
    s.once('timeout', () => done(false));
    s.once('error', () => done(false));
    s.once('close', () => done(false));
  });
}

export const lunaHaCreateCommand: Command = {
  details: [
    'Over SSH on each member (tenantadmin, HSM SO login): the other members\' server.pem copied and the partition',
    'replicated with them (the simulator\'s `partition replication add`; members must share the cloning domain);',
    'the first member holds the initialised partition and clones it to the others. Each --bundle is then',
    'registered on every member and given the group: its tunnel (hsmctl luna connect) tries the members in order.',
    '',
    'example: TA_PW=... SO_PW=... hsmctl luna ha create --label ctm-ha --partition ctm_part \\',
    '           --member 10.2.1.8 --member 10.2.1.9 --password-env TA_PW --so-password-env SO_PW --bundle ./ctm-bundle',
  ].join('\n'),
  flags: {
    label: { type: 'string', value: 'LABEL', description: 'HA group label (required)' },
    partition: { type: 'string', value: 'NAME', description: 'the partition, of the same name on every member (required)' },
    member: { type: 'list', value: 'HOST|NAME...', description: 'the members in order, two or more (required); names or IPs with --from-outputs; HOST:SSH_PORT:NTLS_PORT for other ports' },
    'from-outputs': LUNA_TARGET_FLAGS['from-outputs'],
    simulator: LUNA_TARGET_FLAGS.simulator,
    bundle: { type: 'list', value: 'DIR...', description: 'client bundles to make HA clients' },
    'password-env': { type: 'string', value: 'VAR', description: "tenantadmin's password (the same on every member)" },
    'password-file': { type: 'string', value: 'FILE', description: '... or from FILE' },
    'so-password-env': { type: 'string', value: 'VAR', description: 'HSM Administrator (SO) password (the same on every member)' },
    'so-password-file': { type: 'string', value: 'FILE', description: '... or from FILE' },
    json: { type: 'boolean', description: 'print the result as JSON' },
  },
  async run(flags) {
    const label = flags.label as string | undefined;
    const partition = flags.partition as string | undefined;
    const members = (flags.member as string[] | undefined) ?? [];
    if (!label || !partition) throw new UsageError('--label and --partition are required');
    if (!LABEL.test(label)) throw new UsageError(`--label must be 1 to 32 letters, digits, ., - or _; got ${JSON.stringify(label.slice(0, 40))}`);
    if (!PARTITION.test(partition)) throw new UsageError(`--partition must be 1 to 32 letters, digits, - or _; got ${JSON.stringify(partition.slice(0, 40))}`);
    if (members.length < 2) throw new UsageError(`--member must name two or more appliances; got ${members.length}`);
    if (new Set(members).size !== members.length) throw new UsageError('--member names an appliance twice');
    const resolved = members.map((m) => {
      // HOST:SSH_PORT:NTLS_PORT names an appliance on other ports than 22 and 1792 (no --simulator or --from-outputs).
      const ports = /^([^:]+):(\d{1,5}):(\d{1,5})$/.exec(m);
      if (ports && !flags.simulator && !flags['from-outputs']) return { host: ports[1], sshPort: Number(ports[2]), ntlsPort: Number(ports[3]) };
      const t = resolveLunaTarget({ ...flags, hsm: m });
      return { host: t.host, sshPort: t.sshPort, ntlsPort: t.ntlsPort };
    });
    const bundles = ((flags.bundle as string[] | undefined) ?? []).map((b) => path.resolve(b));
    for (const b of bundles) if (!fs.existsSync(path.join(b, 'bundle.json'))) throw new UsageError(`--bundle ${b.slice(0, 200)}: no bundle.json there`);
    const password = secretFrom(flags, 'password', "tenantadmin's password");
    const soPassword = secretFrom(flags, 'so-password', 'the HSM Administrator password');
    try {
      const r = await createLunaHaGroup({ label, partition, members: resolved, password, soPassword, bundles });
      if (flags.json) console.log(JSON.stringify(r, null, 2));
      else {
        for (const l of r.results) console.log(l);
        console.log(r.changes.length ? r.changes.map((c) => `- ${c}`).join('\n') : 'nothing to change: the group is set up');
        console.log(`HA group ${label}: ${r.members.join(', ')}`);
      }
      return 0;
    } catch (err) {
      return LunaStepsError.report('luna ha create', err);
    }
  },
};

export const lunaHaShowCommand: Command = {
  flags: {
    bundle: { type: 'string', value: 'DIR', description: 'the client bundle (required)' },
    json: { type: 'boolean', description: 'print the result as JSON' },
  },
  async run(flags) {
    const dir = flags.bundle as string | undefined;
    if (!dir) throw new UsageError('--bundle DIR is required');
    const bundle = readBundle(dir);
    if (!bundle.ha) {
      console.error(`hsmctl luna ha show: ${dir} has no HA group (make one with hsmctl luna ha create --bundle ${dir})`);
      return 1;
    }
    const members = await Promise.all(bundle.ha.members.map(async (m, i) => ({ order: i + 1, member: `${m.address}:${m.ntlsPort}`, up: await memberUp(dir, m, bundle) })));
    const r = { label: bundle.ha.label, partition: bundle.ha.partition, members, serving: members.find((m) => m.up)?.member ?? null };
    if (flags.json) console.log(JSON.stringify(r, null, 2));
    else {
      console.log(`HA group ${r.label}, partition ${r.partition}`);
      for (const m of members) console.log(`  ${m.order}. ${m.member}  ${m.up ? 'up' : 'down'}`);
      console.log(r.serving ? `a client now reaches ${r.serving}` : 'no member takes the client now');
    }
    return r.serving ? 0 : 1;
  },
};
