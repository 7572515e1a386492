import * as fs from 'fs';
import * as path from 'path';
import * as net from 'net';
import { X509Certificate, createPrivateKey, generateKeyPairSync } from 'crypto';
import { execFileSync } from 'child_process';
import { Command } from '../command';
import { UsageError } from '../flags';
import { ensurePrivateDir, writeFileAtomic } from '../../files/private-files';
import { certificateFingerprint } from '../clients/certificate-fingerprint';
import { LUNA_TARGET_FLAGS, LunaCommandError, LunaStepsError, LunaSession, resolveLunaTarget, secretFrom } from './luna-ssh';

const CLIENT = /^[A-Za-z0-9_.-]{1,64}$/;
const PARTITION = /^[A-Za-z0-9_-]{1,32}$/;

/** Writes a 0600 file only when its content differs, so that a re-run leaves the bundle untouched. */
function writeIfChanged(file: string, data: string): boolean {
  if (fs.existsSync(file) && fs.readFileSync(file, 'utf8') === data) {
    fs.chmodSync(file, 0o600);
    return false;
  }
  writeFileAtomic(file, data, 0o600);
  return true;
}

/**
 * The client's certificate and key, as `vtl createcert -n <ip>` makes them: a self-signed certificate whose
 * subject CN is the client's IP, RSA 2048 (or EC P-256), valid ten years. Kept and reused when they exist,
 * match each other and name this IP.
 */
function ensureClientCert(dir: string, client: string, ip: string, keyType: 'rsa' | 'ec'): { certPem: string; keyPem: string; created: boolean } {
  const certFile = path.join(dir, `${client}.pem`);
  const keyFile = path.join(dir, `${client}Key.pem`);
  if (fs.existsSync(certFile) && fs.existsSync(keyFile)) {
    const certPem = fs.readFileSync(certFile, 'utf8');
    const keyPem = fs.readFileSync(keyFile, 'utf8');
    try {
      const cert = new X509Certificate(certPem);
      if (cert.checkPrivateKey(createPrivateKey(keyPem)) && cert.subject.split('\n').includes(`CN=${ip}`)) return { certPem, keyPem, created: false };
    } catch {
      // Unreadable: made again below.
    }
  }
  const { privateKey } = keyType === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'prime256v1' }) : generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  writeFileAtomic(keyFile, keyPem, 0o600);
  let certPem: string;
  try {
    certPem = execFileSync(
      'openssl',
      ['req', '-x509', '-new', '-key', keyFile, '-sha256', '-days', '3650', '-subj', `/CN=${ip}`, '-addext', 'extendedKeyUsage=clientAuth'],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
    );
  } catch (err) {
    const e = err as { code?: string; stderr?: string };
    throw new LunaCommandError(e.code === 'ENOENT' ? 'the openssl command is missing (Debian package openssl)' : `openssl could not make the client certificate: ${String(e.stderr ?? '').trim()}`);
  }
  writeFileAtomic(certFile, certPem, 0o600);
  return { certPem, keyPem, created: true };
}

function field(out: string, name: string): string | undefined {
  return new RegExp(`${name}:[ \\t]*(.*)`).exec(out)?.[1].trim();
}

