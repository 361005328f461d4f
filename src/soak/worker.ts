/** A worker thread of `foliosim soak --jobs N`: runs one stream and returns its plain result. */
import type { KernelOptions } from '../kernel.js';
import { type SoakResult, soak } from './soak.js';

export interface SoakTask {
  readonly ops: number;
  readonly seed: number;
  readonly kernel: KernelOptions;
  readonly checkEvery: number;
  readonly knownFindings: readonly string[];
}

export default function work(t: SoakTask): SoakResult & { readonly rssMiB: number } {
  const r = soak({ ops: t.ops, seed: t.seed, kernel: t.kernel, checkEvery: t.checkEvery, knownFindings: t.knownFindings });
  return { ...r, rssMiB: process.memoryUsage().rss / 2 ** 20 };
}
