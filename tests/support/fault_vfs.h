/*
 * A VFS that wraps SQLite's default one and, when told, fails every write
 * and sync (as a full or broken disk would) or holds them until released
 * (a commit provably in flight). Installed as the default VFS, so the
 * store under test uses it without knowing.
 */
#ifndef HBD_TEST_FAULT_VFS_H
#define HBD_TEST_FAULT_VFS_H

typedef enum fault_mode {
    FAULT_NONE,
    FAULT_FAIL, /* writes and syncs return SQLITE_IOERR_WRITE / _FSYNC */
    FAULT_HOLD  /* writes and syncs wait until the mode changes */
} fault_mode;

/* Registers the VFS as the default. 0 or -1. */
int fault_vfs_install(void);
/* Safe from any thread; leaving FAULT_HOLD releases the held calls. */
void fault_vfs_set(fault_mode mode);
/* Number of writes and syncs that found FAULT_HOLD so far. */
int fault_vfs_held(void);

#endif /* HBD_TEST_FAULT_VFS_H */
