/** File system magic numbers, statfs(2)'s f_type (include/uapi/linux/magic.h). */

export const TMPFS_MAGIC = 0x01021994;
export const HUGETLBFS_MAGIC = 0x958458f6;
/** ext2, ext3 and ext4 share one magic number. */
export const EXT4_SUPER_MAGIC = 0xef53;
export const XFS_SUPER_MAGIC = 0x58465342;
export const BTRFS_SUPER_MAGIC = 0x9123683e;
export const ANON_INODE_FS_MAGIC = 0x09041934;
export const PIPEFS_MAGIC = 0x50495045;
export const DEBUGFS_MAGIC = 0x64626720;
export const PROC_SUPER_MAGIC = 0x9fa0;
export const SYSFS_MAGIC = 0x62656572;
