import { X509Certificate, createHash, createPublicKey, randomBytes, randomUUID } from 'crypto';
import * as pkcs11js from 'pkcs11js';
import { errors } from '../http/errors';
import { Journal } from '../store/journal';
import { Token } from '../pkcs11/token';
import { KeyedMutex } from '../keyed-mutex';
import { oaepDecodeSha256 } from '../crypto/oaep';
import { OAEP_SHA1, SIGN_ALGS, signMechanism } from './algorithms';
import { DOMAIN_KEY_ID, EXCHANGE_KEY_ID } from './keys';
import { DomainRecord, InstanceRecord, SdOperationRecord, collections } from './model';
import { SdFormatError, SecurityDomainFile, buildSecurityDomainFile, decryptData, parseJwe, parseRestoreBlob, openJwe, sp800108, x5tS256, b64u, fromB64u } from '../../formats/security-domain-file';
import { selfSignedCertificate } from './x509';
import { faultPoint } from './faults';

/** The one EncData item of this simulator's domain files: the domain id and its 32-byte root secret. */
export const DOMAIN_TAG = 'mhsm-sim-domain-v1';
const DOMAIN_KEY_USAGE = { encrypt: true, decrypt: true, wrap: true, unwrap: true };
const EXCHANGE_BITS = 2048;

/** The domain key (in the token) is derived from the root secret: same domain, same key. */
export function domainKey(root: Buffer, domainId: string): Buffer {
  return sp800108(root, 'mhsm-sim backup key', domainId, 256);
}

const now = () => Math.floor(Date.now() / 1000);

/**
 * The security domain of one Managed HSM: activation by download (a new domain, or the same domain exported
 * again under new certificates), recovery (exchange key, then upload of a restore blob), and the test-only
 * activation. The domain key enters the token when the domain is created or received and never leaves it;
 * the root secret leaves only inside the encrypted data of a security-domain file.
 */
export class SecurityDomainService {
  private readonly mutex = new KeyedMutex();

  constructor(
    private readonly store: Journal,
    private readonly token: Token,
    private readonly record: () => InstanceRecord,
  ) {}

  private async save(patch: Partial<InstanceRecord>, drop: Array<keyof InstanceRecord> = []): Promise<void> {
    const next: Record<string, unknown> = { ...this.record(), ...patch };
    for (const d of drop) delete next[d];
    await this.store.commit([{ c: collections.instances, id: this.record().name, v: next }]);
  }

  get domainId(): string | undefined {
    return this.record().domain?.id;
  }

  /** Makes token and record agree after a start: stale domain/exchange objects go, interrupted uploads fail. */
  async reconcile(log: (m: string) => void): Promise<void> {
    const r = this.record();
    if (!r.activated && this.token.has(DOMAIN_KEY_ID)) {
      log(`${r.name}: removing a domain key that no activation names (an interrupted upload, or an older simulator's per-instance key)`);
      await this.token.destroy(DOMAIN_KEY_ID);
    }
    if ((r.activated || !r.recovery) && this.token.has(EXCHANGE_KEY_ID)) await this.token.destroy(EXCHANGE_KEY_ID);
    if (r.recovery && !this.token.has(EXCHANGE_KEY_ID)) await this.save({}, ['recovery']);
    if (r.sdUpload?.status === 'InProgress') {
      await this.save({ sdUpload: { status: 'Failed', statusDetails: 'The upload was interrupted by a restart of the HSM; nothing was changed. Upload the restore blob again.', updated: now() } });
    }
  }

  /** Imports a domain key and records the domain: the one way an HSM becomes active. */
  private async install(root: Buffer, id: string, origin: DomainRecord['origin'], extra: Partial<InstanceRecord>, drop: Array<keyof InstanceRecord> = []): Promise<void> {
    const key = domainKey(root, id);
    try {
      await this.token.destroy(DOMAIN_KEY_ID);
      await this.token.importAes(DOMAIN_KEY_ID, `${this.record().name}/domain-key`, key, DOMAIN_KEY_USAGE);
    } finally {
      key.fill(0);
    }
    try {
      const wrapped = await this.token.wrapBytes(DOMAIN_KEY_ID, { mechanism: pkcs11js.CKM_AES_KEY_WRAP_PAD }, root);
      if (origin === 'upload') await faultPoint('sd-upload-before-commit');
      const domain: DomainRecord = { id, rootWrapped: b64u(wrapped), created: now(), origin };
      await this.save({ ...extra, activated: true, domain }, drop);
    } catch (err) {
      await this.token.destroy(DOMAIN_KEY_ID);
      throw err;
    }
  }

