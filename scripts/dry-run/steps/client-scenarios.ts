import * as fs from 'fs';
import * as path from 'path';
import { randomBytes } from 'crypto';
import { CryptographyClient, KeyClient } from '@azure/keyvault-keys';
import { deterministicGuid } from '../../../constructs/deterministic-guid';
import { writePrivateFile } from '../../../simulator/fsutil';
import { Step } from '../step-runner';
import { DryRunContext } from '../context';
import { hsmClients, hsmUriOf, primaryManagedHsms } from '../hsm-clients';
import { openPartition } from '../ntls-from-bundle';
import type { LunaClient } from './luna';

/**
 * Step 8: the firewall scenarios of the seeds, each as its client does it.
 * - PAN-OS (seed 004): the firewall's master key encrypted by a wrapping key in its Luna partition, decrypted
 *   by the HSM when needed, then `request hsm mkey-wrapping-key-rotation`: a new wrapping key, the master key
 *   re-encrypted under it, the old key kept.
 * - vSRX (seed 000): the master encryption password bound to an RSA-2048 key named <key-name>_<vm-uuid> in the
 *   Managed HSM (Key Vault names allow no underscore, so it is <key-name>-<vm-uuid> there); a second key of
 *   that name is refused, as vSRX refuses it even after a delete.
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
  wrappingKey: string;
  wrappingKeys: string[];
  wrapped: string;
}

async function panosMasterKey(ctx: DryRunContext, fw: LunaClient, say: (l: string) => void) {
  const dir = path.join(ctx.stateDir, 'ceremonies', fw.hsm, 'firewalls', fw.name);
  const stateFile = path.join(dir, 'master-key.json');
  const { ntls, session } = await openPartition(fw);
  try {
    let state: MasterKeyState;
    if (fs.existsSync(stateFile)) {
      state = JSON.parse(fs.readFileSync(stateFile, 'utf8')) as MasterKeyState;
      say(`PAN-OS ${fw.name}: master key already encrypted on the HSM by an earlier run`);
    } else {
      // The master key exists only on the firewall; here it is made, encrypted by the HSM and forgotten.
      const masterKey = randomBytes(32);
      const w = await ntls.request<{ id: string }>('generate', { session, type: 'AES', bits: 256, label: `${fw.name}-mkey-wrap-1` });
      const { wrapped } = await ntls.request<{ wrapped: string }>('wrap', { session, wrappingKey: w.id, data: masterKey.toString('base64') });
      state = { wrappingKey: w.id, wrappingKeys: [w.id], wrapped };
      writePrivateFile(stateFile, JSON.stringify(state));
      say(`PAN-OS ${fw.name}: master key encrypted by wrapping key ${w.id} in partition ${fw.partition}`);
    }
    const decrypt = async (key: string, wrapped: string) => Buffer.from((await ntls.request<{ data: string }>('unwrap', { session, wrappingKey: key, data: wrapped })).data, 'base64');
    const before = await decrypt(state.wrappingKey, state.wrapped);

    // request hsm mkey-wrapping-key-rotation
    const next = await ntls.request<{ id: string }>('generate', { session, type: 'AES', bits: 256, label: `${fw.name}-mkey-wrap-${state.wrappingKeys.length + 1}` });
    const { wrapped } = await ntls.request<{ wrapped: string }>('wrap', { session, wrappingKey: next.id, data: before.toString('base64') });
    const rotated: MasterKeyState = { wrappingKey: next.id, wrappingKeys: [...state.wrappingKeys, next.id], wrapped };
    writePrivateFile(stateFile, JSON.stringify(rotated));
    const after = await decrypt(rotated.wrappingKey, rotated.wrapped);
    const oldStillThere = (await ntls.request<{ objects: Array<{ id: string }> }>('list', { session })).objects.some((o) => o.id === state.wrappingKey);
    if (!after.equals(before)) throw new Error('after the wrapping-key rotation the HSM decrypts a different master key');
    if (!oldStillThere) throw new Error('the rotation deleted the old wrapping key (PAN-OS keeps it)');
    say(`PAN-OS ${fw.name}: wrapping key rotated ${state.wrappingKey} -> ${next.id}; the HSM decrypts the same master key; the old key is kept`);
    return { firewall: fw.name, partition: fw.partition, wrappingKeys: rotated.wrappingKeys.length, current: next.id };
  } finally {
    ntls.close();
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

  // request security pki generate-key-pair with a name already at the HSM: vSRX refuses it.
  const refused = await nameTaken(keys, keyName);
  if (!refused) throw new Error(`vSRX ${vm}: a second key named ${keyName} would be created`);
  say(`vSRX ${vm}: the HSM unseals the password; a second key named ${keyName} is refused ("Found a key with the same name at HSM")`);
  return { vm, key: keyName, secondKeyRefused: true };
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
