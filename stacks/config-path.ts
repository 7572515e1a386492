import { join, resolve } from 'path';

/** config/<env>.json of the project, whatever the current directory. */
export function configPathFor(env: string): string {
  if (!/^[a-z][a-z0-9-]{0,19}$/.test(env)) {
    throw new Error(`invalid environment name: received ${JSON.stringify(env)}; allowed: 1-20 lowercase letters, digits and hyphens, starting with a letter`);
  }
  return join(resolve(__dirname, '..', 'config'), `${env}.json`);
}
