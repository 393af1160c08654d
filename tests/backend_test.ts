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

Deno.test("the default path neither downloads nor locks the optional backends", async () => {
  const root = new URL("..", import.meta.url).pathname;
  const info = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", `--config=${root}deno.json`, `${root}tasks/train_small.ts`],
    stdout: "piped",
    stderr: "null",
  }).output();
  assert.ok(info.success, "deno info runs");
  const packages = Object.keys(JSON.parse(new TextDecoder().decode(info.stdout)).npmPackages);
  assert.ok(packages.some((p) => p.startsWith("@tensorflow/tfjs-backend-wasm@")), "wasm is used");
  const optional = /^@tensorflow\/(tfjs-node|tfjs-node-gpu|tfjs-backend-webgpu)@/;
  assert.deepEqual(packages.filter((p) => optional.test(p)), []);
  const lock = await Deno.readTextFile(`${root}deno.lock`);
  assert.doesNotMatch(lock, /tfjs-node|tfjs-backend-webgpu/, "deno.lock lists no optional backend");
  const config = JSON.parse(await Deno.readTextFile(`${root}deno.json`));
  assert.deepEqual(
    config.allowScripts,
    { deny: ["npm:core-js"] },
    "core-js's banner script is denied",
  );
});
