/* Error codes, the per-thread error detail, and imi_ctx. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <criterion/criterion.h>
#include "iminfra/iminfra.h"
#include "imi_test.h"

Test(error, names_and_messages)
{
    cr_assert_str_eq(imi_err_name(IMI_ETIMEDOUT), "IMI_ETIMEDOUT");
    cr_assert_str_eq(imi_strerror(IMI_ETIMEDOUT), "deadline exceeded");
    cr_assert_str_eq(imi_err_name(IMI_OK), "IMI_OK");
    cr_assert_str_eq(imi_err_name(IMI_EOPEN), "IMI_EOPEN");
    cr_assert_str_eq(imi_strerror(-999), "unknown error");
    /* Every code from OK down to the last has a distinct name. */
    for (int a = 0; a >= IMI_EINTERNAL; a--)
        for (int b = a - 1; b >= IMI_EINTERNAL; b--)
            cr_assert_str_neq(imi_err_name(a), imi_err_name(b));
    cr_assert_eq(IMI_EINTERNAL, -15);
}

static char other_thread_saw[64] = "unset";

static void *read_detail(void *arg)
{
    (void)arg;
    snprintf(other_thread_saw, sizeof other_thread_saw, "%s", imi_error_message());
    return NULL;
}

Test(error, detail_is_per_thread)
{
    cr_assert_eq(imi_error_set(IMI_EUNAVAILABLE, 111, "connect %s: %s", "127.0.0.1:1", "refused"),
                 IMI_EUNAVAILABLE);
    cr_assert_eq(imi_error_code(), IMI_EUNAVAILABLE);
    cr_assert_eq(imi_error_native(), 111);
    cr_assert_str_eq(imi_error_message(), "connect 127.0.0.1:1: refused");
    pthread_t th;
    pthread_create(&th, NULL, read_detail, NULL);
    pthread_join(th, NULL);
    cr_assert_str_eq(other_thread_saw, "", "another thread sees its own empty detail");
    imi_error_clear();
    cr_assert_eq(imi_error_code(), IMI_OK);
    cr_assert_str_eq(imi_error_message(), "");
}

Test(ctx, null_ctx_means_default)
{
    cr_assert_eq(imi_ctx_err(NULL), IMI_OK);
    cr_assert_eq(imi_ctx_remaining_ms(NULL, 1234), 1234);
    cr_assert_null(imi_ctx_trace_id(NULL));
}

Test(ctx, deadline_and_cancel)
{
    imi_ctx *c = imi_ctx_new(50);
    cr_assert_eq(imi_ctx_err(c), IMI_OK);
    int64_t left = imi_ctx_remaining_ms(c, 0);
    cr_assert(left > 0 && left <= 50, "left %lld", (long long)left);
    sleep_ms(80);
    cr_assert_eq(imi_ctx_err(c), IMI_ETIMEDOUT);
    cr_assert_eq(imi_ctx_remaining_ms(c, 99), 0);
    imi_ctx_free(c);

    c = imi_ctx_new(0);
    cr_assert_eq(imi_ctx_remaining_ms(c, 77), 77, "no deadline: the default");
    imi_ctx_cancel(c);
    cr_assert_eq(imi_ctx_err(c), IMI_ECANCELED);
    cr_assert(imi_ctx_canceled(c));
    imi_ctx_free(c);
}

Test(ctx, child_inherits)
{
    imi_ctx *parent = imi_ctx_new(60000);
    imi_ctx_set_trace_id(parent, "abc123");
    imi_ctx *child = imi_ctx_child(parent, 10);
    cr_assert_str_eq(imi_ctx_trace_id(child), "abc123");
    cr_assert(imi_ctx_remaining_ms(child, 0) <= 10, "the earlier deadline wins");
    imi_ctx *loose = imi_ctx_child(parent, 0);
    cr_assert(imi_ctx_remaining_ms(loose, 0) > 59000, "the parent's deadline is inherited");
    imi_ctx_cancel(parent);
    cr_assert_eq(imi_ctx_err(loose), IMI_ECANCELED, "cancelling the parent cancels children");
    imi_ctx_free(loose);
    imi_ctx_free(child);
    imi_ctx_free(parent);
}

Test(ctx, trace_ids)
{
    imi_ctx *c = imi_ctx_new(0);
    const char *id = imi_ctx_new_trace_id(c);
    cr_assert_eq(strlen(id), 32);
    cr_assert_eq(strspn(id, "0123456789abcdef"), 32);
    char first[33];
    strcpy(first, id);
    cr_assert_str_neq(imi_ctx_new_trace_id(c), first);
    imi_ctx_set_trace_id(c, "a b\nc");
    cr_assert_str_eq(imi_ctx_trace_id(c), "a_b_c", "only printable characters travel");
    char longid[200];
    memset(longid, 'x', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    imi_ctx_set_trace_id(c, longid);
    cr_assert_eq(strlen(imi_ctx_trace_id(c)), IMI_TRACE_ID_MAX);
    imi_ctx_set_trace_id(c, "");
    cr_assert_null(imi_ctx_trace_id(c));
    imi_ctx_free(c);
}
