// Entry module of the edge worker: hands fetch events to the Rust code (the wasm-bindgen
// `--target module` output, index.js + index_bg.wasm, built by build.sh).
//
// A Rust panic aborts the wasm instance (panic = "abort"); workers-rs marks the shared
// init state as critical, and the next request starts from a fresh instance
// (`--experimental-reset-state-function`) instead of failing forever.
import * as wasm from "./index.js";

const state = wasm.__worker_init_state();

function reinitializeIfCrashed() {
  if (state.criticalError) {
    console.log("edge: reinitializing the wasm instance after a crash");
    wasm.__wbg_reset_state();
    state.criticalError = false;
    state.instanceId++;
  }
}

export default {
  async fetch(request, env, ctx) {
    reinitializeIfCrashed();
    try {
      return await wasm.fetch(request, env, ctx);
    } catch (e) {
      if (e instanceof WebAssembly.RuntimeError) state.criticalError = true;
      throw e;
    }
  },
};
