/*
 * dup2 rather than freopen: the saved descriptor brings the test runner's
 * stderr back exactly, whatever it was.
 */
#define _POSIX_C_SOURCE 200809L

#include "log_capture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int saved_fd = -1;
static FILE *sink;

int log_capture_start(void)
{
    if (saved_fd >= 0)
        return -1;
    fflush(stderr);
    sink = tmpfile();
    if (sink == NULL)
        return -1;
    saved_fd = dup(STDERR_FILENO);
    if (saved_fd < 0 || dup2(fileno(sink), STDERR_FILENO) < 0) {
        if (saved_fd >= 0)
            close(saved_fd);
        saved_fd = -1;
        fclose(sink);
        sink = NULL;
        return -1;
    }
    return 0;
}

char *log_capture_stop(void)
{
    if (saved_fd < 0)
        return NULL;
    fflush(stderr);
    dup2(saved_fd, STDERR_FILENO);
    close(saved_fd);
    saved_fd = -1;
    /* The file's offset is shared with descriptor 2, where the lines
       went: SEEK_END finds their end whatever stdio thinks. */
    long size = fseek(sink, 0, SEEK_END) == 0 ? ftell(sink) : -1;
    char *text = malloc(size > 0 ? (size_t)size + 1 : 1);
    size_t n = 0;
    if (text != NULL && size > 0 && fseek(sink, 0, SEEK_SET) == 0)
        n = fread(text, 1, (size_t)size, sink);
    if (text != NULL)
        text[n] = '\0';
    fclose(sink);
    sink = NULL;
    return text;
}

int log_count(const char *text, const char *needle)
{
    int n = 0;
    size_t len = strlen(needle);
    for (const char *p = text; len > 0 && (p = strstr(p, needle)) != NULL; p += len)
        n++;
    return n;
}
