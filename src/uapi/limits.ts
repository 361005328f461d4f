/** Path limits (include/uapi/linux/limits.h). */

/** Bytes in a path name, including the terminating NUL. */
export const PATH_MAX = 4096;
/** Bytes in one path component. */
export const NAME_MAX = 255;
