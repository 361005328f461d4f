/**
 * `foliosim trace`: a run as ftrace prints it (/sys/kernel/tracing/trace), one
 * line per event with the task, its CPU, the simulated timestamp in seconds,
 * and the event's fields in the kernel's format:
 *
 *   # tracer: nop
 *   #           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION
 *              io.0-1003    [002] .....   0.001234: mmap_lock_start_locking: mm=ffff888000001000 memcg_path= write=false
 *
 * Pointer fields (`%p`) print as Linux prints them when booted with
 * no_hash_pointers (printkPointer in src/mm/debug.ts).
 *
 * Events come from the engine (mmap_lock_*, foliosim_op for each actor
 * operation) and from the kernel's tracepoints (Host.trace: mm_page_alloc,
 * mm_page_free, tlb_flush, sched_process_fork, sched_process_exit,
 * page_fault_user, and KVM's kvm_page_fault, kvm_mmu_spte_requested and
 * kvm_userspace_exit). Tracing is off unless a tracer is installed, so it costs
 * nothing in ordinary runs.
 *
 * Task names are the actors' names, and their thread ids are synthetic
 * (1000 + the actor's index), since the model has no threads of its own.
 */
import type { ActorRun, EngineTracer } from './engine.js';
import { runOne } from './run.js';
import type { RunConfig } from './scenario/load.js';

/** Event filter: comma-separated names, '*' globs allowed; empty or undefined means every event. */
export function eventFilter(spec: string | undefined): (event: string) => boolean {
  const parts = (spec ?? '').split(',').map((p) => p.trim()).filter((p) => p !== '');
  if (parts.length === 0) return () => true;
  const res = parts.map((p) => new RegExp(`^${p.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`));
  return (event) => res.some((r) => r.test(event));
}

/** An ftrace line: task-pid, [cpu], irq/preempt flags, seconds with µs precision, event and fields. */
export function ftraceLine(task: string, tid: number, cpu: number, ns: number, event: string, fields: string): string {
  const who = `${task}-${tid}`.padStart(22);
  const ts = (ns / 1e9).toFixed(6).padStart(12);
  return `${who} [${String(cpu).padStart(3, '0')}] ..... ${ts}: ${event}: ${fields}`;
}

export function traceRun(cfg: RunConfig, seed: number, filter?: string): string {
  const keep = eventFilter(filter);
  // (timestamp, line): an operation's end events are emitted when it starts, so lines are sorted by time at the end, as the trace file merges its per-CPU buffers.
  const lines: { t: number; line: string }[] = [];
  let current: { actor: ActorRun | null; t: number; tid: number } = { actor: null, t: 0, tid: 0 };
  const tids = new Map<ActorRun, number>();
  const tidOf = (a: ActorRun) => {
    let t = tids.get(a);
    if (t === undefined) tids.set(a, (t = 1000 + tids.size));
    return t;
  };
  const tracer: EngineTracer = {
    current: (a, t) => {
      current = { actor: a, t, tid: tidOf(a) };
    },
    event: (a, t, event, fields) => {
      if (keep(event)) lines.push({ t, line: ftraceLine(a.name, tidOf(a), a.cpu, t, event, fields) });
    },
  };
  runOne(cfg, seed, {
    tracer: (w) => {
      // Kernel tracepoints land on the actor whose operation is running (setup is not traced).
      w.k.host.trace = (event, fields) => {
        const a = current.actor;
        if (a !== null && keep(event)) lines.push({ t: current.t, line: ftraceLine(a.name, current.tid, a.cpu, current.t, event, fields) });
      };
      return tracer;
    },
  });
  const head = [
    '# tracer: nop',
    '#',
    `# entries-in-buffer/entries-written: ${lines.length}/${lines.length}   #P:${cfg.kernel.cpus ?? 8}`,
    `# foliosim: ${cfg.spec.name}, design ${cfg.design.id}, seed ${seed}${filter !== undefined ? `, events ${filter}` : ''}`,
    '#',
    '#                                _-----=> irqs-off/BH-disabled',
    '#                               / _----=> need-resched',
    '#                              | / _---=> hardirq/softirq',
    '#                              || / _--=> preempt-depth',
    '#                              ||| / _-=> migrate-disable',
    '#                              |||| /     delay',
    '#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION',
    '#              | |         |   |||||     |         |',
  ];
  // Array.prototype.sort is stable: events at one time keep their order.
  lines.sort((a, b) => a.t - b.t);
  return head.join('\n') + '\n' + lines.map((l) => l.line).join('\n') + (lines.length > 0 ? '\n' : '');
}
