import * as fs from 'fs';
import { UsageError, ParsedFlags } from '../flags';

export function intFlag(flags: ParsedFlags, name: string, def: number, min: number, max: number): number {
  const v = flags[name];
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be an integer from ${min} to ${max}; got ${String(v)}`);
  return n;
}

/** A string flag that must be given; `when` says in which case, e.g. "to wrap a key here". */
export function required(flags: ParsedFlags, name: string, when?: string): string {
  const v = flags[name];
  if (typeof v !== 'string' || v === '') throw new UsageError(`--${name} is required${when ? ` ${when}` : ''}`);
  return v;
}

/** The SAS token: --sas-file FILE or $AZURE_STORAGE_SAS_TOKEN, never a flag's value (shell history and process lists keep those). */
export function readSas(flags: ParsedFlags): string {
  if (flags['sas-file']) {
    try {
      return fs.readFileSync(flags['sas-file'] as string, 'utf8').trim().replace(/^\?/, '');
    } catch (err) {
      throw new UsageError(`--sas-file ${String(flags['sas-file'])}: ${(err as Error).message}`);
    }
  }
  const s = process.env.AZURE_STORAGE_SAS_TOKEN;
  if (!s) throw new UsageError('a SAS token for the container is required: --sas-file FILE or $AZURE_STORAGE_SAS_TOKEN');
  return s.trim().replace(/^\?/, '');
}

export function storageUrl(flags: ParsedFlags): string {
  const u = required(flags, 'storage-url');
  let url: URL;
  try {
    url = new URL(u);
  } catch {
    throw new UsageError(`--storage-url ${u}: not a URL (https://<account>.blob.core.windows.net/<container>)`);
  }
  if (url.search) throw new UsageError('--storage-url must not carry a query: give the SAS token with --sas-file or --sas');
  return u.replace(/\/+$/, '');
}
