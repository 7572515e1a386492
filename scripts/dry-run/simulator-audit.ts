import * as fs from 'fs';
import * as https from 'https';
import { readEndpoints } from '../clients/target';

/**
 * Points a simulator's AuditEvent trail at a storage container and delivers every durable record, through the
 * management API (the same whether the simulator runs in this process or another): in Azure a diagnostic setting
 * names the storage account and Azure Monitor delivers; in the simulator someone has to say where.
 */
export async function deliverSimulatorAudit(simulatorDir: string, destination: { containerUrl: string; sas: string }): Promise<void> {
  await management(simulatorDir, 'PUT', '/_simulator/audit/destination', destination);
  await management(simulatorDir, 'POST', '/_simulator/audit/flush', {});
}

async function management(simulatorDir: string, method: string, route: string, payload: unknown): Promise<void> {
  const e = readEndpoints(simulatorDir);
  const token = fs.readFileSync(e.managementTokenFile, 'utf8').trim();
  const body = JSON.stringify(payload);
  const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = https.request(new URL(route, e.managementEndpoint), { method, ca: fs.readFileSync(e.caCertificate), headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body);
  });
  if (status !== 200) {
    let why = text.slice(0, 300);
    try {
      why = JSON.parse(text).error.message;
    } catch {
      // Not the service's error shape: the raw text (never holds the SAS) is shown.
    }
    throw new Error(`the simulator refused ${method} ${route} (HTTP ${status}): ${why}`);
  }
}