export const lunaRegisterClientCommand: Command = {
  details: [
    'As the seeds do by hand: makes the client certificate and key (as vtl createcert), fetches server.pem,',
    'copies the certificate to the appliance as <ip>.pem, client register, client assignPartition, checks with',
    'client show, writes the bundle CipherTrust Manager needs (partition label and serial number, HSM IP, server',
    'certificate, client certificate and key; files 0600 in a 0700 folder), then proves that PKCS#11 over NTLS',
    '(hsmctl luna connect) offers the partition. Re-running changes nothing. A client name registered with another IP or another',
    'certificate is refused unless --replace (which deletes and registers it again).',
    '',
    'example: TA_PW=... hsmctl luna register-client --hsm 10.0.2.4 --password-env TA_PW --client cm1 \\',
    '           --ip 10.0.1.5 --partition luna_part --out ./cm1-bundle',
  ].join('\n'),
  flags: {
    ...LUNA_TARGET_FLAGS,
    'ntls-port': { type: 'string', value: 'PORT', description: 'NTLS port; default 1792' },
    client: { type: 'string', value: 'NAME', description: 'client name on the appliance (required)' },
    ip: { type: 'string', value: 'IP', description: "the client's IP address (required)" },
    partition: { type: 'string', value: 'NAME', description: 'partition to assign (required)' },
    out: { type: 'string', value: 'DIR', description: 'bundle folder; default ./luna-clients/<client>' },
    'key-type': { type: 'string', value: 'rsa|ec', description: 'client key: rsa (2048, as vtl; default) or ec (P-256)' },
    replace: { type: 'boolean', description: 'replace a registration of this name with another IP or certificate' },
    'password-env': { type: 'string', value: 'VAR', description: "tenantadmin's password" },
    'password-file': { type: 'string', value: 'FILE', description: '... or from the first line of FILE' },
    'host-key-sha256': { type: 'string', value: 'FP', description: "pin the appliance's SSH host key (SHA256:...)" },
    json: { type: 'boolean', description: 'print the result as JSON' },
  },
  async run(flags) {
    const client = flags.client as string | undefined;
    const ip = flags.ip as string | undefined;
    const partition = flags.partition as string | undefined;
    if (!client || !ip || !partition) throw new UsageError('--client, --ip and --partition are required');
    if (!CLIENT.test(client)) throw new UsageError(`--client must be 1 to 64 letters, digits, ., - or _; got ${JSON.stringify(client.slice(0, 40))}`);
    if (!net.isIP(ip)) throw new UsageError(`--ip must be an IP address; got ${JSON.stringify(ip.slice(0, 40))}`);
    if (!PARTITION.test(partition)) throw new UsageError(`--partition must be 1 to 32 letters, digits, - or _; got ${JSON.stringify(partition.slice(0, 40))}`);
    const keyType = (flags['key-type'] as string | undefined) ?? 'rsa';
    if (keyType !== 'rsa' && keyType !== 'ec') throw new UsageError(`--key-type must be rsa or ec; got ${JSON.stringify(keyType.slice(0, 20))}`);
    const { host, sshPort, ntlsPort } = resolveLunaTarget(flags);
    const password = secretFrom(flags, 'password', "tenantadmin's password");
    const out = path.resolve((flags.out as string | undefined) ?? path.join('luna-clients', client));
    const o: RegisterClientOptions = { host, sshPort, ntlsPort, client, ip, partition, out, keyType, replace: flags.replace === true, password, hostKeySha256: flags['host-key-sha256'] as string | undefined };
    try {
      const result = await registerLunaClient(o);
      if (flags.json) console.log(JSON.stringify(result, null, 2));
      else {
        console.log(result.changes.length ? result.changes.map((d) => `- ${d}`).join('\n') : 'nothing to change: the client is already registered and the bundle is current');
        console.log(`client ${client} (${ip}) reaches partition ${result.partition.label} (serial ${result.partition.serialNumber}) on ${result.hsmIp} over NTLS; bundle: ${out} (hsmctl luna connect --bundle ${out})`);
      }
      return 0;
    } catch (err) {
      return LunaStepsError.report('luna register-client', err);
    }
  },
};

export interface RegisterClientOptions {
  host: string;
  sshPort: number;
  /** An open session to the appliance to use (and leave open), e.g. for several clients in a row. */
  session?: LunaSession;
  ntlsPort: number;
  client: string;
  ip: string;
  partition: string;
  out: string;
  keyType: 'rsa' | 'ec';
  replace: boolean;
  password: string;
  hostKeySha256?: string;
}

export interface RegisterClientResult {
  bundle: string;
  partition: { name: string; label: string; serialNumber: string };
  hsmIp: string;
  ntls: { ok: true; token: string };
  changes: string[];
}

/**
 * The steps of `hsmctl luna register-client` over SSH and NTLS, for the command and for the dry-run:
 * certificate, server.pem, register, assign, check, NTLS proof, bundle; a re-run changes nothing.
 */
