/**
 * Backend choice for the model layer: `native` (the wasm backend with oneDNN convolutions and
 * matmul, through Deno's FFI) when oneDNN 2.x loads, else `wasm` (SIMD), `cpu` as the last
 * fallback, and the opt-in `webgpu` and `tensorflow` (tfjs-node) backends. Layers ask {@link backendCapabilities}
 * which kernels exist, so that a conv2d can train on wasm, which has no filter gradient.
 *
 * @module
 */
import { InputError, show } from "../checks.ts";
import * as tf from "@tensorflow/tfjs";

/** What `TFJS_BACKEND` or `--backend` may name. */
export type BackendRequest = "auto" | "native" | "wasm" | "cpu" | "webgpu" | "tensorflow";

/** Every allowed {@link BackendRequest}. */
export const BACKEND_REQUESTS: readonly BackendRequest[] = [
  "auto",
  "native",
  "wasm",
  "cpu",
  "webgpu",
  "tensorflow",
];

/** What the active backend can do, so that layers choose an implementation. */
export interface BackendCapabilities {
  /** The tfjs backend name now active (`wasm`, `cpu`, `webgpu`, `tensorflow`). */
  name: string;
  /** Whether the backend has a `Conv2DBackpropFilter` kernel (wasm has none). */
  conv2dFilterGradient: boolean;
  /** Whether `dataSync()` is usable (it throws on webgpu; read with `await t.data()`). */
  syncReads: boolean;
}

/** The result of {@link initBackend}. */
export interface BackendInfo extends BackendCapabilities {
  /** What was asked for. */
  requested: BackendRequest;
  /** One line for logs and reports, e.g. `native (oneDNN 2.6.3 on wasm, tfjs 4.22.0)`. */
  description: string;
  /** Why `auto` did not take `native`, when it did not (one line, for the log). */
  fallback?: string;
}

/** Thrown when an opt-in backend is not installed or not available on this machine. */
export class BackendUnavailableError extends InputError {
  /**
   * Creates the error.
   *
   * @param message what is missing and how to get it
   */
  constructor(message: string) {
    super(message);
    this.name = "BackendUnavailableError";
  }
}

/**
 * Checks a backend request, e.g. the value of `TFJS_BACKEND`.
 *
 * @param value the requested name
 * @returns the request, typed
 */
export function checkBackendRequest(value: unknown): BackendRequest {
  if (typeof value === "string" && (BACKEND_REQUESTS as readonly string[]).includes(value)) {
    return value as BackendRequest;
  }
  throw new RangeError(
    `backend must be one of ${BACKEND_REQUESTS.join(", ")}; got ${show(value)}`,
  );
}

/**
 * The capabilities of the active tfjs backend.
 *
 * @returns the backend's name and which kernels it has
 */
export function backendCapabilities(): BackendCapabilities {
  const name = tf.getBackend();
  return {
    name,
    conv2dFilterGradient: tf.getKernel("Conv2DBackpropFilter", name) !== undefined,
    syncReads: name !== "webgpu",
  };
}

const TFJS_NODE_HELP = "the tensorflow backend needs npm:@tensorflow/tfjs-node-gpu or " +
  "npm:@tensorflow/tfjs-node, whose install script downloads libtensorflow; on a machine that can " +
  'reach storage.googleapis.com, set "nodeModulesDir": "auto" in deno.json and run ' +
  "`deno add npm:@tensorflow/tfjs-node@4.22.0 && deno install --allow-scripts=npm:@tensorflow/tfjs-node`" +
  ", or use --backend wasm";

/**
 * Imports an optional package by its name in deno.json's imports. The name is a variable, so
 * that Deno's module graph (and the first run's downloads) leave the package out until a run
 * asks for it; a name deno.json does not map fails at once, downloading nothing.
 */
function importOptional(name: string): Promise<unknown> {
  return import(name);
}

