/**
 * Unchecked elementwise kernels for the library's own hot paths, where the inputs were validated
 * once at the public entry point. Not part of the public surface (`mod.ts` does not export it);
 * users call the checked `combine` from `video.ts`.
 *
 * @module
 */

import type { Video, VideoData } from "./video.ts";

/** `a·x + b·y` elementwise, in the precision and shape of `x`; shapes must already agree. */
export function axpby<D extends VideoData>(a: number, x: Video<D>, b: number, y: Video): Video<D> {
  const out = new (x.data.constructor as { new (n: number): D })(x.data.length);
  const xd = x.data, yd = y.data;
  for (let i = 0; i < out.length; i++) out[i] = a * xd[i] + b * yd[i];
  return { ...x, data: out };
}
