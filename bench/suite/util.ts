/**
 * Small helpers of the benchmark suite.
 *
 * @module
 */

/** Prints one progress line (with the suite's elapsed time). */
export type Progress = (message: string) => void;

/**
 * The median (mean of the middle two for an even count).
 *
 * @param values the values (not empty)
 * @returns the median
 */
export function median(values: number[]): number {
  if (values.length === 0) throw new RangeError("median of no values");
  const s = values.slice().sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * The mean.
 *
 * @param values the values (not empty)
 * @returns the mean
 */
export function mean(values: number[]): number {
  if (values.length === 0) throw new RangeError("mean of no values");
  return values.reduce((a, b) => a + b, 0) / values.length;
}

/**
 * The first time a decreasing-is-better curve reaches `target`, linearly interpolated between
 * measurements; undefined if it never does.
 *
 * @param times measurement times, ascending
 * @param values the curve at those times
 * @param target the level to reach
 * @returns the time, or undefined
 */
export function timeToReach(times: number[], values: number[], target: number): number | undefined {
  for (let i = 0; i < times.length; i++) {
    if (values[i] <= target) {
      if (i === 0) return times[0];
      const [t0, t1, v0, v1] = [times[i - 1], times[i], values[i - 1], values[i]];
      return t0 + ((v0 - target) / (v0 - v1)) * (t1 - t0);
    }
  }
  return undefined;
}
