import * as fs from 'fs';
import * as https from 'https';
import { readEndpoints } from '../clients/target';

/**
 * Registers a service principal in a simulator running in another process, through its management API
 * (kept apart from the data planes): in Azure the identities exist already, in the simulator someone has to
 * create them. The simulator writes the principal's secret to its secrets/ folder.
 */
export async function registerPrincipal(simulatorDir: string, objectId: string): Promise<void> {
  const e = readEndpoints(simulatorDir);
  const token = fs.readFileSync(e.managementTokenFile, 'utf8').trim();
  const url = new URL('/_simulator/principals', e.managementEndpoint);
  const body = JSON.stringify({ objectId });
  const status = await new Promise<number>((resolve, reject) => {
    const req = https.request(url, { method: 'POST', ca: fs.readFileSync(e.caCertificate), headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
  if (status !== 201 && status !== 200) throw new Error(`the simulator refused to register principal ${objectId} (HTTP ${status})`);
}
