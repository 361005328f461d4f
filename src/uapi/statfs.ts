/**
 * statfs(2)'s f_flags bits (include/linux/statfs.h; glibc's <sys/statvfs.h>
 * gives them the same values). ST_VALID tells the caller f_flags is filled in.
 */

export const ST_RDONLY = 0x0001;
export const ST_NOSUID = 0x0002;
export const ST_NODEV = 0x0004;
export const ST_NOEXEC = 0x0008;
export const ST_SYNCHRONOUS = 0x0010;
export const ST_VALID = 0x0020;
export const ST_MANDLOCK = 0x0040;
export const ST_NOATIME = 0x0400;
export const ST_NODIRATIME = 0x0800;
export const ST_RELATIME = 0x1000;
export const ST_NOSYMFOLLOW = 0x2000;
