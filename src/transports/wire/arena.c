/* The reply arena: bump allocation in a fixed buffer, malloc beyond it. */
#include <stdlib.h>

#include "transports/wire/wire.h"

#define ARENA_ALIGN 16

static void *arena_alloc(void *data, size_t size)
{
    hbeat__wire_arena *a = data;
    size_t need = (size + (ARENA_ALIGN - 1)) & ~(size_t)(ARENA_ALIGN - 1);
    if (need >= size && need <= sizeof(a->buf) - a->used) {
        void *p = a->buf + a->used;
        a->used += need;
        return p;
    }
    return malloc(size);
}

static void arena_free(void *data, void *ptr)
{
    hbeat__wire_arena *a = data;
    unsigned char *p = ptr;
    if (p >= a->buf && p < a->buf + sizeof(a->buf)) {
        return;
    }
    free(ptr);
}

void hbeat__wire_arena_init(hbeat__wire_arena *a)
{
    a->allocator.alloc = arena_alloc;
    a->allocator.free = arena_free;
    a->allocator.allocator_data = a;
    a->used = 0;
}

void hbeat__wire_reply_free(ProtobufCMessage *reply, hbeat__wire_arena *arena)
{
    if (reply != NULL) {
        protobuf_c_message_free_unpacked(reply, &arena->allocator);
    }
    arena->used = 0;
}
