#include "hostile_peer.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

fx_hostile *fx_hostile_new(uint64_t seed)
{
    fx_hostile *p = calloc(1, sizeof(*p));
    pthread_mutex_init(&p->mu, NULL);
    p->rng = seed;
    return p;
}

int fx_hostile_next(fx_hostile *p, unsigned *nth)
{
    pthread_mutex_lock(&p->mu);
    int mode = p->mode;
    p->counts.answered[mode]++;
    if (nth != NULL)
        *nth = p->requests;
    p->requests++;
    pthread_mutex_unlock(&p->mu);
    return mode;
}

void fx_hostile_count_unexpected(fx_hostile *p)
{
    pthread_mutex_lock(&p->mu);
    p->counts.unexpected++;
    pthread_mutex_unlock(&p->mu);
}

uint64_t fx_hostile_random(fx_hostile *p)
{
    pthread_mutex_lock(&p->mu);
    uint64_t x = tsock_xorshift(&p->rng);
    pthread_mutex_unlock(&p->mu);
    return x;
}

void fx_hostile_huge_sent(fx_hostile *p, uint64_t sent)
{
    pthread_mutex_lock(&p->mu);
    if (sent > p->counts.huge_sent_max)
        p->counts.huge_sent_max = sent;
    pthread_mutex_unlock(&p->mu);
}

void fx_hostile_huge_ended(fx_hostile *p)
{
    pthread_mutex_lock(&p->mu);
    p->counts.huge_done++;
    pthread_mutex_unlock(&p->mu);
}

void fx_hostile_stop(fx_hostile *p)
{
    if (p == NULL)
        return;
    tsock_stop(p->srv);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

void fx_hostile_set_mode(fx_hostile *p, int mode)
{
    pthread_mutex_lock(&p->mu);
    p->mode = mode;
    pthread_mutex_unlock(&p->mu);
}

fx_hostile_counts fx_hostile_counts_now(fx_hostile *p)
{
    pthread_mutex_lock(&p->mu);
    fx_hostile_counts c = p->counts;
    pthread_mutex_unlock(&p->mu);
    return c;
}

void fx_hostile_setup(fx_hostile_fixture *f, fx_hostile *peer)
{
    f->peer = peer;
    fx_observe_begin(&f->obs);
    f->gw = fx_open(peer->url, 0.5);
}

int fx_hostile_teardown(fx_hostile_fixture *f)
{
    fx_drop_loop(&f->obs);
    hbeat_gateway_free(f->gw);
    /* After the gateway: its connections are gone, so no peer thread is
       left blocked on a client that stopped reading. */
    unsigned unexpected = fx_hostile_counts_now(f->peer).unexpected;
    fx_hostile_stop(f->peer);
    fx_observe_end(&f->obs);
    if (unexpected != 0) {
        fprintf(stderr, "%u requests were not heartbeats\n", unexpected);
        return -1;
    }
    return 0;
}

static void set_mode(void *arg, int hostile)
{
    fx_hostile_fixture *f = arg;
    fx_hostile_set_mode(f->peer, hostile ? f->mode : 0);
}

void fx_hostile_run(fx_hostile_fixture *f, int mode, const fx_case *c)
{
    f->mode = mode;
    fx_run_case(f->gw, &f->obs, c, set_mode, f);
    assert_true(fx_hostile_counts_now(f->peer).answered[mode] >= 4);
}

void fx_hostile_expect_huge_cut_off(fx_hostile_fixture *f, uint64_t huge_len)
{
    double until = fx_now() + FX_WAIT_S;
    while (fx_hostile_counts_now(f->peer).huge_done < 3 && fx_now() < until)
        fx_sleep_ms(5);
    fx_hostile_counts c = fx_hostile_counts_now(f->peer);
    assert_true(c.huge_done >= 3);
    if (c.huge_sent_max >= huge_len / 4)
        fail_msg("the peer sent %llu bytes of one %llu-byte reply",
                 (unsigned long long)c.huge_sent_max, (unsigned long long)huge_len);
}
