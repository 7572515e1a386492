import * as fs from 'fs';
import * as path from 'path';
import { randomBytes } from 'crypto';
import { CryptographyClient, KeyClient } from '@azure/keyvault-keys';
import { deterministicGuid } from '../../../constructs/deterministic-guid';
import { writePrivateFile } from '../../../files/private-files';
import { Step } from '../step-runner';
import { DryRunContext } from '../context';
import { hsmClients, hsmUriOf, primaryManagedHsms } from '../hsm-clients';
import * as pkcs11js from 'pkcs11js';
import { PartitionSession } from '../ntls-from-bundle';
import { lunaSecrets } from '../luna-secrets';
import { LunaClient, lunaDir } from './luna';

/**
 * Step 8: the firewall scenarios of the seeds, each as its client does it.
 * - PAN-OS (seed 004): the firewall's master key encrypted by a wrapping key in its Luna partition, decrypted
 *   by the HSM when needed, then `request hsm mkey-wrapping-key-rotation`: a new wrapping key, the master key
 *   re-encrypted under it, the old key kept.
 * - vSRX (seed 000): the master encryption password bound to an RSA-2048 key named <key-name>_<vm-uuid> in the
 *   Managed HSM (Key Vault names allow no underscore, so it is <key-name>-<vm-uuid> there); a key pair deleted
 *   and asked for again under the same name: the create is sent and the HSM's answer reported (soft delete
 *   keeps the name: 409 Conflict, the seed's "Found a key with the same name at HSM").
 */
export function clientScenariosStep(ctx: DryRunContext): Step {
  return {
    name: 'firewall scenarios: PAN-OS master key, vSRX master encryption password',
    async run({ say }) {
      const details: Record<string, unknown> = {};
      const firewall = ((ctx.facts.lunaClients ?? []) as LunaClient[]).find((c) => c.role === 'firewall');
      if (firewall) details.panos = await panosMasterKey(ctx, firewall, say);
      else say('PAN-OS master key: skipped (no firewallClients in the config)');

      const hsm = primaryManagedHsms(ctx)[0];
      const vsrx = ctx.config.firewallClients?.[0];
      if (hsm && vsrx) details.vsrx = await vsrxMasterEncryptionPassword(ctx, hsm.name, vsrx.name, say);
      else say(`vSRX master encryption password: skipped (${!hsm ? 'no Managed HSM' : 'no firewallClients in the config'})`);
      return details;
    },
  };
}

interface MasterKeyState {
  /** Labels of the wrapping key pairs in the partition, oldest first; the last one is current. */
  wrappingKeys: string[];
  wrapped: string;
}

/**
 * PAN-OS: the master key encrypted by a wrapping key in the firewall's partition (an RSA-2048 key pair there,
 * RSA-OAEP: the cipher p11-kit 0.24's RPC carries), through PKCS#11 over NTLS with the firewall's bundle as
 * its Crypto Officer; then `request hsm mkey-wrapping-key-rotation`: a new key pair, the master key
 * re-encrypted under it, the old pair kept.
 */
async function panosMasterKey(ctx: DryRunContext, fw: LunaClient, say: (l: string) => void) {
  const dir = path.join(ctx.stateDir, 'ceremonies', fw.hsm, 'firewalls', fw.name);
  const stateFile = path.join(dir, 'master-key.json');
  const partition = await PartitionSession.open(fw, lunaSecrets(lunaDir(ctx, fw.hsm)).co);
  try {
    let state: MasterKeyState;
    if (fs.existsSync(stateFile)) {
      state = JSON.parse(fs.readFileSync(stateFile, 'utf8')) as MasterKeyState;
      say(`PAN-OS ${fw.name}: master key already encrypted on the HSM by an earlier run`);
    } else {
      // The master key exists only on the firewall; here it is made, encrypted by the HSM and forgotten.
      const masterKey = randomBytes(32);
      const label = `${fw.name}-mkey-wrap-1`;
      partition.ensureRsaKeyPair(label);
      state = { wrappingKeys: [label], wrapped: partition.encrypt(label, masterKey).toString('base64') };
      writePrivateFile(stateFile, JSON.stringify(state));
      say(`PAN-OS ${fw.name}: master key encrypted by wrapping key ${label} in partition ${fw.partition}`);
    }
    const current = state.wrappingKeys[state.wrappingKeys.length - 1];
    const before = partition.decrypt(current, Buffer.from(state.wrapped, 'base64'));

    // request hsm mkey-wrapping-key-rotation
    const next = `${fw.name}-mkey-wrap-${state.wrappingKeys.length + 1}`;
    partition.ensureRsaKeyPair(next);
    const rotated: MasterKeyState = { wrappingKeys: [...state.wrappingKeys, next], wrapped: partition.encrypt(next, before).toString('base64') };
    writePrivateFile(stateFile, JSON.stringify(rotated));
    const after = partition.decrypt(next, Buffer.from(rotated.wrapped, 'base64'));
    if (!after.equals(before)) throw new Error('after the wrapping-key rotation the HSM decrypts a different master key');
    if (!partition.find(current, pkcs11js.CKO_PRIVATE_KEY)) throw new Error('the rotation deleted the old wrapping key (PAN-OS keeps it)');
    say(`PAN-OS ${fw.name}: wrapping key rotated ${current} -> ${next}; the HSM decrypts the same master key; the old key is kept`);
    return { firewall: fw.name, partition: fw.partition, wrappingKeys: rotated.wrappingKeys.length, current: next };
  } finally {
    partition.close();
  }
}

