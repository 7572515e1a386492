import { FrameReader, encodeFrame, Frame } from '../../../simulator/luna/p11-rpc';

/** p11-kit's framing as the appliance reads it: the version byte, then frames, however the stream is cut. */
describe('Luna p11-kit RPC frame reader', () => {
  const frame = (code: number, options: number, body: number, fill: number): Frame => ({ code, options: Buffer.alloc(options, fill), body: Buffer.alloc(body, fill + 1) });

  test('reads the version byte and every frame from a stream cut at any byte', () => {
    const frames = [frame(1, 0, 20, 1), frame(2, 3, 0, 2), frame(3, 5, 300, 3), frame(0x7fffffff, 0, 1, 4)];
    const stream = Buffer.concat([Buffer.from([1]), ...frames.map(encodeFrame)]);
    for (const step of [1, 2, 7, 12, 13, 64, stream.length]) {
      const reader = new FrameReader(true);
      const got: Frame[] = [];
      let version: number | undefined;
      for (let i = 0; i < stream.length; i += step) {
        const r = reader.push(stream.subarray(i, i + step));
        if (r.version !== undefined) version = r.version;
        got.push(...r.frames);
      }
      expect(version).toBe(1);
      expect(got).toEqual(frames);
    }
  });

  test('copies a large frame arriving in many pieces about once, not once per piece', () => {
    const big = encodeFrame(frame(5, 0, 1024 * 1024, 9));
    const reader = new FrameReader(false);
    let copied = 0;
    const concat = Buffer.concat;
    const spy = jest.spyOn(Buffer, 'concat').mockImplementation((list, total) => {
      const out = concat(list, total);
      copied += out.length;
      return out;
    });
    const got: Frame[] = [];
    try {
      for (let i = 0; i < big.length; i += 1024) got.push(...reader.push(big.subarray(i, i + 1024)).frames);
    } finally {
      spy.mockRestore();
    }
    expect(got).toHaveLength(1);
    expect(got[0].body.length).toBe(1024 * 1024);
    expect(copied).toBeLessThan(2 * big.length);
  });

  test('refuses a frame announcing more than the allowed size before it arrives', () => {
    const header = Buffer.alloc(12);
    header.writeUInt32BE(1, 0);
    header.writeUInt32BE(0x7fffffff, 8);
    expect(() => new FrameReader(false).push(header)).toThrow(/larger than allowed/);
  });
});
