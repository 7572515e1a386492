import { MAX_LINE } from './lunash';

export type LineEvent = { line: string } | { tooLong: true } | null;

/**
 * Turns an SSH channel's input into lines. On a terminal (pty) the appliance does the line discipline
 * itself: echo (none while a password is typed), backspace, Ctrl-C, Ctrl-D, escape sequences ignored.
 * Without a terminal, input is already lines. A line longer than MAX_LINE is dropped whole and reported
 * once as tooLong, so a flood of bytes cannot grow memory or end the session.
 */
export class LineInput {
  private buf = '';
  private overflow = false;
  private ended = false;
  private readonly queue: LineEvent[] = [];
  private waiter: ((e: LineEvent) => void) | undefined;
  private escape = 0;
  /** While true, typed characters are not echoed (password prompts). */
  secret = false;

  constructor(
    private readonly pty: boolean,
    private readonly echo: (s: string) => void,
  ) {}

  feed(data: Buffer): void {
    const text = data.toString('utf8');
    for (const ch of text) {
      if (this.pty) this.terminalChar(ch);
      else if (ch === '\n') this.complete();
      else if (ch !== '\r') this.add(ch);
    }
  }

  private terminalChar(ch: string): void {
    const code = ch.charCodeAt(0);
    if (this.escape) {
      // ESC [ ... final byte (arrow keys, etc.): swallowed.
      if (this.escape === 1) this.escape = ch === '[' || ch === 'O' ? 2 : 0;
      else if (code >= 0x40 && code <= 0x7e) this.escape = 0;
      return;
    }
    if (code === 0x1b) {
      this.escape = 1;
    } else if (ch === '\r' || ch === '\n') {
      this.echo('\r\n');
      this.complete();
    } else if (code === 0x7f || code === 0x08) {
      if (this.buf.length && !this.overflow) {
        this.buf = this.buf.slice(0, -1);
        if (!this.secret) this.echo('\b \b');
      }
    } else if (code === 0x03) {
      this.echo('^C\r\n');
      this.buf = '';
      this.overflow = false;
      this.push({ line: '' });
    } else if (code === 0x04) {
      if (this.buf === '') this.end();
    } else if (code >= 0x20 || ch === '\t') {
      this.add(ch);
      if (!this.secret && !this.overflow) this.echo(ch);
    }
  }

  private add(ch: string): void {
    if (this.overflow) return;
    this.buf += ch;
    if (this.buf.length > MAX_LINE) {
      this.overflow = true;
      this.buf = '';
    }
  }

  private complete(): void {
    this.push(this.overflow ? { tooLong: true } : { line: this.buf });
    this.buf = '';
    this.overflow = false;
  }

  private push(e: LineEvent): void {
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w(e);
    } else if (this.queue.length < 4096) {
      this.queue.push(e);
    }
  }

  /** The input has ended (EOF or channel closed); a last unterminated line still counts. */
  end(): void {
    if (this.ended) return;
    if (this.buf.length || this.overflow) this.complete();
    this.ended = true;
    this.push(null);
  }

  next(): Promise<LineEvent> {
    if (this.queue.length) return Promise.resolve(this.queue.shift()!);
    if (this.ended) return Promise.resolve(null);
    return new Promise((resolve) => (this.waiter = resolve));
  }
}
