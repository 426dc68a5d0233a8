/* JetStream names derived from topics and groups (issue 13): two valid topics, or two
 * groups, never share a stream or a durable consumer, and a stream that exists under the
 * name with other subjects is an error, not a success. Against a real nats-server (the
 * cluster of tools/clusters/nats.sh, R3 streams).
 *
 * Before the fix, names were cut at 255 bytes (with '.' written as two bytes) and "stream
 * exists" counted as created: topic B's subscriber got topic A's messages, publishing to
 * B failed, and two long groups shared one durable (each got part of the messages). */
#include <stdio.h>
#include <string.h>
#include <criterion/criterion.h>
#include <nats/nats.h>
#include "mq_it.h"

static char run[32];

static void setup(void)
{
    snprintf(run, sizeof run, "r%lld", (long long)(imi_now_real_ns() / 1000) % 100000000000LL);
}

TestSuite(mq_nats_names, .init = setup);

static imi_app *js_app(const char *prefix)
{
    char keys[1024];
    snprintf(keys, sizeof keys, "url = %s\njetstream = true\nreplicas = 3\nstream_prefix = %s\n"
             "timeout = 5s\nack_wait = 5s\n", it_env("IMI_NATS_CLUSTER_URLS"), prefix);
    return it_app(keys);
}

/* A valid topic (or group) of about 200 bytes, mostly dots, ending in `tail`. */
static void long_name(char *buf, size_t cap, const char *tail)
{
    size_t o = (size_t)snprintf(buf, cap, "%s", run);
    while (o + 2 + strlen(tail) + 1 <= 200 && o + 3 < cap)
        o += (size_t)snprintf(buf + o, cap - o, ".x");
    snprintf(buf + o, cap - o, ".%s", tail);
}

static imi_mq_sub *subscribe(imi_mq *mq, const char *topic, const char *group, it_seen *s)
{
    const char *topics[] = { topic };
    imi_mq_sub_opts o = { .group = group, .topics = topics, .n_topics = 1 };
    imi_mq_sub *sub = NULL;
    cr_assert_eq(imi_mq_subscribe(mq, NULL, &o, it_on_msg, s, &sub), IMI_OK, "subscribe %s: %s",
                 topic, imi_error_message());
    return sub;
}

Test(mq_nats_names, long_topics_with_one_prefix_keep_their_own_streams, .timeout = 60)
{
    char a[256], b[256];
    long_name(a, sizeof a, "A");
    long_name(b, sizeof b, "B");
    cr_assert(strlen(a) <= 200 && strlen(b) <= 200 && strcmp(a, b));
    imi_app *app = js_app("IMI_");
    imi_mq *prod, *cons;
    cr_assert_eq(it_mq_open(app, &prod), IMI_OK, "%s", imi_error_message());
    cr_assert_eq(it_mq_open(app, &cons), IMI_OK, "%s", imi_error_message());
    it_seen sa, sb;
    it_seen_init(&sa, 10, a);
    it_seen_init(&sb, 10, b);
    imi_mq_sub *suba = subscribe(cons, a, "g", &sa), *subb = subscribe(cons, b, "g", &sb);
    cr_assert_eq(it_publish(prod, a, 1, 5000), IMI_OK, "publish to A: %s", imi_error_message());
    cr_assert_eq(it_publish(prod, b, 2, 5000), IMI_OK, "publish to B: %s", imi_error_message());
    it_wait_unique(&sa, 1, 10000);
    it_wait_unique(&sb, 1, 10000);
    it_sleep_ms(300);   /* room for a stray delivery to show up */
    imi_mq_sub_free(suba);
    imi_mq_sub_free(subb);
    cr_expect_eq(sb.foreign, 0, "B's subscriber got %ld message(s) of topic %s", sb.foreign,
                 sb.topic_seen);
    cr_expect_eq(sa.foreign, 0, "A's subscriber got %ld message(s) of topic %s", sa.foreign,
                 sa.topic_seen);
    cr_expect(sa.count[1] == 1 && sa.unique == 1, "A got %ld messages", sa.unique);
    cr_expect(sb.count[2] == 1 && sb.unique == 1, "B got %ld messages", sb.unique);
    it_seen_free(&sa);
    it_seen_free(&sb);
    imi_mq_free(prod);
    imi_mq_free(cons);
    imi_app_free(app);
}

Test(mq_nats_names, long_groups_with_one_prefix_keep_their_own_durables, .timeout = 60)
{
    enum { N = 20 };
    char topic[64], g1[256], g2[256];
    snprintf(topic, sizeof topic, "%s.groups", run);
    long_name(g1, sizeof g1, "one");
    long_name(g2, sizeof g2, "two");
    imi_app *app = js_app("IMI_");
    imi_mq *prod, *cons;
    cr_assert_eq(it_mq_open(app, &prod), IMI_OK, "%s", imi_error_message());
    cr_assert_eq(it_mq_open(app, &cons), IMI_OK, "%s", imi_error_message());
    it_seen s1, s2;
    it_seen_init(&s1, N, topic);
    it_seen_init(&s2, N, topic);
    imi_mq_sub *sub1 = subscribe(cons, topic, g1, &s1), *sub2 = subscribe(cons, topic, g2, &s2);
    for (long id = 0; id < N; id++)
        cr_assert_eq(it_publish(prod, topic, id, 5000), IMI_OK, "%s", imi_error_message());
    /* Two groups: each gets every message. */
    it_wait_unique(&s1, N, 10000);
    it_wait_unique(&s2, N, 10000);
    imi_mq_sub_free(sub1);
    imi_mq_sub_free(sub2);
    cr_expect_eq(s1.unique, N, "group one got %ld of %d", s1.unique, N);
    cr_expect_eq(s2.unique, N, "group two got %ld of %d", s2.unique, N);
    it_seen_free(&s1);
    it_seen_free(&s2);
    imi_mq_free(prod);
    imi_mq_free(cons);
    imi_app_free(app);
}

