/**
 * Distribution distances for generated videos, as pure functions over feature matrices and pixel
 * bytes (no tfjs): the Fréchet distance between Gaussian fits (FID-style), the unbiased MMD² with a
 * polynomial kernel (KID-style), and statistics of frame-to-frame differences with a 1-D
 * Wasserstein distance between their histograms.
 *
 * @module
 */

/** A mean and covariance fitted to feature rows. */
export interface GaussianFit {
  /** Feature dimension d. */
  dim: number;
  /** Rows the fit used. */
  count: number;
  /** Mean, length d. */
  mean: Float64Array;
  /** Covariance (unbiased, divided by n − 1), d × d row-major. */
  covariance: Float64Array;
}

function checkRows(features: ArrayLike<number>, dim: number, what: string): number {
  if (!Number.isInteger(dim) || dim < 1) {
    throw new RangeError(`${what}: dim must be a positive integer; got ${dim}`);
  }
  if (features.length === 0 || features.length % dim !== 0) {
    throw new RangeError(
      `${what}: ${features.length} values do not form whole rows of dim ${dim}`,
    );
  }
  for (let i = 0; i < features.length; i++) {
    if (!Number.isFinite(features[i])) {
      throw new RangeError(`${what}: feature value ${i} is ${features[i]}; all must be finite`);
    }
  }
  return features.length / dim;
}

/**
 * Fits a Gaussian (mean, unbiased covariance) to feature rows.
 *
 * @param features n × d row-major (n ≥ 2)
 * @param dim d
 * @returns the fit
 */
export function gaussianFit(features: ArrayLike<number>, dim: number): GaussianFit {
  const n = checkRows(features, dim, "gaussianFit");
  if (n < 2) throw new RangeError(`gaussianFit needs at least 2 rows; got ${n}`);
  const mean = new Float64Array(dim);
  for (let r = 0; r < n; r++) for (let j = 0; j < dim; j++) mean[j] += features[r * dim + j] / n;
  const covariance = new Float64Array(dim * dim);
  for (let r = 0; r < n; r++) {
    for (let i = 0; i < dim; i++) {
      const a = features[r * dim + i] - mean[i];
      for (let j = i; j < dim; j++) {
        covariance[i * dim + j] += a * (features[r * dim + j] - mean[j]);
      }
    }
  }
  for (let i = 0; i < dim; i++) {
    for (let j = i; j < dim; j++) {
      covariance[i * dim + j] /= n - 1;
      covariance[j * dim + i] = covariance[i * dim + j];
    }
  }
  return { dim, count: n, mean, covariance };
}

/**
 * Eigen-decomposition of a symmetric matrix by cyclic Jacobi rotations: A = V diag(λ) Vᵀ.
 *
 * @param matrix d × d row-major, symmetric
 * @param dim d
 * @returns eigenvalues (ascending) and the eigenvectors as the columns of `vectors`
 */