async function vsrxMasterEncryptionPassword(ctx: DryRunContext, hsm: string, vm: string, say: (l: string) => void) {
  const { keys, keyClientOptions } = hsmClients(ctx, hsmUriOf(ctx, hsm));
  // Each VM's keys carry its instance UUID, which Azure keeps unique per running VM.
  const vmUuid = deterministicGuid('vsrx-vm', ctx.env, vm);
  const keyName = `mek-binding-${vmUuid}`;
  const file = path.join(ctx.stateDir, 'ceremonies', hsm, 'vsrx', vm, 'master-encryption-password.bin');
  if (!(await nameTaken(keys, keyName))) {
    const key = await keys.createRsaKey(keyName, { hsm: true, keySize: 2048, keyOps: ['encrypt', 'decrypt'], tags: { 'vm-uuid': vmUuid, purpose: 'vSRX master binding key' } });
    const password = randomBytes(24).toString('base64url');
    const cc = new CryptographyClient(key.id!, ctx.operator!.credential, keyClientOptions as never);
    const sealed = Buffer.from((await cc.encrypt({ algorithm: 'RSA-OAEP-256', plaintext: Buffer.from(password) })).result);
    writePrivateFile(file, sealed.toString('base64'));
    say(`vSRX ${vm}: master encryption password bound to ${keyName} (RSA-2048)`);
  } else say(`vSRX ${vm}: ${keyName} exists from an earlier run`);

  const key = await keys.getKey(keyName);
  const cc = new CryptographyClient(key.id!, ctx.operator!.credential, keyClientOptions as never);
  const password = Buffer.from((await cc.decrypt({ algorithm: 'RSA-OAEP-256', ciphertext: Buffer.from(fs.readFileSync(file, 'utf8'), 'base64') })).result);
  if (password.length !== 32) throw new Error(`vSRX ${vm}: the HSM does not unseal the master encryption password`);

  // `request security pki generate-key-pair certificate-id ike-1` after `clear security pki key-pair`: vSRX
  // deletes the pair locally and at the HSM, where soft delete keeps the name; the HSM answers the new create.
  const pkiKey = `pki-ike-1-${vmUuid}`;
  if (!(await keys.getDeletedKey(pkiKey).catch(() => undefined))) {
    if (!(await keys.getKey(pkiKey).catch(() => undefined))) await keys.createRsaKey(pkiKey, { hsm: true, keySize: 2048, keyOps: ['sign', 'verify'], tags: { 'vm-uuid': vmUuid } });
    await (await keys.beginDeleteKey(pkiKey, { updateIntervalInMs: 50 } as never)).pollUntilDone();
  }
  let hsmAnswer: { status: number; code?: string; message?: string };
  try {
    const created = await keys.createRsaKey(pkiKey, { hsm: true, keySize: 2048, keyOps: ['sign', 'verify'] });
    hsmAnswer = { status: 200, message: `created ${created.id}` };
  } catch (err) {
    const e = err as { statusCode?: number; code?: string; message?: string };
    if (e.statusCode === undefined) throw err;
    hsmAnswer = { status: e.statusCode, code: e.code, message: e.message?.split('\n')[0] };
  }
  const refused = hsmAnswer.status === 409;
  // Seed 000: the name stays taken while the deleted key is retained; an HSM that accepts it breaks the scenario.
  if (!refused) throw new Error(`vSRX ${vm}: the HSM accepted a second key named ${pkiKey} (${hsmAnswer.status}) while the deleted one is retained; expected 409 Conflict`);
  say(`vSRX ${vm}: the HSM unseals the password; a second key named ${pkiKey} was ${refused ? `refused by the HSM (${hsmAnswer.status} ${hsmAnswer.code}): "Found a key with the same name at HSM"` : `accepted by the HSM (${hsmAnswer.status})`}`);
  return { vm, key: keyName, secondKey: pkiKey, secondKeyRefused: refused, hsmAnswer };
}
/** What vSRX checks before creating a key pair: the name is taken by a live or a soft-deleted key. */
async function nameTaken(keys: KeyClient, name: string): Promise<boolean> {
  const notFound = (err: { statusCode?: number }) => {
    if (err.statusCode === 404) return undefined;
    throw err;
  };
  if (await keys.getKey(name).catch(notFound)) return true;
  return !!(await keys.getDeletedKey(name).catch(notFound));
}
