import { Attributes, ServerChannel, SFTPWrapper, utils as sshUtils } from 'ssh2';
import { Appliance, MAX_FILE_BYTES } from './appliance';
import { LunaError } from './errors';

const { OPEN_MODE, STATUS_CODE } = sshUtils.sftp;

/** tenantadmin's home as clients see it: a flat folder of uploaded files plus the appliance's server.pem. */
export const HOME = '/home/tenantadmin';
const FILE_MODE = 0o100644;
const DIR_MODE = 0o040755;

/**
 * Maps a client path to a file name in the flat home folder: '', '.', '~', the home itself -> the folder;
 * 'x', './x', '~/x', '/home/tenantadmin/x' -> 'x'. Anything with another folder in it is refused.
 */
export function homeName(p: string): { dir: true } | { name: string } | undefined {
  let s = p.trim();
  if (s.startsWith(HOME)) s = s.slice(HOME.length);
  s = s.replace(/^~/, '').replace(/^\/+/, '').replace(/^(\.\/)+/, '').replace(/\/+$/, '');
  if (s === '' || s === '.') return { dir: true };
  if (s.includes('/') || s === '..') return undefined;
  return { name: s };
}

export interface HomeFile {
  name: string;
  data: Buffer;
  mtime: number;
}

export function readHomeFile(appliance: Appliance, serverCertPem: string, name: string): HomeFile | undefined {
  if (name === 'server.pem') return { name, data: Buffer.from(serverCertPem), mtime: 0 };
  const f = appliance.file(name);
  return f && { name, data: Buffer.from(f.data, 'base64'), mtime: f.mtime };
}

function listHome(appliance: Appliance, serverCertPem: string): HomeFile[] {
  return [readHomeFile(appliance, serverCertPem, 'server.pem')!, ...appliance.files().map((f) => readHomeFile(appliance, serverCertPem, f.name)!)];
}

function fileAttrs(f: HomeFile): Attributes {
  return { mode: FILE_MODE, uid: 1000, gid: 1000, size: f.data.length, atime: f.mtime, mtime: f.mtime };
}

const dirAttrs: Attributes = { mode: DIR_MODE, uid: 1000, gid: 1000, size: 4096, atime: 0, mtime: 0 };

function longname(name: string, a: Attributes): string {
  const kind = a.mode === DIR_MODE ? 'drwxr-xr-x' : '-rw-r--r--';
  return `${kind} 1 tenantadmin tenantadmin ${String(a.size).padStart(8)} Jan  1 00:00 ${name}`;
}

type Handle = { kind: 'read'; file: HomeFile } | { kind: 'write'; name: string; chunks: Buffer[]; size: number; failed?: string } | { kind: 'dir'; sent: boolean };

/**
 * The SFTP subsystem (what Debian 12's `scp` speaks by default): read server.pem and uploaded files, write
 * client certificates and public keys (committed when the handle is closed), list and remove files.
 * Every other operation answers OP_UNSUPPORTED.
 */
