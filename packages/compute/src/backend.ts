// Compute backend selection: tfjs-node-gpu, then tfjs-node, then webgpu, then wasm, then cpu.
import * as tf from "@tensorflow/tfjs-core";
import { existsSync, readdirSync } from "node:fs";
import { cpus } from "node:os";
import { ContainerModule } from "inversify";
import { ComputeBackend } from "@adaptseg/core";
import { registerWasmTrainingKernels } from "./kernels/index.js";
import { loadOrt, ortKernelStats, registerOrtKernels, setOrtKernelsActive } from "./kernels/ort.js";
import { registerResizeBilinearGrad } from "./ops/resize.js";
import { loadWasmBackend, UnsupportedVersionError } from "./internals.js";

const errText = (e: unknown) => (e instanceof Error ? e.message : String(e)).split("\n")[0];

/** The built-in backends, in order of preference. */
export function builtinBackends(threads = envThreads()): ComputeBackend[] {
  const node = (pkg: string, priority: number): ComputeBackend => ({
    name: pkg.replace("@tensorflow/", ""),
    tfName: "tensorflow",
    priority,
    async setup() {
      // tfjs-node registers its kernels before it finds out its native library is missing:
      // keep that noise off the console.
      const warn = console.warn;
      console.warn = () => {};
      try {
        await import(pkg);
      } catch (e) {
        return `${pkg} did not load: ${errText(e)}`;
      } finally {
        console.warn = warn;
      }
      if (!tf.findBackend("tensorflow")) return `${pkg} loaded but registered no "tensorflow" backend`;
      return undefined;
    },
  });
  return [
    node("@tensorflow/tfjs-node-gpu", 0),
    node("@tensorflow/tfjs-node", 1),
    { name: "webgpu", tfName: "webgpu", priority: 2, setup: setupWebgpu },
    {
      name: "wasm",
      tfName: "wasm",
      priority: 3,
      async setup() {
        try {
          const wasm = await loadWasmBackend();
          // Threads only take effect in browsers: TF.js 4.22 reports no wasm multithread support
          // under Node (tfjs#3830), so Node runs the single-threaded SIMD build.
          wasm.setThreadsCount(threads ?? Math.max(1, cpus().length));
          // Conv2DBackpropFilter (missing), faster Conv2DBackpropInput, correct MaxPoolGrad.
          registerWasmTrainingKernels();
        } catch (e) {
          if (e instanceof UnsupportedVersionError) return e.message;
          return `@tensorflow/tfjs-backend-wasm did not load: ${errText(e)}`;
        }
        // Convolutions (forward and both gradients) in onnxruntime-node where it loads
        // (an optional dependency; ADAPTSEG_ORT=0 turns it off): plain wasm kernels otherwise.
        ortSkipped = await loadOrt({ threads });
        if (!ortSkipped) registerOrtKernels();
        setOrtKernelsActive(!ortSkipped);
        return undefined;
      },
    },
    {
      name: "cpu",
      tfName: "cpu",
      priority: 4,
      async setup() {
        await import("@tensorflow/tfjs-backend-cpu");
        return undefined;
      },
    },
  ];
}

/** The parts of the WebGPU API (the `webgpu` package's Dawn) that the set-up uses. */
interface GpuAdapter {
  info: { vendor: string; architecture: string; device: string; description: string };
  limits: Record<string, number>;
  features: Set<string>;
  requestDevice(descriptor: object): Promise<object>;
}

/** The adapter the webgpu set-up found (undefined: none yet), and its description. */
let webgpuFound: { gpu: object; globals: object; adapter: GpuAdapter; name: string } | undefined;

/**
 * The webgpu backend: `webgpu` (an optional dependency: Dawn, over the system's Vulkan loader) and
 * tfjs-backend-webgpu. A software adapter (Mesa's lavapipe) is only taken when asked for by name.
 */
async function setupWebgpu(requested = false): Promise<string | undefined> {
  // Without a GPU device node only a software adapter can exist: don't load Dawn (it prints
  // Vulkan warnings on stderr wherever an old lavapipe is installed).
  if (!requested && !webgpuFound && !hasGpuDevice())
    return "no GPU device here (no /dev/dri/renderD* or /dev/nvidia*): a software Vulkan adapter is taken only when asked for (--backend webgpu or ADAPTSEG_BACKEND=webgpu)";
  if (!webgpuFound) {
    let gpu: { requestAdapter(options: object): Promise<GpuAdapter | null> };
    let globals: object;
    try {
      const webgpu = (await import("webgpu")) as { create(flags: string[]): typeof gpu; globals: object };
      globals = webgpu.globals;
      gpu = webgpu.create([]);
    } catch (e) {
      return `webgpu (optional dependency) did not load: ${errText(e)}`;
    }
    const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
    if (!adapter) return "webgpu found no adapter (needs libvulkan1 and a Vulkan driver that Dawn accepts; Debian 12's lavapipe is too old)";
    const { vendor, architecture, device, description } = adapter.info;
    webgpuFound = { gpu, globals, adapter, name: `${description || device || "unnamed"} (vendor ${vendor || "?"}, architecture ${architecture || "?"})` };
  }
  const { gpu, globals, adapter, name } = webgpuFound;
  if (adapter.info.architecture === "software" && !requested) return `software adapter ${name}: skipped unless asked for (--backend webgpu or ADAPTSEG_BACKEND=webgpu)`;
  if (!tf.findBackend("webgpu")) {
    const { WebGPUBackend } = await import("@tensorflow/tfjs-backend-webgpu");
    // The device tfjs-backend-webgpu would request in a browser.
    const l = adapter.limits;
    const limits = [
      "maxComputeWorkgroupStorageSize",
      "maxComputeWorkgroupsPerDimension",
      "maxStorageBufferBindingSize",
      "maxBufferSize",
      "maxComputeWorkgroupSizeX",
      "maxComputeInvocationsPerWorkgroup",
    ];
    const device = await adapter.requestDevice({
      requiredFeatures: ["timestamp-query", "bgra8unorm-storage"].filter((f) => adapter.features.has(f)),
      requiredLimits: Object.fromEntries(limits.map((k) => [k, l[k]])),
    });
    // tfjs-backend-webgpu uses the WebGPU globals (GPUBufferUsage, GPUMapMode, ...) and checks
    // navigator.gpu, which Node lacks.
    Object.assign(globalThis, globals);
    const g = globalThis as { navigator?: object };
    Object.defineProperty((g.navigator ??= {}), "gpu", { value: gpu, configurable: true });
    tf.registerBackend("webgpu", () => new WebGPUBackend(device as never, adapter.info as never));
  }
  webgpuAdapter = name;
  return undefined;
}

