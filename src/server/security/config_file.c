#define _DEFAULT_SOURCE /* explicit_bzero */

#include "config_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

static const char *kind_of(mode_t mode)
{
    return S_ISFIFO(mode)                   ? "a FIFO"
           : S_ISDIR(mode)                  ? "a directory"
           : S_ISCHR(mode) || S_ISBLK(mode) ? "a device"
           : S_ISSOCK(mode)                 ? "a socket"
                                            : "not a file";
}

static int fail_errno(const char *what, const char *path, int e, hbeat_error *err)
{
    int rc = hbeat_error_set(err, HBEAT_EINVAL, "%s %.200s: %s", what, path, strerror(e));
    if (err != NULL)
        err->native = e;
    return rc;
}

int hbd_read_config_file(const char *what, const char *path, size_t max, int secret, char **out,
                         size_t *len, hbeat_error *err)
{
    *out = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return fail_errno(what, path, errno, err);
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return fail_errno(what, path, e, err);
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return hbeat_error_set(err, HBEAT_EINVAL, "%s %.200s: not a regular file (%s)", what, path,
                               kind_of(st.st_mode));
    }
    if ((size_t)st.st_size > max) {
        close(fd);
        return hbeat_error_set(err, HBEAT_EINVAL, "%s %.200s: larger than %zu bytes", what, path,
                               max);
    }
    if (secret && (st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
        hbd_warn("%s %s is open to other users (mode %03o); chmod 600 it", what, path,
                 (unsigned)(st.st_mode & 0777));
    char *buf = malloc(max + 1);
    if (buf == NULL) {
        close(fd);
        return hbeat_error_set(err, HBEAT_ENOMEM, "%s: out of memory", what);
    }
    size_t n = 0;
    int bad = 0;
    while (n <= max) {
        ssize_t r = read(fd, buf + n, max + 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            bad = r < 0;
            break;
        }
        n += (size_t)r;
    }
    close(fd);
    if (bad || n > max) {
        explicit_bzero(buf, n);
        free(buf);
        return hbeat_error_set(err, HBEAT_EINVAL, "%s %.200s: %s", what, path,
                               bad ? "read error" : "grew while being read");
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}
