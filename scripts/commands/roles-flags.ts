import { FlagSpecs } from '../flags';

/** --role, --assignee and --scope of `hsmctl roles assign` and `roles remove`. */
export const ROLE_FLAGS: FlagSpecs = {
  role: { type: 'string', value: 'NAME|ID', description: 'the role: its name ("Managed HSM Crypto User" or "Crypto User"), GUID or id (required)' },
  assignee: { type: 'string', value: 'OBJECT_ID', description: 'the object id of the user, group or service principal (required)' },
  scope: { type: 'string', value: 'SCOPE', description: '"/" (the whole HSM), "/keys" (every key) or "/keys/NAME" (one key) (required)' },
};
