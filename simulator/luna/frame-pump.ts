import { Frame } from './p11-rpc';

/** Frames of one link waiting for their turn, past which the link is no longer read. */
export const MAX_WAITING_FRAMES = 8;

/** What the pump needs of the client's socket: a way to stop and restart reading it. */
export interface Pausable {
  pause(): unknown;
  resume(): unknown;
}

/**
 * A client's PKCS#11 frames, handled one at a time and in order (each goes through the role gate, then to
 * `p11-kit remote`, whose answer goes back before the next starts). p11-kit's client sends a request and waits for
 * its answer, so frames pile up only from a client that does not: past MAX_WAITING_FRAMES the socket is paused,
 * and TCP holds the client back, until the waiting frames have been handled.
 */
export class FramePump {
  private readonly waiting: Frame[] = [];
  private busy = false;
  private paused = false;

  constructor(
    private readonly socket: Pausable,
    private readonly handle: (f: Frame) => Promise<void>,
    /** Whether the link has ended: frames still waiting are then dropped. */
    private readonly ended: () => boolean,
    private readonly onError: (err: Error) => void,
    private readonly limit = MAX_WAITING_FRAMES,
  ) {}

  /** Frames as the reader cut them from the stream. */
  push(frames: Frame[]): void {
    this.waiting.push(...frames);
    if (this.waiting.length >= this.limit && !this.paused) {
      this.paused = true;
      this.socket.pause();
    }
    void this.run();
  }

  private async run(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      while (this.waiting.length && !this.ended()) {
        await this.handle(this.waiting.shift()!);
        if (this.paused && this.waiting.length < this.limit) {
          this.paused = false;
          this.socket.resume();
        }
      }
    } catch (err) {
      this.onError(err as Error);
    } finally {
      this.busy = false;
    }
  }
}