  /** The test-only activation path: a fresh domain that no security-domain file protects (until one is downloaded). */
  async activateWithoutCeremony(): Promise<void> {
    await this.mutex.run('sd', async () => {
      if (this.record().activated) return;
      const root = randomBytes(32);
      try {
        await this.install(root, randomUUID(), 'test', {});
      } finally {
        root.fill(0);
      }
    });
  }

  /**
   * POST /securitydomain/download. Not yet active: a new domain is made and installed, and the HSM becomes active.
   * Already active: the same domain is exported again under the new certificates (rotation of the wrapping keys).
   */
  async download(certificates: X509Certificate[], required: number): Promise<SecurityDomainFile> {
    return this.mutex.run('sd', async () => {
      const r = this.record();
      if (r.recovery && !r.activated) throw errors.conflict('This HSM is in security domain recovery (an exchange key was issued); upload the restore blob instead of downloading a new domain.');
      let root: Buffer;
      let id: string;
      let fresh = false;
      if (r.activated) {
        if (!r.domain) throw errors.badParameter('This HSM was activated by an older simulator without a security domain record; its domain cannot be exported.');
        root = await this.token.unwrapBytes(DOMAIN_KEY_ID, { mechanism: pkcs11js.CKM_AES_KEY_WRAP_PAD }, fromB64u(r.domain.rootWrapped, 'domain'));
        id = r.domain.id;
      } else {
        root = randomBytes(32);
        id = randomUUID();
        fresh = true;
      }
      const payload = Buffer.from(JSON.stringify({ v: 1, domainId: id, root: b64u(root) }));
      try {
        const file = buildSecurityDomainFile([{ tag: DOMAIN_TAG, plaintext: payload }], certificates, required);
        const status: SdOperationRecord = { status: 'Success', statusDetails: fresh ? 'The security domain was created and the HSM is activated.' : 'The security domain was exported under the new certificates.', updated: now() };
        if (fresh) await this.install(root, id, 'download', { sdDownload: status });
        else await this.save({ sdDownload: status });
        return file;
      } finally {
        root.fill(0);
        payload.fill(0);
      }
    });
  }

  downloadStatus(): SdOperationRecord | undefined {
    const r = this.record();
    return r.sdDownload ?? (r.activated ? { status: 'Success', statusDetails: 'The HSM is activated.', updated: r.created } : undefined);
  }

  uploadStatus(): SdOperationRecord | undefined {
    return this.record().sdUpload;
  }

  /** GET /securitydomain/upload: enters recovery mode and returns the exchange key (the same one until used). */
  async transferKey(): Promise<{ key_format: 'jwk'; transfer_key: string }> {
    return this.mutex.run('sd', async () => {
      const r = this.record();
      if (r.activated) throw errors.conflict(`The Managed HSM '${r.name}' is already activated with a security domain; recovery (exchange key and upload) applies only to an HSM that is not yet activated. Nothing was changed.`);
      let rec = r.recovery && this.token.has(EXCHANGE_KEY_ID) ? r.recovery : undefined;
      if (!rec) {
        await this.token.destroy(EXCHANGE_KEY_ID);
        const e = Buffer.from([1, 0, 1]);
        const pub = await this.token.generateRsa(EXCHANGE_KEY_ID, `${r.name}/sd-exchange-key`, EXCHANGE_BITS, e, { sign: true, decrypt: true });
        try {
          const publicKey = createPublicKey({ key: { kty: 'RSA', n: b64u(pub.n), e: b64u(pub.e) }, format: 'jwk' });
          const notBefore = new Date(Date.now() - 60_000);
          const certDer = await selfSignedCertificate({
            commonName: `${r.name} security domain exchange key`,
            publicKey,
            notBefore,
            notAfter: new Date(notBefore.getTime() + 30 * 86400_000),
            sign: async (tbs) => {
              const { mech, data } = signMechanism(SIGN_ALGS.RS256, createHash('sha256').update(tbs).digest());
              return this.token.sign(EXCHANGE_KEY_ID, mech, data, 512);
            },
          });
          rec = { certificate: certDer.toString('base64'), x5tS256: x5tS256(certDer), created: now() };
          await this.save({ recovery: rec });
        } catch (err) {
          await this.token.destroy(EXCHANGE_KEY_ID);
          throw err;
        }
      }
      const cert = new X509Certificate(Buffer.from(rec.certificate, 'base64'));
      const jwk = cert.publicKey.export({ format: 'jwk' }) as { n: string; e: string };
      const transfer = {
        kty: 'RSA',
        key_ops: ['wrapKey', 'encrypt'],
        alg: 'RSA-OAEP-256',
        n: jwk.n,
        e: jwk.e,
        x5c: [rec.certificate],
        x5t: b64u(createHash('sha1').update(cert.raw).digest()),
        'x5t#S256': rec.x5tS256,
      };
      return { key_format: 'jwk', transfer_key: JSON.stringify(transfer) };
    });
  }

