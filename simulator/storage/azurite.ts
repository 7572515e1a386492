import * as path from 'path';
import { ChildProcess, spawn } from 'child_process';
import { BlobServiceClient, ContainerSASPermissions, StorageSharedKeyCredential, generateBlobSASQueryParameters } from '@azure/storage-blob';
import { ensurePrivateDir } from '../../files/private-files';

/** Azurite's development account: public, documented values (not a secret). */
export const DEV_ACCOUNT = 'devstoreaccount1';
export const DEV_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface AzuriteOptions {
  /** Folder for Azurite's blobs and metadata (created 0700). */
  location: string;
  /** Blob port; 0 (default) lets Azurite pick a free one. */
  port?: number;
  /** HTTPS with this certificate and key (PEM files); HTTP otherwise. */
  cert?: string;
  key?: string;
  /** Milliseconds to wait for Azurite to listen (default 30 s). */
  startTimeoutMs?: number;
}

export interface Azurite {
  /** http(s)://127.0.0.1:<port>/devstoreaccount1 */
  readonly blobEndpoint: string;
  readonly port: number;
  readonly pid: number;
  readonly location: string;
  /** A client for the development account (account key): create containers, make SAS tokens. */
  serviceClient(): BlobServiceClient;
  /** Creates the container if missing and returns its URL and a SAS token for it (no leading '?'). */
  containerSas(container: string, o?: { permissions?: string; expiresInMinutes?: number }): Promise<{ containerUri: string; sas: string }>;
  /** SIGTERM, then SIGKILL after 5 s; resolves once the process is gone. */
  stop(): Promise<void>;
}

function azuriteMain(): string {
  return require.resolve('azurite/dist/src/blob/main.js');
}

/**
 * Starts Azurite's blob service as a child process on 127.0.0.1 (the tests, `hsmctl dr-drill` and the dry-run use
 * it as the backup storage) and waits until it listens. The caller stops it; a parent that dies takes it along
 * (it is not detached).
 */
export async function startAzurite(o: AzuriteOptions): Promise<Azurite> {
  const location = path.resolve(o.location);
  ensurePrivateDir(location);
  const args = [azuriteMain(), '--location', location, '--blobHost', '127.0.0.1', '--blobPort', String(o.port ?? 0), '--skipApiVersionCheck', '--loose', '--disableTelemetry'];
  if (o.cert && o.key) args.push('--cert', o.cert, '--key', o.key);
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: location });
  const scheme = o.cert && o.key ? 'https' : 'http';
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => fail(new Error(`Azurite did not start within ${o.startTimeoutMs ?? 30_000} ms: ${out.slice(-500)}`)), o.startTimeoutMs ?? 30_000);
    const fail = (err: Error) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(err);
    };
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = /successfully listens on https?:\/\/[^:\s]+:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        resolve(Number(m[1]));
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', fail);
    child.once('exit', (code) => fail(new Error(`Azurite exited (code ${code}) before listening: ${out.slice(-500)}`)));
  });
  // Keep draining its access log so that a full pipe never blocks it.
  child.stdout!.resume();
  child.stderr!.resume();
  child.removeAllListeners('exit');
  const blobEndpoint = `${scheme}://127.0.0.1:${port}/${DEV_ACCOUNT}`;
  const credential = new StorageSharedKeyCredential(DEV_ACCOUNT, DEV_KEY);
  const serviceClient = () => new BlobServiceClient(blobEndpoint, credential, { retryOptions: { maxTries: 2, retryDelayInMs: 100 } });
  return {
    blobEndpoint,
    port,
    pid: child.pid!,
    location,
    serviceClient,
    async containerSas(container, opts = {}) {
      const c = serviceClient().getContainerClient(container);
      await c.createIfNotExists();
      const expiresOn = new Date(Date.now() + (opts.expiresInMinutes ?? 120) * 60_000);
      const sas = generateBlobSASQueryParameters({ containerName: container, permissions: ContainerSASPermissions.parse(opts.permissions ?? 'racwdl'), startsOn: new Date(Date.now() - 60_000), expiresOn }, credential).toString();
      return { containerUri: c.url, sas };
    },
    stop: () => stopChild(child),
  };
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

