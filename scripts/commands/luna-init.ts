import { Command } from '../command';
import { UsageError } from '../flags';
import { LUNA_TARGET_FLAGS, LunaCommandError, LunaStepsError, LunaSession, loginWithChange, parseHsmShow, parsePartitionList, resolveLunaTarget, secretFrom } from './luna-ssh';

const FACTORY_PASSWORD = 'PASSWORD';
const NAME = /^[A-Za-z0-9_-]{1,32}$/;
const LABEL = /^[A-Za-z0-9_.-]{1,32}$/;

export const lunaInitCommand: Command = {
  details: [
    'Over SSH as tenantadmin, exactly as on a real appliance: the first login replaces the factory password,',
    'then hsm init (label, domain), hsm login, hsm changePolicy -policy 12 -value 0 with --fips (this zeroizes the',
    'HSM, which is then initialised again), partition create for each --partition. Steps already done are skipped:',
    'running it again changes nothing. An HSM initialised with another label is refused, never re-initialised.',
    'Secrets come from environment variables (--X-env NAME) or files (--X-file FILE), never from the command line.',
    '',
    'example: TA_PW=... SO_PW=... DOM=... hsmctl luna init --hsm 10.0.2.4 --password-env TA_PW --so-password-env SO_PW \\',
    '           --domain-env DOM --label LunaHSM --fips --partition luna_part',
  ].join('\n'),
  flags: {
    ...LUNA_TARGET_FLAGS,
    label: { type: 'string', value: 'LABEL', description: 'HSM label (required)' },
    partition: { type: 'list', value: 'NAME...', description: 'partitions to create (optional)' },
    fips: { type: 'boolean', description: 'set FIPS 140-2 mode (policy 12 = 0; zeroizes a non-FIPS HSM first)' },
    'password-env': { type: 'string', value: 'VAR', description: "tenantadmin's password (set at first login)" },
    'password-file': { type: 'string', value: 'FILE', description: '... or from the first line of FILE' },
    'initial-password-env': { type: 'string', value: 'VAR', description: 'the password before the first login; default the factory PASSWORD' },
    'initial-password-file': { type: 'string', value: 'FILE', description: '... or from FILE' },
    'so-password-env': { type: 'string', value: 'VAR', description: 'HSM Administrator (SO) password (required)' },
    'so-password-file': { type: 'string', value: 'FILE', description: '... or from FILE' },
    'domain-env': { type: 'string', value: 'VAR', description: 'cloning domain (required)' },
    'domain-file': { type: 'string', value: 'FILE', description: '... or from FILE' },
    'host-key-sha256': { type: 'string', value: 'FP', description: "pin the appliance's SSH host key (SHA256:...)" },
    json: { type: 'boolean', description: 'print the result as JSON' },
  },
  async run(flags) {
    const label = flags.label as string | undefined;
    if (!label) throw new UsageError('--label is required');
    if (!LABEL.test(label)) throw new UsageError(`--label must be 1 to 32 letters, digits, ., - or _; got ${JSON.stringify(label.slice(0, 40))}`);
    const partitions = (flags.partition as string[] | undefined) ?? [];
    for (const p of partitions) if (!NAME.test(p)) throw new UsageError(`--partition names are 1 to 32 letters, digits, - or _; got ${JSON.stringify(p.slice(0, 40))}`);
    const { host, sshPort: port } = resolveLunaTarget(flags);
    const password = secretFrom(flags, 'password', "tenantadmin's password");
    const initial = secretFrom(flags, 'initial-password', 'the initial password', FACTORY_PASSWORD);
    const so = secretFrom(flags, 'so-password', 'the HSM Administrator password');
    const domain = secretFrom(flags, 'domain', 'the cloning domain');
    const o: LunaInitOptions = { host, port, label, partitions, fips: flags.fips === true, password, initialPassword: initial, soPassword: so, domain, hostKeySha256: flags['host-key-sha256'] as string | undefined };
    try {
      const result = await initLunaAppliance(o);
      if (flags.json) console.log(JSON.stringify(result, null, 2));
      else {
        console.log(result.changes.length ? result.changes.map((d) => `- ${d}`).join('\n') : 'nothing to change: the appliance is already set up');
        console.log(`HSM ${result.label} (serial ${result.serial}), FIPS 140-2 mode: ${result.fips ? 'on' : 'off'}, SSH host key ${result.hostKey}`);
        for (const p of result.partitions) console.log(`partition ${p.name}: serial ${p.serial}`);
      }
      return 0;
    } catch (err) {
      return LunaStepsError.report('luna init', err);
    }
  },
};

export interface LunaInitOptions {
  host: string;
  port: number;
  label: string;
  partitions: string[];
  fips: boolean;
  password: string;
  initialPassword: string;
  soPassword: string;
  domain: string;
  hostKeySha256?: string;
}

export interface LunaInitResult {
  hsm: string;
  label?: string;
  serial?: string;
  fips: boolean;
  partitions: Array<{ serial: string; name: string }>;
  hostKey: string;
  changes: string[];
}

/**
 * The steps of `hsmctl luna init` over SSH, for the command and for the dry-run: first login with the password
 * change, hsm init, FIPS mode, partitions; each skipped when already done.
 */
export async function initLunaAppliance(o: LunaInitOptions): Promise<LunaInitResult> {
  const { host, port, label, partitions } = o;
  const done: string[] = [];
  let session: LunaSession | undefined;
  try {
    const login = await loginWithChange({ host, port, username: 'tenantadmin', hostKeySha256: o.hostKeySha256 }, o.password, o.initialPassword);
    session = login.session;
    if (login.changed) done.push('changed the initial password of tenantadmin');
    const s = session;
    let show = parseHsmShow(await s.lunash('hsm show'));
    let loggedIn = false;
    const init = async () => {
      await s.lunash(`hsm init -label ${label} -force`, [o.soPassword, o.soPassword, o.domain, o.domain]);
      loggedIn = false;
      done.push(`initialised the HSM with label ${label}`);
    };
    const soLogin = async () => {
      if (loggedIn) return;
      await s.lunash('hsm login', [o.soPassword]);
      loggedIn = true;
    };
    if (show.zeroized) await init();
    else if (show.label !== label) {
      throw new LunaCommandError(`the HSM is initialised with label ${show.label ?? '(none)'}, not ${label}; refusing to re-initialise it (that erases every partition)`);
    }
    if (o.fips && !parseHsmShow(await s.lunash('hsm show')).fips) {
      await soLogin();
      await s.lunash('hsm changePolicy -policy 12 -value 0 -force');
      done.push('set FIPS 140-2 mode (policy 12 = 0), which zeroized the HSM');
      loggedIn = false;
      await init();
    }
    const existing = new Set(parsePartitionList(await s.lunash('partition list')).map((p) => p.name));
    for (const p of partitions) {
      if (existing.has(p)) continue;
      await soLogin();
      await s.lunash(`partition create -partition ${p} -force`);
      done.push(`created partition ${p}`);
    }
    show = parseHsmShow(await s.lunash('hsm show'));
    const list = parsePartitionList(await s.lunash('partition list'));
    return { hsm: host, label: show.label, serial: show.serial, fips: show.fips, partitions: list.filter((p) => partitions.includes(p.name)), hostKey: s.hostKeySha256, changes: done };
  } catch (err) {
    throw LunaStepsError.after(err, done);
  } finally {
    session?.close();
  }
}