/* Prefix "ITA" with topic "Bx…" and prefix "ITAB" with topic "x…" both name the stream
 * "ITABx…": the second must not take the first's stream for its own. */
Test(mq_nats_names, stream_of_the_name_with_other_subjects_is_an_error, .timeout = 60)
{
    char t1[64], t2[64], stream[96];
    snprintf(t1, sizeof t1, "Bx%s", run);
    snprintf(t2, sizeof t2, "x%s", run);
    snprintf(stream, sizeof stream, "ITABx%s", run);
    imi_app *app1 = js_app("ITA"), *app2 = js_app("ITAB");
    imi_mq *mq1, *mq2;
    cr_assert_eq(it_mq_open(app1, &mq1), IMI_OK, "%s", imi_error_message());
    cr_assert_eq(it_mq_open(app2, &mq2), IMI_OK, "%s", imi_error_message());
    cr_assert_eq(it_publish(mq1, t1, 1, 5000), IMI_OK, "%s", imi_error_message());
    int rc = it_publish(mq2, t2, 2, 5000);
    cr_expect_eq(rc, IMI_EEXISTS, "publish to %s: %s (%s), not IMI_EEXISTS", t2,
                 imi_err_name(rc), imi_error_message());
    cr_expect(strstr(imi_error_message(), stream) && strstr(imi_error_message(), t1),
              "the error names neither the stream nor its subjects: %s", imi_error_message());
    it_seen s;
    it_seen_init(&s, 10, NULL);
    const char *topics[] = { t2 };
    imi_mq_sub_opts o = { .group = "g", .topics = topics, .n_topics = 1 };
    imi_mq_sub *sub = NULL;
    rc = imi_mq_subscribe(mq2, NULL, &o, it_on_msg, &s, &sub);
    cr_expect_eq(rc, IMI_EEXISTS, "subscribe to %s: %s (%s), not IMI_EEXISTS", t2,
                 imi_err_name(rc), imi_error_message());
    if (sub)
        imi_mq_sub_free(sub);
    it_seen_free(&s);
    imi_mq_free(mq1);
    imi_mq_free(mq2);
    imi_app_free(app1);
    imi_app_free(app2);
}

Test(mq_nats_names, prefix_that_cannot_start_a_stream_name_is_refused)
{
    imi_app *app = js_app("a.b");
    imi_mq *mq;
    int rc = it_mq_open(app, &mq);
    cr_expect_eq(rc, IMI_ECONFIG, "%s: %s", imi_err_name(rc), imi_error_message());
    cr_expect(strstr(imi_error_message(), "stream_prefix"), "%s", imi_error_message());
    if (mq)
        imi_mq_free(mq);
    imi_app_free(app);
}

/* Topics and groups whose names fit keep the names earlier versions gave them ('.' as
 * "_d", '_' as "__"), so that an upgrade finds its streams and its groups' positions. */
Test(mq_nats_names, short_names_are_the_earlier_ones, .timeout = 60)
{
    char topic[64], group[64], stream[128], durable[128];
    snprintf(topic, sizeof topic, "%s.old_name", run);
    snprintf(group, sizeof group, "svc.%s_g", run);
    snprintf(stream, sizeof stream, "IMI_%s_dold__name", run);
    snprintf(durable, sizeof durable, "svc_d%s__g", run);
    imi_app *app = js_app("IMI_");
    imi_mq *mq;
    cr_assert_eq(it_mq_open(app, &mq), IMI_OK, "%s", imi_error_message());
    it_seen s;
    it_seen_init(&s, 4, topic);
    imi_mq_sub *sub = subscribe(mq, topic, group, &s);
    cr_assert_eq(it_publish(mq, topic, 1, 5000), IMI_OK, "%s", imi_error_message());
    cr_expect_eq(it_wait_unique(&s, 1, 10000), 1);
    imi_mq_sub_free(sub);
    it_seen_free(&s);
    imi_mq_free(mq);
    imi_app_free(app);

    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    jsStreamInfo *si = NULL;
    jsConsumerInfo *ci = NULL;
    jsErrCode jerr = 0;
    char url[256];
    snprintf(url, sizeof url, "%s", it_env("IMI_NATS_CLUSTER_URLS"));
    url[strcspn(url, ",")] = '\0';
    cr_assert_eq(natsConnection_ConnectTo(&nc, url), NATS_OK, "%s", nats_GetLastError(NULL));
    cr_assert_eq(natsConnection_JetStream(&js, nc, NULL), NATS_OK);
    cr_expect_eq(js_GetStreamInfo(&si, js, stream, NULL, &jerr), NATS_OK, "no stream %s",
                 stream);
    cr_expect_eq(js_GetConsumerInfo(&ci, js, stream, durable, NULL, &jerr), NATS_OK,
                 "no durable %s on %s", durable, stream);
    jsStreamInfo_Destroy(si);
    jsConsumerInfo_Destroy(ci);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
}