/** A GPU's device node (Mesa's DRM render node, NVIDIA's driver); on other systems: maybe. */
function hasGpuDevice(): boolean {
  if (process.platform !== "linux") return true;
  const dri = existsSync("/dev/dri") ? readdirSync("/dev/dri") : [];
  return dri.some((f) => f.startsWith("renderD")) || existsSync("/dev/nvidiactl") || existsSync("/dev/nvidia0");
}

/** The adapter the last webgpu set-up took. */
let webgpuAdapter: string | undefined;

/** Why the last wasm set-up runs without the onnxruntime kernels (undefined: it runs with them). */
let ortSkipped: string | undefined = "wasm backend not set up";

export interface BackendChoice {
  name: string;
  /** wasm only: which engine runs the convolutions, and why not onnxruntime where it does not. */
  kernels?: string;
  /** webgpu only: the adapter (GPU) it runs on. */
  adapter?: string;
  /** Why each backend tried before the chosen one was not taken. */
  skipped: { name: string; reason: string }[];
}

/**
 * Activates the first backend that loads, or `preferred` (config or ADAPTSEG_BACKEND) when given.
 * Throws when a preferred backend cannot be used, naming why.
 */
export async function selectBackend(backends: ComputeBackend[], preferred = process.env.ADAPTSEG_BACKEND): Promise<BackendChoice> {
  registerResizeBilinearGrad();
  const sorted = [...backends].sort((a, b) => a.priority - b.priority);
  const want = preferred && preferred !== "auto" ? preferred : undefined;
  if (want && !sorted.some((b) => b.name === want)) throw new Error(`unknown backend "${want}"; known: ${sorted.map((b) => b.name).join(", ")}`);
  const skipped: { name: string; reason: string }[] = [];
  for (const b of sorted) {
    if (want && b.name !== want) {
      skipped.push({ name: b.name, reason: `not requested (backend "${want}" was)` });
      continue;
    }
    const why = await b.setup(b.name === want);
    if (!why && (await tf.setBackend(b.tfName))) {
      await tf.ready();
      if (b.tfName === "webgpu") return { name: b.name, adapter: webgpuAdapter, skipped };
      if (b.tfName !== "wasm") return { name: b.name, skipped };
      const ort = ortKernelStats();
      const kernels = ort.active ? `conv2d forward and gradients in onnxruntime-node (${ort.threads} threads)` : `wasm only (onnxruntime-node kernels off: ${ortSkipped})`;
      return { name: b.name, kernels, skipped };
    }
    const reason = why ?? `tf.setBackend("${b.tfName}") failed`;
    if (want) throw new Error(`backend "${want}" cannot be used: ${reason}`);
    skipped.push({ name: b.name, reason });
  }
  throw new Error(`no compute backend could be used: ${skipped.map((s) => `${s.name}: ${s.reason}`).join("; ")}`);
}

/**
 * Registers what this package adds to TF.js, for code that activates a backend without
 * selectBackend: the exact ResizeBilinear gradient (every backend) and, where the wasm backend is
 * registered, its training kernels. Idempotent. selectBackend (through each backend's set-up) does this.
 */
export function registerComputeKernels(): void {
  registerResizeBilinearGrad();
  if (tf.findBackendFactory("wasm")) registerWasmTrainingKernels();
}

/** ADAPTSEG_THREADS: compute threads per process (e.g. 1 when several runs share a machine); undefined when unset. */
export function envThreads(): number | undefined {
  const v = process.env.ADAPTSEG_THREADS;
  if (v === undefined || v === "") return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`ADAPTSEG_THREADS must be an integer >= 1, got "${v}"`);
  return n;
}

/** Binds the built-in compute backends (`threads`: wasm threads, default ADAPTSEG_THREADS, else all cores). */
export const computeModule = (threads = envThreads()) =>
  new ContainerModule(({ bind }) => {
    for (const b of builtinBackends(threads)) bind<ComputeBackend>(ComputeBackend).toConstantValue(b);
  });

/** This package's ContainerModule: the built-in compute backends with default threads. */
export const containerModule = computeModule();
