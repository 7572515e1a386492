import * as https from 'https';
import * as path from 'path';
import { SigningIdentity, ensureIdentity, withIssuers } from './signing-identity';

/**
 * What the simulated HSM hardware brings beyond its keys: a vendor certificate chain (a vendor root CA and the
 * device certificate that signs key attestations, as Marvell's chain does for Managed HSM), the certificate
 * that signs secure key release responses (issued by the simulator's CA for 127.0.0.1, so a client checks it as
 * it checks the HSM's TLS certificate), and outbound HTTPS that trusts the simulator's CA (to fetch an
 * attestation provider's OpenID metadata and keys).
 */
export class HsmPlatform {
  readonly vendorRoot: SigningIdentity;
  /** The device key, with its chain up to the vendor root. */
  readonly device: SigningIdentity;
  /** The release-response signer, with its chain up to the simulator's CA. */
  readonly releaseSigner: SigningIdentity;
  private readonly agent: https.Agent;

  constructor(stateDir: string, tls: { caCertPath: string; caKeyPath: string; caCert: string }) {
    const dir = path.join(stateDir, 'attestation');
    const rsa = ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'];
    const root = ensureIdentity({ dir, name: 'vendor-root', subject: '/O=Simulated HSM Vendor/CN=Simulated HSM Vendor Root CA', keyArgs: rsa, extensions: ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign,cRLSign'] });
    const device = ensureIdentity({
      dir,
      name: 'device',
      subject: '/O=Simulated HSM Vendor/OU=Key attestation/CN=azure-hsm-cdktf simulated HSM partition',
      keyArgs: rsa,
      issuer: { keyFile: root.keyFile, certFile: root.certFile },
      extensions: ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature'],
    });
    const release = ensureIdentity({
      dir,
      name: 'release-signing',
      subject: '/CN=127.0.0.1',
      keyArgs: rsa,
      issuer: { keyFile: tls.caKeyPath, certFile: tls.caCertPath },
      extensions: ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature', 'subjectAltName=IP:127.0.0.1,DNS:localhost'],
    });
    this.vendorRoot = root;
    this.device = withIssuers(device, root);
    this.releaseSigner = { key: release.key, chain: release.chain, x5c: [...release.x5c, pemToB64(tls.caCert)] };
    this.agent = new https.Agent({ ca: tls.caCert, keepAlive: false });
  }

  /** GET of a JSON document over HTTPS (64 KiB at most, 5 s): an attestation provider's metadata or keys. */
  fetchJson(url: string): Promise<unknown> {
    return new Promise((resolve, reject) => {
      let u: URL;
      try {
        u = new URL(url);
      } catch {
        return reject(new Error(`${url.slice(0, 200)} is not a URL`));
      }
      if (u.protocol !== 'https:') return reject(new Error(`${url.slice(0, 200)} is not an https URL`));
      const req = https.get(u, { agent: this.agent, timeout: 5000 }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > 64 * 1024) req.destroy(new Error(`${url.slice(0, 200)} answered more than 64 KiB`));
          else chunks.push(c);
        });
        res.on('end', () => {
          if (res.statusCode !== 200) return reject(new Error(`${url.slice(0, 200)} answered HTTP ${res.statusCode}`));
          try {
            resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
          } catch {
            reject(new Error(`${url.slice(0, 200)} did not answer JSON`));
          }
        });
      });
      req.on('timeout', () => req.destroy(new Error(`${url.slice(0, 200)} did not answer within 5 s`)));
      req.on('error', reject);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

function pemToB64(pem: string): string {
  return pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
}