export function serveSftp(sftp: SFTPWrapper, appliance: Appliance, serverCertPem: string): void {
  const handles = new Map<string, Handle>();
  let next = 0;
  const open = (h: Handle): Buffer => {
    const id = Buffer.alloc(4);
    id.writeUInt32BE(next++);
    handles.set(id.toString('hex'), h);
    return id;
  };
  const get = (b: Buffer) => handles.get(b.toString('hex'));
  // The client ends the subsystem by closing its side. sshd then reports the sftp-server's exit status
  // (OpenSSH's scp fails without one) and closes the channel; ssh2's server SFTP object has no public call
  // for the status, so it goes through the channel's protocol handle.
  sftp.on('end', () => {
    const internal = sftp as unknown as { _protocol?: { exitStatus(id: number, status: number): void }; outgoing?: { id: number; state: string } };
    if (internal._protocol && internal.outgoing?.state === 'open') internal._protocol.exitStatus(internal.outgoing.id, 0);
    sftp.end();
  });

  sftp.on('REALPATH', (req, p) => {
    const n = homeName(p);
    if (!n) return sftp.status(req, STATUS_CODE.NO_SUCH_FILE);
    const full = 'dir' in n ? HOME : `${HOME}/${n.name}`;
    sftp.name(req, [{ filename: full, longname: full, attrs: dirAttrs }]);
  });
  const stat = (req: number, p: string) => {
    const n = homeName(p);
    if (!n) return sftp.status(req, STATUS_CODE.NO_SUCH_FILE);
    if ('dir' in n) return sftp.attrs(req, dirAttrs);
    const f = readHomeFile(appliance, serverCertPem, n.name);
    if (!f) return sftp.status(req, STATUS_CODE.NO_SUCH_FILE);
    sftp.attrs(req, fileAttrs(f));
  };
  sftp.on('STAT', stat);
  sftp.on('LSTAT', stat);
  sftp.on('OPEN', (req, filename, flags) => {
    const n = homeName(filename);
    if (!n || 'dir' in n) return sftp.status(req, STATUS_CODE.PERMISSION_DENIED, 'only files in the home folder');
    if (flags & OPEN_MODE.WRITE) {
      if (n.name === 'server.pem') return sftp.status(req, STATUS_CODE.PERMISSION_DENIED, 'server.pem is read-only');
      if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(n.name)) return sftp.status(req, STATUS_CODE.PERMISSION_DENIED, 'bad file name');
      return sftp.handle(req, open({ kind: 'write', name: n.name, chunks: [], size: 0 }));
    }
    const f = readHomeFile(appliance, serverCertPem, n.name);
    if (!f) return sftp.status(req, STATUS_CODE.NO_SUCH_FILE);
    sftp.handle(req, open({ kind: 'read', file: f }));
  });
  sftp.on('READ', (req, handle, offset, len) => {
    const h = get(handle);
    if (!h || h.kind !== 'read') return sftp.status(req, STATUS_CODE.FAILURE);
    if (offset >= h.file.data.length) return sftp.status(req, STATUS_CODE.EOF);
    sftp.data(req, h.file.data.subarray(offset, offset + len));
  });
  sftp.on('WRITE', (req, handle, offset, data) => {
    const h = get(handle);
    if (!h || h.kind !== 'write') return sftp.status(req, STATUS_CODE.FAILURE);
    if (offset !== h.size) return sftp.status(req, STATUS_CODE.OP_UNSUPPORTED, 'only sequential writes');
    h.size += data.length;
    if (h.size > MAX_FILE_BYTES) {
      h.failed = `files are limited to ${MAX_FILE_BYTES} bytes`;
      h.chunks = [];
      return sftp.status(req, STATUS_CODE.FAILURE, h.failed);
    }
    h.chunks.push(Buffer.from(data));
    sftp.status(req, STATUS_CODE.OK);
  });
  sftp.on('FSTAT', (req, handle) => {
    const h = get(handle);
    if (!h) return sftp.status(req, STATUS_CODE.FAILURE);
    if (h.kind === 'read') return sftp.attrs(req, fileAttrs(h.file));
    if (h.kind === 'write') return sftp.attrs(req, { ...dirAttrs, mode: FILE_MODE, size: h.size });
    sftp.attrs(req, dirAttrs);
  });
  // Permissions and times sent after an upload are accepted and ignored: the appliance keeps its own.
  sftp.on('FSETSTAT', (req) => sftp.status(req, STATUS_CODE.OK));
  sftp.on('SETSTAT', (req) => sftp.status(req, STATUS_CODE.OK));
  sftp.on('CLOSE', (req, handle) => {
    const h = get(handle);
    if (!h) return sftp.status(req, STATUS_CODE.FAILURE);
    handles.delete(handle.toString('hex'));
    if (h.kind !== 'write') return sftp.status(req, STATUS_CODE.OK);
    if (h.failed) return sftp.status(req, STATUS_CODE.FAILURE, h.failed);
    appliance.writeFile(h.name, Buffer.concat(h.chunks)).then(
      () => sftp.status(req, STATUS_CODE.OK),
      (err) => sftp.status(req, STATUS_CODE.FAILURE, err instanceof LunaError ? err.message.replace(/^Error: /, '') : 'write failed'),
    );
  });
  sftp.on('OPENDIR', (req, p) => {
    const n = homeName(p);
    if (!n || !('dir' in n)) return sftp.status(req, STATUS_CODE.NO_SUCH_FILE);
    sftp.handle(req, open({ kind: 'dir', sent: false }));
  });
  sftp.on('READDIR', (req, handle) => {
    const h = get(handle);
    if (!h || h.kind !== 'dir') return sftp.status(req, STATUS_CODE.FAILURE);
    if (h.sent) return sftp.status(req, STATUS_CODE.EOF);
    h.sent = true;
    sftp.name(
      req,
      listHome(appliance, serverCertPem).map((f) => ({ filename: f.name, longname: longname(f.name, fileAttrs(f)), attrs: fileAttrs(f) })),
    );
  });
  sftp.on('REMOVE', (req, p) => {
    const n = homeName(p);
    if (!n || 'dir' in n || !appliance.file(n.name)) return sftp.status(req, STATUS_CODE.NO_SUCH_FILE);
    appliance.deleteFile(n.name).then(
      () => sftp.status(req, STATUS_CODE.OK),
      () => sftp.status(req, STATUS_CODE.FAILURE),
    );
  });
  for (const ev of ['RMDIR', 'READLINK', 'MKDIR', 'RENAME', 'SYMLINK', 'EXTENDED']) {
    sftp.on(ev, (req: number) => sftp.status(req, STATUS_CODE.OP_UNSUPPORTED, 'not supported by the appliance'));
  }
}