export function symmetricEigen(
  matrix: ArrayLike<number>,
  dim: number,
): { values: Float64Array; vectors: Float64Array } {
  if (matrix.length !== dim * dim) {
    throw new RangeError(
      `symmetricEigen: ${matrix.length} values are not a ${dim} × ${dim} matrix`,
    );
  }
  const a = Float64Array.from(matrix);
  for (let i = 0; i < dim; i++) {
    for (let j = 0; j < i; j++) {
      const s = Math.max(1, Math.abs(a[i * dim + j]), Math.abs(a[j * dim + i]));
      if (Math.abs(a[i * dim + j] - a[j * dim + i]) > 1e-9 * s) {
        throw new RangeError(`symmetricEigen: the matrix is not symmetric at (${i}, ${j})`);
      }
    }
  }
  const v = new Float64Array(dim * dim);
  for (let i = 0; i < dim; i++) v[i * dim + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0, scale = 0;
    for (let i = 0; i < dim; i++) {
      for (let j = 0; j < dim; j++) {
        if (i !== j) off += a[i * dim + j] ** 2;
        scale += a[i * dim + j] ** 2;
      }
    }
    if (off <= 1e-30 * Math.max(scale, 1e-300)) break;
    for (let p = 0; p < dim - 1; p++) {
      for (let q = p + 1; q < dim; q++) {
        const apq = a[p * dim + q];
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (a[q * dim + q] - a[p * dim + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1), s = t * c;
        for (let k = 0; k < dim; k++) {
          const akp = a[k * dim + p], akq = a[k * dim + q];
          a[k * dim + p] = c * akp - s * akq;
          a[k * dim + q] = s * akp + c * akq;
        }
        for (let k = 0; k < dim; k++) {
          const apk = a[p * dim + k], aqk = a[q * dim + k];
          a[p * dim + k] = c * apk - s * aqk;
          a[q * dim + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < dim; k++) {
          const vkp = v[k * dim + p], vkq = v[k * dim + q];
          v[k * dim + p] = c * vkp - s * vkq;
          v[k * dim + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = Array.from({ length: dim }, (_, i) => i).sort((i, j) =>
    a[i * dim + i] - a[j * dim + j]
  );
  const values = Float64Array.from(order, (i) => a[i * dim + i]);
  const vectors = new Float64Array(dim * dim);
  order.forEach((src, dst) => {
    for (let k = 0; k < dim; k++) vectors[k * dim + dst] = v[k * dim + src];
  });
  return { values, vectors };
}

/** The symmetric PSD square root V diag(√max(λ, 0)) Vᵀ. */
function psdSqrt(matrix: Float64Array, dim: number): Float64Array {
  const { values, vectors } = symmetricEigen(matrix, dim);
  const out = new Float64Array(dim * dim);
  for (let k = 0; k < dim; k++) {
    const r = Math.sqrt(Math.max(values[k], 0));
    for (let i = 0; i < dim; i++) {
      const vi = vectors[i * dim + k] * r;
      for (let j = 0; j < dim; j++) out[i * dim + j] += vi * vectors[j * dim + k];
    }
  }
  return out;
}

function matMul(a: Float64Array, b: Float64Array, d: number): Float64Array {
  const out = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let k = 0; k < d; k++) {
      const aik = a[i * d + k];
      for (let j = 0; j < d; j++) out[i * d + j] += aik * b[k * d + j];
    }
  }
  return out;
}

/**
 * The Fréchet distance between two Gaussians (FID's formula):
 * ‖μ_a − μ_b‖² + tr(Σ_a + Σ_b − 2 (Σ_a^{1/2} Σ_b Σ_a^{1/2})^{1/2}), computed with symmetric
 * eigen-decompositions (so the inner root is of a symmetric PSD matrix).
 *
 * @param a the first fit
 * @param b the second fit (same dimension)
 * @returns the distance (≥ 0 up to rounding)
 */
export function frechetDistance(a: GaussianFit, b: GaussianFit): number {
  if (a.dim !== b.dim) {
    throw new RangeError(`frechetDistance: dimensions differ (${a.dim} and ${b.dim})`);
  }
  const d = a.dim;
  let meanTerm = 0, trace = 0;
  for (let i = 0; i < d; i++) {
    meanTerm += (a.mean[i] - b.mean[i]) ** 2;
    trace += a.covariance[i * d + i] + b.covariance[i * d + i];
  }
  const ra = psdSqrt(a.covariance, d);
  const inner = matMul(matMul(ra, b.covariance, d), ra, d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j < i; j++) {
      const m = (inner[i * d + j] + inner[j * d + i]) / 2;
      inner[i * d + j] = inner[j * d + i] = m;
    }
  }
  const { values } = symmetricEigen(inner, d);
  let cross = 0;
  for (const v of values) cross += Math.sqrt(Math.max(v, 0));
  return meanTerm + trace - 2 * cross;
}

/**
 * The unbiased estimate of MMD² with the polynomial kernel k(x, y) = (xᵀy / d + 1)³ (KID's
 * kernel): the within-set means leave out the diagonal.
 *
 * @param x n × d row-major (n ≥ 2)
 * @param y m × d row-major (m ≥ 2)
 * @param dim d
 * @param options the kernel's `degree` (default 3), `gamma` (default 1/d) and `coef` (default 1)
 * @returns MMD² (can be slightly negative when the sets agree)
 */
export function mmdPolynomial(
  x: ArrayLike<number>,
  y: ArrayLike<number>,
  dim: number,
  options: { degree?: number; gamma?: number; coef?: number } = {},
): number {
  const n = checkRows(x, dim, "mmdPolynomial x"), m = checkRows(y, dim, "mmdPolynomial y");
  if (n < 2 || m < 2) {
    throw new RangeError(`mmdPolynomial needs ≥ 2 rows per set; got ${n} and ${m}`);
  }
  const degree = options.degree ?? 3, gamma = options.gamma ?? 1 / dim, coef = options.coef ?? 1;
  const k = (a: ArrayLike<number>, i: number, b: ArrayLike<number>, j: number) => {
    let s = 0;
    for (let t = 0; t < dim; t++) s += a[i * dim + t] * b[j * dim + t];
    return (gamma * s + coef) ** degree;
  };
  let xx = 0, yy = 0, xy = 0;
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) xx += 2 * k(x, i, x, j);
  for (let i = 0; i < m; i++) for (let j = i + 1; j < m; j++) yy += 2 * k(y, i, y, j);
  for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) xy += k(x, i, y, j);
  return xx / (n * (n - 1)) + yy / (m * (m - 1)) - (2 * xy) / (n * m);
}

/** Statistics of |x_{f+1} − x_f| over 8-bit videos. */
export interface FrameDifferenceStats {
  /** Mean absolute difference between consecutive frames, in 0–255 units. */
  meanAbs: number;
  /** Fraction of pixel differences above 32 (moving edges rather than noise). */
  movingFraction: number;
  /** Histogram of |Δ| over 256 bins (counts). */
  histogram: Float64Array;
}

/**
 * Frame-to-frame difference statistics of 8-bit videos.
 *
 * @param pixels bytes, [videos, frames, height, width]
 * @param shape videos, frames (≥ 2), height, width
 * @returns the statistics
 */
export function frameDifferenceStats(
  pixels: Uint8Array,
  shape: { videos: number; frames: number; height: number; width: number },
): FrameDifferenceStats {
  const { videos, frames, height, width } = shape;
  if (pixels.length !== videos * frames * height * width || frames < 2) {
    throw new RangeError(
      `frameDifferenceStats: ${pixels.length} bytes do not fill ${videos}×${frames}×${height}×${width} with ≥ 2 frames`,
    );
  }
  const size = height * width;
  const histogram = new Float64Array(256);
  let total = 0, count = 0, moving = 0;
  for (let v = 0; v < videos; v++) {
    for (let f = 0; f + 1 < frames; f++) {
      const at = (v * frames + f) * size;
      for (let i = 0; i < size; i++) {
        const d = Math.abs(pixels[at + size + i] - pixels[at + i]);
        histogram[d]++;
        total += d;
        if (d > 32) moving++;
        count++;
      }
    }
  }
  return { meanAbs: total / count, movingFraction: moving / count, histogram };
}

/**
 * The 1-Wasserstein distance between two histograms over the same unit-spaced bins,
 * Σ_i |CDF_a(i) − CDF_b(i)| (each histogram normalised first), in bin units.
 *
 * @param a the first histogram
 * @param b the second, same length
 * @returns the distance
 */
export function wasserstein1(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length || a.length === 0) {
    throw new RangeError(`wasserstein1: histograms must have the same, non-zero length`);
  }
  let sa = 0, sb = 0;
  for (let i = 0; i < a.length; i++) (sa += a[i], sb += b[i]);
  if (!(sa > 0 && sb > 0)) throw new RangeError("wasserstein1: a histogram is empty");
  let ca = 0, cb = 0, w = 0;
  for (let i = 0; i + 1 < a.length; i++) {
    ca += a[i] / sa;
    cb += b[i] / sb;
    w += Math.abs(ca - cb);
  }
  return w;
}
