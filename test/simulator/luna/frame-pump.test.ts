import { PassThrough } from 'stream';
import { FramePump, MAX_WAITING_FRAMES } from '../../../simulator/luna/frame-pump';
import { Frame } from '../../../simulator/luna/p11-rpc';

/** The order and the bound of a link's waiting frames, over a stream standing for the client's socket. */
describe('Luna NTLS frame pump', () => {
  const frame = (n: number): Frame => ({ code: n, options: Buffer.alloc(0), body: Buffer.from([n]) });

  test('stops reading a client that sends past the bound without waiting for answers, and reads it again once they are handled', async () => {
    const socket = new PassThrough();
    socket.resume();
    const handled: number[] = [];
    const releases: Array<() => void> = [];
    // Each frame is held until the test lets it go: the server is "busy".
    const pump = new FramePump(
      socket,
      (f) => new Promise<void>((r) => releases.push(() => (handled.push(f.code), r()))),
      () => false,
      (err) => {
        throw err;
      },
    );
    const frames = Array.from({ length: MAX_WAITING_FRAMES + 4 }, (_, i) => frame(i));
    pump.push(frames.slice(0, 2));
    expect(socket.isPaused()).toBe(false);
    pump.push(frames.slice(2));
    expect(socket.isPaused()).toBe(true);
    while (handled.length < frames.length) {
      await new Promise((r) => setImmediate(r));
      releases.shift()?.();
    }
    expect(handled).toEqual(frames.map((f) => f.code));
    expect(socket.isPaused()).toBe(false);
  });

  test('drops the frames still waiting once the link has ended', async () => {
    let ended = false;
    const handled: number[] = [];
    const pump = new FramePump(
      new PassThrough(),
      async (f) => {
        handled.push(f.code);
        ended = true;
      },
      () => ended,
      (err) => {
        throw err;
      },
    );
    pump.push([frame(1), frame(2), frame(3)]);
    await new Promise((r) => setImmediate(r));
    expect(handled).toEqual([1]);
  });
});
