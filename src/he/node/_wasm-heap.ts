// How big is this thread's SEAL WebAssembly heap? node-seal 7 exports neither `HEAP8` nor
// `wasmMemory` on its module object, so the `WebAssembly.Memory` is reachable only at
// instantiation: Emscripten's `instantiateWasm` hook lets us instantiate the module ourselves and
// keep the memory export. The hook travels through `configureSeal` (whose options are spread into
// node-seal's `initialize`), so it must be installed before the first context in the thread.
//
// Why it matters: WebAssembly memory only ever grows (never shrinks) and is capped at 4 GiB, so its
// size is the honest leak signal (RSS also moves with the JS heap and the allocator).

import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { configureSeal } from '../_seal.ts';

type Receive = (instance: WebAssembly.Instance, module: WebAssembly.Module) => void;

let memory: WebAssembly.Memory | undefined;
let installed = false;

/** @internal URL of the `.wasm` node-seal's default (throwing) build asks for. */
export function _sealWasmUrl(): URL {
  return new URL('seal_throws.wasm', import.meta.resolve('node-seal'));
}

/**
 * @internal Compiles node-seal's WebAssembly once so a pool can hand the compiled module to every
 * worker (a `WebAssembly.Module` can be posted between threads), sparing each a recompile.
 */
export async function _compileSealWasm(): Promise<WebAssembly.Module> {
  return WebAssembly.compile(await readFile(fileURLToPath(_sealWasmUrl())));
}

/**
 * @internal Installs the instantiation hook that captures this thread's SEAL memory. Call before
 * anything in the thread creates a context; returns false (and installs nothing) when node-seal's
 * `.wasm` is not where this build expects it, so a changed node-seal degrades to "unknown" instead
 * of a worker that cannot start. `compiled` reuses a module compiled elsewhere.
 */
export function _trackWasmHeap(compiled?: WebAssembly.Module): boolean {
  if (installed) return true;
  const url = _sealWasmUrl();
  if (compiled === undefined && !existsSync(fileURLToPath(url))) return false;
  installed = true;
  const instantiateWasm = (imports: WebAssembly.Imports, receive: Receive): object => {
    const instantiate = async (): Promise<[WebAssembly.Instance, WebAssembly.Module]> => {
      const module = compiled ?? (await WebAssembly.compile(await readFile(fileURLToPath(url))));
      return [await WebAssembly.instantiate(module, imports), module];
    };
    instantiate().then(
      ([instance, module]) => {
        memory = Object.values(instance.exports).find((x) => x instanceof WebAssembly.Memory);
        receive(instance, module);
      },
      (e) => {
        // Emscripten gives the hook no way to reject; rethrowing outside the promise crashes the
        // thread loudly instead of leaving every HeContext.create() pending forever.
        setImmediate(() => {
          throw e;
        });
      },
    );
    return {}; // Emscripten's contract: exports arrive later through `receive`.
  };
  configureSeal({ instantiateWasm } as Parameters<typeof configureSeal>[0]);
  return true;
}

/**
 * @internal Current size in bytes of this thread's SEAL WebAssembly memory (64 KiB pages), or
 * undefined when {@link _trackWasmHeap} was not installed before SEAL loaded.
 */
export function _wasmHeapBytes(): number | undefined {
  return memory?.buffer.byteLength;
}
