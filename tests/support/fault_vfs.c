/*
 * Every file method but write and sync passes straight through; the
 * wrapper's file is followed by the real one in the same allocation.
 */
#define _POSIX_C_SOURCE 200809L

#include "fault_vfs.h"

#include <pthread.h>

#include <sqlite3.h>

static sqlite3_vfs *real_vfs;
static sqlite3_vfs fault_vfs;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static fault_mode mode;
static int held;

typedef struct ffile {
    sqlite3_file base;
    sqlite3_file *real;
} ffile;

#define REAL(f) (((ffile *)(f))->real)

/* SQLITE_OK to go ahead, or the error to return. */
static int gate(int error)
{
    pthread_mutex_lock(&mu);
    if (mode == FAULT_HOLD)
        held++;
    while (mode == FAULT_HOLD)
        pthread_cond_wait(&changed, &mu);
    int rc = mode == FAULT_FAIL ? error : SQLITE_OK;
    pthread_mutex_unlock(&mu);
    return rc;
}

static int f_close(sqlite3_file *f)
{
    return REAL(f)->pMethods->xClose(REAL(f));
}
static int f_read(sqlite3_file *f, void *b, int n, sqlite3_int64 o)
{
    return REAL(f)->pMethods->xRead(REAL(f), b, n, o);
}
static int f_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 o)
{
    int rc = gate(SQLITE_IOERR_WRITE);
    return rc != SQLITE_OK ? rc : REAL(f)->pMethods->xWrite(REAL(f), b, n, o);
}
static int f_truncate(sqlite3_file *f, sqlite3_int64 n)
{
    return REAL(f)->pMethods->xTruncate(REAL(f), n);
}
static int f_sync(sqlite3_file *f, int flags)
{
    int rc = gate(SQLITE_IOERR_FSYNC);
    return rc != SQLITE_OK ? rc : REAL(f)->pMethods->xSync(REAL(f), flags);
}
static int f_size(sqlite3_file *f, sqlite3_int64 *n)
{
    return REAL(f)->pMethods->xFileSize(REAL(f), n);
}
static int f_lock(sqlite3_file *f, int l)
{
    return REAL(f)->pMethods->xLock(REAL(f), l);
}
static int f_unlock(sqlite3_file *f, int l)
{
    return REAL(f)->pMethods->xUnlock(REAL(f), l);
}
static int f_reserved(sqlite3_file *f, int *out)
{
    return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}
static int f_fcntl(sqlite3_file *f, int op, void *arg)
{
    return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}
static int f_sector(sqlite3_file *f)
{
    return REAL(f)->pMethods->xSectorSize(REAL(f));
}
static int f_device(sqlite3_file *f)
{
    return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}
static int f_shm_map(sqlite3_file *f, int pg, int sz, int ext, void volatile **pp)
{
    return REAL(f)->pMethods->xShmMap(REAL(f), pg, sz, ext, pp);
}
static int f_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
    return REAL(f)->pMethods->xShmLock(REAL(f), off, n, flags);
}
static void f_shm_barrier(sqlite3_file *f)
{
    REAL(f)->pMethods->xShmBarrier(REAL(f));
}
static int f_shm_unmap(sqlite3_file *f, int del)
{
    return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}
static int f_fetch(sqlite3_file *f, sqlite3_int64 o, int n, void **pp)
{
    return REAL(f)->pMethods->xFetch(REAL(f), o, n, pp);
}
static int f_unfetch(sqlite3_file *f, sqlite3_int64 o, void *p)
{
    return REAL(f)->pMethods->xUnfetch(REAL(f), o, p);
}

static const sqlite3_io_methods fault_io = {
    3,          f_close,       f_read,      f_write, f_truncate, f_sync,   f_size,
    f_lock,     f_unlock,      f_reserved,  f_fcntl, f_sector,   f_device, f_shm_map,
    f_shm_lock, f_shm_barrier, f_shm_unmap, f_fetch, f_unfetch,
};

static int f_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out_flags)
{
    (void)vfs;
    ffile *ff = (ffile *)f;
    ff->real = (sqlite3_file *)(ff + 1);
    int rc = real_vfs->xOpen(real_vfs, name, ff->real, flags, out_flags);
    /* A file whose open failed must have no methods, or SQLite closes it. */
    ff->base.pMethods = rc == SQLITE_OK && ff->real->pMethods != NULL ? &fault_io : NULL;
    return rc;
}

static int f_delete(sqlite3_vfs *v, const char *n, int s)
{
    (void)v;
    return real_vfs->xDelete(real_vfs, n, s);
}
static int f_access(sqlite3_vfs *v, const char *n, int fl, int *out)
{
    (void)v;
    return real_vfs->xAccess(real_vfs, n, fl, out);
}
static int f_fullpath(sqlite3_vfs *v, const char *n, int len, char *out)
{
    (void)v;
    return real_vfs->xFullPathname(real_vfs, n, len, out);
}

int fault_vfs_install(void)
{
    real_vfs = sqlite3_vfs_find(NULL);
    if (real_vfs == NULL)
        return -1;
    fault_vfs = *real_vfs;
    fault_vfs.zName = "hbd-fault";
    fault_vfs.szOsFile = (int)sizeof(ffile) + real_vfs->szOsFile;
    fault_vfs.pAppData = NULL;
    fault_vfs.xOpen = f_open;
    fault_vfs.xDelete = f_delete;
    fault_vfs.xAccess = f_access;
    fault_vfs.xFullPathname = f_fullpath;
    return sqlite3_vfs_register(&fault_vfs, 1) == SQLITE_OK ? 0 : -1;
}

void fault_vfs_set(fault_mode m)
{
    pthread_mutex_lock(&mu);
    mode = m;
    pthread_cond_broadcast(&changed);
    pthread_mutex_unlock(&mu);
}

int fault_vfs_held(void)
{
    pthread_mutex_lock(&mu);
    int n = held;
    pthread_mutex_unlock(&mu);
    return n;
}