/**
 * The legacy scp protocol (`scp -O`): `scp -f FILE` sends a file, `scp -t TARGET` receives one.
 * Returns the exit status.
 */
export async function runScp(args: string[], channel: ServerChannel, appliance: Appliance, serverCertPem: string): Promise<number> {
  const flags = args.filter((a) => a.startsWith('-'));
  const paths = args.filter((a) => !a.startsWith('-'));
  const reader = new ByteReader(channel);
  const fatal = (msg: string) => {
    channel.write(Buffer.concat([Buffer.from([2]), Buffer.from(`scp: ${msg}\n`)]));
    return 1;
  };
  if (flags.includes('-f')) {
    if (paths.length !== 1) return fatal('one file at a time');
    const n = homeName(paths[0]);
    const f = n && !('dir' in n) ? readHomeFile(appliance, serverCertPem, n.name) : undefined;
    if ((await reader.byte()) !== 0) return 1;
    if (!f) return fatal(`${paths[0].slice(0, 64)}: No such file or directory`);
    channel.write(`C0644 ${f.data.length} ${f.name}\n`);
    if ((await reader.byte()) !== 0) return 1;
    channel.write(Buffer.concat([f.data, Buffer.from([0])]));
    if ((await reader.byte()) !== 0) return 1;
    return 0;
  }
  if (flags.includes('-t')) {
    const target = homeName(paths[0] ?? '.');
    if (!target) return fatal('only the home folder can be written');
    channel.write(Buffer.from([0]));
    for (;;) {
      const header = await reader.line();
      if (header === null) return 0;
      if (header.startsWith('T')) {
        channel.write(Buffer.from([0]));
        continue;
      }
      if (header.startsWith('E') || header.startsWith('D')) return fatal('folders are not supported');
      const m = /^C[0-7]{4} (\d{1,9}) (.+)$/.exec(header);
      if (!m) return fatal('protocol error');
      const size = Number(m[1]);
      const name = 'dir' in target ? m[2] : target.name;
      if (size > MAX_FILE_BYTES) return fatal(`files are limited to ${MAX_FILE_BYTES} bytes`);
      channel.write(Buffer.from([0]));
      const data = await reader.bytes(size);
      if (data === null || (await reader.byte()) !== 0) return 1;
      try {
        await appliance.writeFile(name, data);
      } catch (err) {
        return fatal(err instanceof LunaError ? err.message.replace(/^Error: /, '') : 'write failed');
      }
      channel.write(Buffer.from([0]));
    }
  }
  return fatal('unsupported scp mode');
}

/** Reads bytes, lines and blocks from a channel's input as they arrive. */
class ByteReader {
  private buf = Buffer.alloc(0);
  private ended = false;
  private wake: (() => void) | undefined;

  constructor(channel: ServerChannel) {
    channel.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.wake?.();
    });
    const end = () => {
      this.ended = true;
      this.wake?.();
    };
    channel.on('end', end);
    channel.on('close', end);
  }

  private async want(ok: () => boolean): Promise<boolean> {
    while (!ok()) {
      if (this.ended) return false;
      await new Promise<void>((r) => (this.wake = r));
      this.wake = undefined;
    }
    return true;
  }

  async byte(): Promise<number | null> {
    if (!(await this.want(() => this.buf.length >= 1))) return null;
    const b = this.buf[0];
    this.buf = this.buf.subarray(1);
    return b;
  }

  async line(): Promise<string | null> {
    if (!(await this.want(() => this.buf.includes(0x0a) || this.buf.length > 1024))) return null;
    const nl = this.buf.indexOf(0x0a);
    if (nl === -1) return null;
    const l = this.buf.subarray(0, nl).toString('utf8');
    this.buf = this.buf.subarray(nl + 1);
    return l;
  }

  async bytes(n: number): Promise<Buffer | null> {
    if (!(await this.want(() => this.buf.length >= n))) return null;
    const b = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return Buffer.from(b);
  }
}
