import { readdirSync, readFileSync, statSync } from 'fs';
import { dirname, join, resolve } from 'path';
import { Json } from './policy-document';

/** The input named on the command line cannot be checked; the message says what was wrong and what is allowed. */
export class CheckInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CheckInputError';
  }
}

export interface JsonFile {
  readonly file: string;
  readonly text: string;
  readonly json: Json;
}

const SKIPPED_FOLDERS = new Set(['node_modules', '.terraform', '.git']);

export function readJsonFile(file: string): JsonFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new CheckInputError(`${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new CheckInputError(`${file}: not valid JSON (${(err as Error).message})`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new CheckInputError(`${file}: not a JSON object`);
  return { file, text, json: json as Json };
}

function looksLikePlan(json: Json): boolean {
  return typeof json.format_version === 'string' && ('planned_values' in json || 'resource_changes' in json);
}

function walk(dir: string, into: string[]): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory() && !SKIPPED_FOLDERS.has(entry.name)) walk(join(dir, entry.name), into);
    else if (entry.isFile() && entry.name.endsWith('.tf.json')) into.push(join(dir, entry.name));
  }
  return into;
}

/**
 * The Terraform JSON configurations at a path: a file is one configuration; a folder holds one per
 * sub-folder that has *.tf.json files (Terraform reads every *.tf.json of a folder as one module, and
 * cdktf.out/stacks/<stack>/cdk.tf.json is one per stack).
 */
export function terraformJsonConfigurations(path: string): JsonFile[][] {
  const absolute = resolve(path);
  let stat;
  try {
    stat = statSync(absolute);
  } catch {
    throw new CheckInputError(`${path}: no such file or folder; allowed: a cdk.tf.json (or *.tf.json) file, or a folder such as cdktf.out`);
  }
  const files = stat.isDirectory() ? walk(absolute, []).sort() : [absolute];
  if (files.length === 0) throw new CheckInputError(`${path}: no *.tf.json file in this folder or below; allowed: a folder such as cdktf.out, or a cdk.tf.json file`);
  const read = files.map(readJsonFile);
  const plan = read.find((f) => looksLikePlan(f.json));
  if (plan) throw new CheckInputError(`${plan.file}: this is a Terraform plan (terraform show -json); check it with hsmctl plan check`);
  const byFolder = new Map<string, JsonFile[]>();
  for (const f of read) byFolder.set(dirname(f.file), [...(byFolder.get(dirname(f.file)) ?? []), f]);
  return [...byFolder.values()];
}