async function useTensorflow(): Promise<void> {
  const failures: string[] = [];
  for (const specifier of ["@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node"]) {
    try {
      await importOptional(specifier);
      if (await tf.setBackend("tensorflow")) return;
      failures.push(`${specifier}: loaded but did not register the tensorflow backend`);
    } catch (error) {
      failures.push(`${specifier}: ${(error as Error).message.split("\n")[0]}`);
    }
  }
  throw new BackendUnavailableError(`${TFJS_NODE_HELP} (${failures.join("; ")})`);
}

async function useWebgpu(): Promise<void> {
  const gpu = (globalThis.navigator as { gpu?: { requestAdapter(): Promise<unknown> } })?.gpu;
  const adapter = gpu === undefined ? null : await gpu.requestAdapter().catch(() => null);
  if (adapter === null) {
    throw new BackendUnavailableError(
      "the webgpu backend needs navigator.gpu with an adapter; none was found on this machine " +
        "(run Deno with a GPU or a software adapter, or use --backend wasm)",
    );
  }
  await importOptional("npm:@tensorflow/tfjs-backend-webgpu@4.22.0");
  if (!(await tf.setBackend("webgpu"))) {
    throw new BackendUnavailableError("the webgpu backend failed to initialise");
  }
}

/** Starts wasm, then the native kernels on its instance; the error says what to install. */
async function useNative(): Promise<string> {
  const { loadDnnl, registerNativeBackend, NATIVE_BACKEND, NativeUnavailableError } = await import(
    "./native/mod.ts"
  );
  try {
    loadDnnl();
  } catch (error) {
    if (error instanceof NativeUnavailableError) {
      throw new BackendUnavailableError(error.message);
    }
    throw error;
  }
  if (!(await useWasm())) throw new BackendUnavailableError("the wasm backend failed to start");
  registerNativeBackend();
  if (!(await tf.setBackend(NATIVE_BACKEND))) {
    throw new BackendUnavailableError("the native backend failed to initialise");
  }
  return `oneDNN ${loadDnnl().version}`;
}

async function useWasm(): Promise<boolean> {
  await import("@tensorflow/tfjs-backend-wasm");
  return await tf.setBackend("wasm").catch(() => false);
}

/**
 * Selects and initialises a tfjs backend. `auto` takes `native` when oneDNN 2.x loads (and says
 * why not in `fallback` otherwise), then wasm (SIMD), then cpu; `native`, `tensorflow` and `webgpu`
 * asked for by name fail with a {@link BackendUnavailableError} that says what to install.
 *
 * @param request the backend to use; default `TFJS_BACKEND` from the environment, else `auto`
 * @returns the active backend and its capabilities
 */
export async function initBackend(request?: BackendRequest): Promise<BackendInfo> {
  // Production mode: no "install tfjs-node" banner from the cpu backend, no debug checks.
  tf.env().set("PROD", true);
  const requested = checkBackendRequest(
    request ?? (readEnv("TFJS_BACKEND") || "auto"),
  );
  let native: string | undefined, fallback: string | undefined;
  if (requested === "auto") {
    try {
      native = await useNative();
    } catch (error) {
      if (!(error instanceof BackendUnavailableError)) throw error;
      fallback = `native kernels unavailable, using wasm: ${error.message}`;
      if (!(await useWasm())) await tf.setBackend("cpu");
    }
  } else if (requested === "native") native = await useNative();
  else if (requested === "wasm") {
    if (!(await useWasm())) throw new BackendUnavailableError("the wasm backend failed to start");
  } else if (requested === "cpu") await tf.setBackend("cpu");
  else if (requested === "webgpu") await useWebgpu();
  else await useTensorflow();
  await tf.ready();
  const capabilities = backendCapabilities();
  return {
    ...capabilities,
    requested,
    description: native
      ? `native (${native} on wasm, tfjs ${tf.version.tfjs})`
      : `${capabilities.name} (tfjs ${tf.version.tfjs})`,
    ...(fallback ? { fallback } : {}),
  };
}

function readEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}
