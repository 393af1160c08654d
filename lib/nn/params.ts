/**
 * A named, ordered set of trainable variables, initialised from the library's seeded {@link Rng}
 * so that a model is a pure function of its config and seed.
 *
 * @module
 */
import { show } from "../checks.ts";
import * as tf from "@tensorflow/tfjs";
import type { Rng } from "../video.ts";

/** How a parameter starts. */
export type Init =
  | { kind: "he"; fanIn: number }
  | { kind: "normal"; std: number }
  | { kind: "zeros" }
  | { kind: "ones" };

/** One parameter's name and shape, as stored in checkpoints. */
export interface ParamSpec {
  /** A unique, stable name such as `down0.spatial1.w`. */
  name: string;
  /** The tensor shape. */
  shape: number[];
}

/** The trainable variables of one model, in declaration order. */
export class ParamStore {
  /** The variables by name, in declaration order. */
  readonly variables: Map<string, tf.Variable> = new Map();
  readonly #rng: Rng;

  /**
   * Creates an empty store.
   *
   * @param rng the generator the initial values are drawn from
   */
  constructor(rng: Rng) {
    this.#rng = rng;
  }

  /**
   * Declares a parameter and draws its initial value.
   *
   * @param name a unique name
   * @param shape the shape
   * @param init the initialiser
   * @returns the variable
   */
  add(name: string, shape: number[], init: Init): tf.Variable {
    if (this.variables.has(name)) {
      throw new RangeError(`parameter ${show(name)} is declared twice; names must be unique`);
    }
    const size = shape.reduce((a, b) => a * b, 1);
    const values = new Float32Array(size);
    if (init.kind === "ones") values.fill(1);
    else if (init.kind !== "zeros") {
      const std = init.kind === "he" ? Math.sqrt(2 / init.fanIn) : init.std;
      this.#rng.fillNormal(values);
      for (let i = 0; i < size; i++) values[i] *= std;
    }
    const variable = tf.variable(tf.tensor(values, shape), true, `${name}_${uniqueId++}`);
    this.variables.set(name, variable);
    return variable;
  }

  /**
   * Looks a parameter up by name.
   *
   * @param name the parameter's name
   * @returns the variable
   */
  get(name: string): tf.Variable {
    const v = this.variables.get(name);
    if (v === undefined) {
      throw new RangeError(
        `no parameter named ${show(name)}; the model has ${show([...this.variables.keys()])}`,
      );
    }
    return v;
  }

  /** The names and shapes, in order. */
  specs(): ParamSpec[] {
    return [...this.variables].map(([name, v]) => ({ name, shape: v.shape.slice() }));
  }

  /** The number of scalars in all parameters. */
  count(): number {
    let n = 0;
    for (const v of this.variables.values()) n += v.size;
    return n;
  }

  /** Frees every variable. */
  dispose(): void {
    for (const v of this.variables.values()) v.dispose();
    this.variables.clear();
  }
}

let uniqueId = 0;

/**
 * Values by parameter name, checked against a set of variables (every name present, sizes equal,
 * nothing extra) and returned in the variables' order, before anything is written.
 *
 * @param variables the variables, by name, in declaration order
 * @param values the values, by name
 * @param what names the group in errors, e.g. `ema`
 * @returns the values in the variables' order
 */
export function valuesInOrder(
  variables: Map<string, tf.Variable>,
  values: Map<string, Float32Array>,
  what: string,
): Float32Array[] {
  const out: Float32Array[] = [];
  for (const [name, v] of variables) {
    const data = values.get(name);
    if (data === undefined) throw new RangeError(`${what}: parameter ${name} is missing`);
    if (data.length !== v.size) {
      throw new RangeError(
        `${what}: parameter ${name} has ${data.length} values, the model needs ${v.size} [${v.shape}]`,
      );
    }
    out.push(data);
  }
  if (values.size !== variables.size) {
    throw new RangeError(
      `${what}: ${values.size} parameters given, the model has ${variables.size}`,
    );
  }
  return out;
}