  /**
   * POST /securitydomain/upload: checks and opens the restore blob with the exchange key (inside the token), then
   * installs its domain. Every refusal leaves the HSM as it was.
   */
  async upload(text: string): Promise<void> {
    await this.mutex.run('sd', async () => {
      const r = this.record();
      if (r.activated) throw errors.conflict(`The Managed HSM '${r.name}' is already activated with a security domain; an upload would replace it. Nothing was changed.`);
      if (!r.recovery || !this.token.has(EXCHANGE_KEY_ID)) throw errors.badParameter('This HSM has no exchange key: GET /securitydomain/upload first (az keyvault security-domain init-recovery), make the restore blob with it, then upload.');
      const fail = (m: string) => errors.badParameter(`The security domain restore blob was refused: ${m}. Nothing was changed.`);
      let payload: { domainId: string; root: Buffer };
      try {
        const blob = parseRestoreBlob(text);
        if (blob.WrappedKey.x5t_256 !== r.recovery.x5tS256) {
          throw new SdFormatError(`it was made for another exchange key (x5t#S256 ${blob.WrappedKey.x5t_256.slice(0, 60)}); this HSM's exchange key is ${r.recovery.x5tS256}`);
        }
        const jwe = parseJwe(blob.WrappedKey.enc_key, 'WrappedKey.enc_key');
        const cek = await this.openCek(jwe.header.alg, jwe.encryptedKey);
        if (!cek) throw new SdFormatError('its wrapped key does not open with this HSM\'s exchange key (a corrupt blob, or made for another exchange key)');
        let master: Buffer | undefined;
        try {
          master = openJwe(jwe, cek);
        } finally {
          cek.fill(0);
        }
        if (!master || master.length < 16) throw new SdFormatError('its wrapped key is corrupt');
        let items;
        try {
          items = decryptData(master, blob.EncData.data);
        } finally {
          master.fill(0);
        }
        const mine = items.find((i) => i.tag === DOMAIN_TAG);
        if (!mine) throw new SdFormatError(`it holds no data tagged ${DOMAIN_TAG} (a security domain from another service cannot be uploaded into the simulator)`);
        let parsed: { v?: unknown; domainId?: unknown; root?: unknown };
        try {
          parsed = JSON.parse(mine.plaintext.toString('utf8'));
        } catch {
          throw new SdFormatError('its domain data is corrupt');
        }
        for (const i of items) i.plaintext.fill(0);
        const root = fromB64u(parsed.root, 'domain root');
        if (parsed.v !== 1 || typeof parsed.domainId !== 'string' || root.length !== 32) throw new SdFormatError('its domain data is corrupt');
        payload = { domainId: parsed.domainId, root };
      } catch (err) {
        if (err instanceof SdFormatError) throw fail(err.message);
        throw err;
      }
      try {
        await this.save({ sdUpload: { status: 'InProgress', statusDetails: 'Installing the security domain.', updated: now() } });
        await this.install(payload.root, payload.domainId, 'upload', { sdUpload: { status: 'Success', statusDetails: 'The security domain was restored and the HSM is activated.', updated: now() } }, ['recovery']);
      } catch (err) {
        await this.save({ sdUpload: { status: 'Failed', statusDetails: 'Installing the security domain failed; nothing was changed. See the simulator log.', updated: now() } }).catch(() => undefined);
        throw err;
      } finally {
        payload.root.fill(0);
      }
      await this.token.destroy(EXCHANGE_KEY_ID);
    });
  }

  /** The content-encryption key of the wrapped master key, unwrapped with the exchange key inside the token. */
  private async openCek(alg: unknown, encryptedKey: Buffer): Promise<Buffer | undefined> {
    const k = EXCHANGE_BITS / 8;
    if (encryptedKey.length !== k) return undefined;
    try {
      if (alg === 'RSA-OAEP') return await this.token.decrypt(EXCHANGE_KEY_ID, OAEP_SHA1, encryptedKey);
      if (alg !== 'RSA-OAEP-256') return undefined;
      const em = await this.token.decrypt(EXCHANGE_KEY_ID, { mechanism: pkcs11js.CKM_RSA_X_509 }, encryptedKey);
      return oaepDecodeSha256(em, k);
    } catch (err) {
      if (err instanceof pkcs11js.Pkcs11Error) return undefined;
      throw err;
    }
  }
}