export async function registerLunaClient(o: RegisterClientOptions): Promise<RegisterClientResult> {
  const { host, sshPort, ntlsPort, client, ip, partition, out, keyType, password } = o;
  const done: string[] = [];
  let s: LunaSession | undefined;
  try {
    s = o.session ?? (await LunaSession.connect({ host, port: sshPort, username: 'tenantadmin', password, hostKeySha256: o.hostKeySha256 }));
    const hsmIp = field(await s.lunash('network show'), 'IP Address')?.split(' ')[0] ?? host;
    const pshow = await s.lunash(`partition show -partition ${partition}`);
    const serial = field(pshow, 'Partition SN');
    const label = field(pshow, 'Partition Label') ?? partition;
    if (!serial) throw new LunaCommandError(`'partition show' gave no serial number for ${partition}`);

    // What the appliance already knows about this name, before anything changes locally or remotely.
    const existing = await s.exec(`client show -client ${client}`);
    const registered = existing.code === 0;
    const regIp = registered ? field(existing.output, 'IPAddress') : undefined;
    const regParts = registered ? [...(field(existing.output, 'Partitions') ?? '').matchAll(/"([^"]+)"/g)].map((m) => m[1]) : [];
    const regFp = registered ? field(await s.lunash(`client fingerprint -client ${client}`), 'Certificate fingerprint') : undefined;
    if (registered && regIp !== ip && !o.replace) {
      throw new LunaCommandError(`client ${client} is already registered with IP ${regIp || '(a host name)'}, not ${ip}; use --replace to register it again`);
    }
    const localCertFile = path.join(out, `${client}.pem`);
    const localFp = fs.existsSync(localCertFile) ? safeFingerprint(fs.readFileSync(localCertFile, 'utf8')) : undefined;
    if (registered && regIp === ip && regFp !== localFp && !o.replace) {
      throw new LunaCommandError(`client ${client} is registered with another certificate than ${localCertFile}; use --replace to register this one`);
    }

    ensurePrivateDir(out);
    const cert = ensureClientCert(out, client, ip, keyType);
    if (cert.created) done.push(`made the client certificate and key (${keyType === 'ec' ? 'EC P-256' : 'RSA 2048'}, CN=${ip})`);
    const serverPem = (await s.get('server.pem')).toString('utf8');
    const fp = certificateFingerprint(cert.certPem);
    if (!registered || regIp !== ip || regFp !== fp) {
      await s.put(`${ip}.pem`, Buffer.from(cert.certPem));
      if (registered) {
        await s.lunash(`client delete -client ${client} -force`);
        done.push(`deleted the previous registration of ${client}`);
      }
      await s.lunash(`client register -client ${client} -ip ${ip}`);
      done.push(`registered client ${client} (${ip})`);
    }
    if (!registered || regIp !== ip || regFp !== fp || !regParts.includes(partition)) {
      await s.lunash(`client assignPartition -client ${client} -partition ${partition}`);
      done.push(`assigned partition ${partition} to ${client}`);
    }
    const check = await s.lunash(`client show -client ${client}`);
    if (field(check, 'IPAddress') !== ip || !(field(check, 'Partitions') ?? '').includes(`"${partition}"`)) {
      throw new LunaCommandError(`'client show' does not list ${client} with ${ip} and partition ${partition}`);
    }

    const bundle = {
      hsm: { ip: hsmIp, address: host, sshPort, ntlsPort, serverCertificate: 'server.pem', serverCertificateSha256: certificateFingerprint(serverPem) },
      partition: { name: partition, label, serialNumber: serial },
      client: { name: client, ip, certificate: `${client}.pem`, key: `${client}Key.pem`, certificateSha256: fp },
      // The bodies of CipherTrust Manager's luna-network REST calls; the partition (Crypto Officer) password is
      // never written here: CipherTrust asks for it when the connection is added.
      ciphertrust: {
        server: { hostname: hsmIp, hsm_certificate: serverPem },
        connection: { name: `${client}-${partition}`, partitions: [{ hostname: hsmIp, partition_label: label, serial_number: serial }], is_ha_enabled: false },
      },
    };
    const changedFiles = [writeIfChanged(path.join(out, 'server.pem'), serverPem), writeIfChanged(path.join(out, 'bundle.json'), `${JSON.stringify(bundle, null, 2)}\n`)];
    if (changedFiles.some(Boolean)) done.push(`wrote the bundle in ${out}`);

    // The proof: PKCS#11 through the bundle (p11-kit over NTLS) sees the partition as a token.
    const { openPartition } = require('./luna-connect') as typeof import('./luna-connect');
    const p = await openPartition(out);
    p.close();
    return { bundle: out, partition: { name: partition, label, serialNumber: serial }, hsmIp, ntls: { ok: true, token: p.token }, changes: done };
  } catch (err) {
    throw LunaStepsError.after(err, done);
  } finally {
    if (!o.session) s?.close();
  }
}

function safeFingerprint(pem: string): string | undefined {
  try {
    return certificateFingerprint(pem);
  } catch {
    return undefined;
  }
}
