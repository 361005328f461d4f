/** open(2) flags and fcntl constants (include/uapi/asm-generic/fcntl.h), octal as Linux writes them. */

export const O_ACCMODE = 0o3;
export const O_RDONLY = 0o0;
export const O_WRONLY = 0o1;
export const O_RDWR = 0o2;
export const O_CREAT = 0o100;
export const O_EXCL = 0o200;
export const O_NOCTTY = 0o400;
export const O_TRUNC = 0o1000;
export const O_APPEND = 0o2000;
export const O_NONBLOCK = 0o4000;
export const O_DSYNC = 0o10000;
export const O_DIRECT = 0o40000;
export const O_LARGEFILE = 0o100000;
export const O_DIRECTORY = 0o200000;
export const O_NOFOLLOW = 0o400000;
export const O_NOATIME = 0o1000000;
export const O_CLOEXEC = 0o2000000;
export const O_SYNC = 0o4010000;
export const O_PATH = 0o10000000;
/** __O_TMPFILE: never passed alone; O_TMPFILE adds O_DIRECTORY so that old kernels fail the open. */
export const __O_TMPFILE = 0o20000000;
export const O_TMPFILE = __O_TMPFILE | O_DIRECTORY;
export const O_NDELAY = O_NONBLOCK;

/** openat(2) and friends: the current working directory as dirfd. */
export const AT_FDCWD = -100;

export const F_SEAL_SEAL = 0x0001;
export const F_SEAL_SHRINK = 0x0002;
export const F_SEAL_GROW = 0x0004;
export const F_SEAL_WRITE = 0x0008;
export const F_SEAL_FUTURE_WRITE = 0x0010;
export const F_SEAL_EXEC = 0x0020;

/** st_mode file type bits (include/uapi/linux/stat.h). */
export const S_IFMT = 0o170000;
export const S_IFSOCK = 0o140000;
export const S_IFLNK = 0o120000;
export const S_IFREG = 0o100000;
export const S_IFBLK = 0o060000;
export const S_IFDIR = 0o040000;
export const S_IFCHR = 0o020000;
export const S_IFIFO = 0o010000;
/** S_ISUID | S_ISGID | S_ISVTX | S_IRWXUGO: the mode bits open(2) and mkdir(2) keep. */
export const S_IALLUGO = 0o7777;
