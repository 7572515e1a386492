import * as fs from 'fs';
import * as path from 'path';
import { NtlsClient } from '../../simulator/luna/ntls-client';
import type { LunaClient } from './steps/luna';

/** An NTLS session on a client's partition, from the bundle register-client wrote (as CipherTrust would use it). */
export async function openPartition(c: LunaClient): Promise<{ ntls: NtlsClient; session: string; serial: string }> {
  const read = (f: string) => fs.readFileSync(path.join(c.bundle, f), 'utf8');
  const ntls = await NtlsClient.connect({
    host: c.host,
    port: c.ntlsPort,
    serverCertPem: read('server.pem'),
    clientCertPem: read(`${c.name}.pem`),
    clientKeyPem: read(`${c.name}Key.pem`),
  });
  try {
    const opened = await ntls.request<{ session: string; serial: string }>('open', { partition: c.partition });
    return { ntls, session: opened.session, serial: opened.serial };
  } catch (err) {
    ntls.close();
    throw err;
  }
}
