import assert from "node:assert/strict";
import { BackendUnavailableError, checkBackendRequest, initBackend } from "../lib/nn/mod.ts";
import { assertThrowsWith } from "./helpers.ts";

Deno.test("checkBackendRequest() names the allowed backends", () => {
  assert.equal(checkBackendRequest("wasm"), "wasm");
  assertThrowsWith(
    () => checkBackendRequest("gpu"),
    /backend must be one of auto, native, wasm, cpu, webgpu, tensorflow; got "gpu"/,
  );
});

Deno.test("the tensorflow backend is opt-in: without tfjs-node it fails with one clear message", async () => {
  try {
    const info = await initBackend("tensorflow");
    assert.equal(info.name, "tensorflow", "where tfjs-node is installed, it is used");
  } catch (error) {
    assert.ok(error instanceof BackendUnavailableError, String(error));
    assert.match(
      error.message,
      /needs npm:@tensorflow\/tfjs-node-gpu or npm:@tensorflow\/tfjs-node/,
    );
    assert.match(error.message, /--allow-scripts=npm:@tensorflow\/tfjs-node/);
    assert.ok(!error.message.includes("\n"), "one line");
  }
  await initBackend("wasm");
});
