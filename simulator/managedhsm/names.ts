import { errors } from '../http/errors';

/** Managed HSM names: 3-24 characters, letters, digits and hyphens, a letter first, no "--", no trailing hyphen. */
export function checkHsmName(name: string): string | undefined {
  if (!/^[A-Za-z][A-Za-z0-9-]{1,22}[A-Za-z0-9]$/.test(name) || name.includes('--')) {
    return `Managed HSM name ${JSON.stringify(name.slice(0, 40))} is not valid: 3-24 letters, digits and hyphens, starting with a letter, ending with a letter or digit, no consecutive hyphens.`;
  }
  return undefined;
}

/** Key names: 1-127 characters of letters, digits and hyphens. */
export function keyName(name: string): string {
  if (!/^[A-Za-z0-9-]{1,127}$/.test(name)) {
    throw errors.badParameter(`The key name '${name.slice(0, 130)}' is not valid: 1-127 characters of letters, digits and hyphens.`);
  }
  return name;
}

/** Versions are 32 lower-case hex characters; an empty version means the latest. */
export function keyVersion(v: string): string {
  if (v !== '' && !/^[0-9a-fA-F]{32}$/.test(v)) throw errors.badParameter(`The key version '${v.slice(0, 40)}' is not valid: 32 hexadecimal characters.`);
  return v.toLowerCase();
}
