/**
 * The kernel log and dump_page, as drivers and WARNs use them. The log is a
 * bounded ring of lines (the printk buffer); Kernel.dmesg() reads it.
 */
import { type FolioTable, folioFlagNames, folioMapcount, folioNrPages, pageMapcountRaw } from './folio.js';
import type { Host } from './host.js';

/**
 * `%p` of a 64-bit kernel address as printk and trace output print it when
 * Linux is booted with no_hash_pointers: 2 * sizeof(void *) zero-padded hex
 * digits, no 0x. (By default Linux prints 00000000 and 32 bits of a keyed
 * hash instead.) The model's kernel addresses are synthetic, so this form
 * keeps the shape a kernel developer expects and stays stable between runs.
 */
// mirrors lib/vsprintf.c:pointer_string (the no_hash_pointers case)
export function printkPointer(addr: bigint): string {
  return addr.toString(16).padStart(16, '0');
}

/** Lines kept (the oldest are dropped first, as the printk ring does). */
export const LOG_LINES = 4096;

/** Append one line to the kernel log. */
// mirrors kernel/printk/printk.c:printk (no levels or timestamps)
export function printk(host: Host, line: string): void {
  const log = host.log;
  if (log.length >= LOG_LINES) log.shift();
  log.push(line);
}

/** WARN(cond, fmt): log the message and a "WARNING" line when cond holds; returns cond. */
// mirrors include/asm-generic/bug.h:WARN
export function warn(host: Host, cond: boolean, message: string, where: string): boolean {
  if (cond) {
    printk(host, `WARNING: at ${where}`);
    printk(host, message);
  }
  return cond;
}

/** Describe the page at pfn in the kernel log, in dump_page's shape. */
// mirrors mm/debug.c:dump_page (__dump_folio), the fields the model keeps
export function dumpPage(host: Host, pfn: number, reason: string): void {
  const ft: FolioTable = host.ft;
  const f = host.pfnFolio(pfn);
  if (f === 0) {
    printk(host, `page: pfn:0x${pfn.toString(16)} is free or reserved`);
    printk(host, `page dumped because: ${reason}`);
    return;
  }
  const idx = pfn - ft.pfn[f]!;
  const large = ft.order[f]! > 0;
  const mapcount = large ? pageMapcountRaw(ft, f, idx) + 1 : folioMapcount(ft, f);
  const owner = ft.owner[f];
  const mapping = owner === null || owner === undefined ? '0' : `${owner.kind}:${owner.id}`;
  printk(host, `page: refcount:${ft.refcount[f]} mapcount:${mapcount} mapping:${mapping} index:0x${(ft.index[f]! + idx).toString(16)} pfn:0x${pfn.toString(16)}`);
  if (large) {
    printk(host, `head: order:${ft.order[f]} mapcount:${folioMapcount(ft, f)} entire_mapcount:${ft.entire[f]! + 1} nr_pages_mapped:${ft.nrMapped[f]} pincount:${ft.pincount[f]}`);
  }
  printk(host, `flags: ${folioFlagNames(ft, f).join('|') || '0'} (nr_pages ${folioNrPages(ft, f)})`);
  printk(host, `page dumped because: ${reason}`);
}
