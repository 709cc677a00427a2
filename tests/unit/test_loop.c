/* tests/unit/test_loop.c — server/loop.c: deferred calls and their cancelling. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "server/loop.h"
#include "tests/unit/check.h"

/* Something a deferred call is for (a target, say), freed by an earlier call of the same round
 * that also cancels the call, as lx_target_free cancels its pending report. */
struct owner {
	int64_t pending; /* the deferred call that uses it */
	int uses;
};

static int ran_after_free;

static void use_owner(struct loop *loop, void *data)
{
	struct owner *o = data;

	(void)loop;
	o->uses++; /* a use after free if the call was not cancelled */
	ran_after_free++;
}

static void free_owner(struct loop *loop, void *data)
{
	struct owner *o = data;

	loop_del_timer(loop, o->pending);
	free(o);
}

/* Both calls queued before the round runs: the first frees the owner and cancels the second. */
static void test_cancel_in_same_round(void)
{
	struct loop *loop = loop_new();
	struct owner *o = calloc(1, sizeof(*o));

	CHECK(loop && o);
	ran_after_free = 0;
	CHECK(loop_defer(loop, free_owner, o) > 0);
	o->pending = loop_defer(loop, use_owner, o);
	CHECK(o->pending > 0);
	loop_drain(loop);
	CHECK(ran_after_free == 0);
	loop_free(loop);
}

static int order[8], norder;

static void record(struct loop *loop, void *data)
{
	(void)loop;
	order[norder++] = (int)(intptr_t)data;
}

static int64_t later_id;

static void cancel_later(struct loop *loop, void *data)
{
	(void)data;
	order[norder++] = 0;
	loop_del_timer(loop, later_id);
}

/* Cancelling one call of the round leaves the others, in order, and the queue usable. */
static void test_cancel_keeps_the_rest(void)
{
	struct loop *loop = loop_new();

	norder = 0;
	loop_defer(loop, record, (void *)(intptr_t)1);
	loop_defer(loop, cancel_later, NULL);
	later_id = loop_defer(loop, record, (void *)(intptr_t)2);
	loop_defer(loop, record, (void *)(intptr_t)3);
	loop_drain(loop);
	CHECK(norder == 3);
	CHECK(order[0] == 1 && order[1] == 0 && order[2] == 3);
	/* Queued again afterwards: the tail of the queue is intact. */
	loop_defer(loop, record, (void *)(intptr_t)4);
	loop_defer(loop, record, (void *)(intptr_t)5);
	loop_drain(loop);
	CHECK(norder == 5 && order[3] == 4 && order[4] == 5);
	loop_free(loop);
}

static void stop_loop(struct loop *loop, void *data)
{
	(void)data;
	loop_stop(loop, 0);
}

/* A call not run because the loop stopped goes back to the queue and can still be cancelled. */
static void test_cancel_after_stop(void)
{
	struct loop *loop = loop_new();
	struct owner *o = calloc(1, sizeof(*o));

	ran_after_free = 0;
	loop_defer(loop, stop_loop, NULL);
	o->pending = loop_defer(loop, use_owner, o);
	CHECK(loop_run(loop) == 0);
	CHECK(ran_after_free == 0);
	loop_del_timer(loop, o->pending);
	free(o);
	loop_drain(loop);
	CHECK(ran_after_free == 0);
	loop_free(loop);
}

int main(void)
{
	test_cancel_in_same_round();
	test_cancel_keeps_the_rest();
	test_cancel_after_stop();
	return check_result("test_loop");
}
