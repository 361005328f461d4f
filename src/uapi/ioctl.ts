/** ioctl request encoding (include/uapi/asm-generic/ioctl.h, as x86-64 uses it). */

export const _IOC_NRBITS = 8;
export const _IOC_TYPEBITS = 8;
export const _IOC_SIZEBITS = 14;
export const _IOC_NONE = 0;
export const _IOC_WRITE = 1;
export const _IOC_READ = 2;

/** _IOC(dir, type, nr, size) as an unsigned 32-bit number. */
export function _IOC(dir: number, type: string | number, nr: number, size: number): number {
  const t = typeof type === 'string' ? type.charCodeAt(0) : type;
  return ((dir << 30) | (size << 16) | (t << 8) | nr) >>> 0;
}

export const _IO = (type: string | number, nr: number): number => _IOC(_IOC_NONE, type, nr, 0);
export const _IOR = (type: string | number, nr: number, size: number): number => _IOC(_IOC_READ, type, nr, size);
export const _IOW = (type: string | number, nr: number, size: number): number => _IOC(_IOC_WRITE, type, nr, size);
export const _IOWR = (type: string | number, nr: number, size: number): number => _IOC(_IOC_READ | _IOC_WRITE, type, nr, size);
