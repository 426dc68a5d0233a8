/* NATS as a 3-server cluster and behind TLS and authorization (tools/clusters/nats.sh):
 *  - JetStream, R3 stream: the stream's leader is killed (SIGKILL) mid-stream; publishing
 *    resumes once the other two elect a leader, the consumer loses nothing (duplicates
 *    are counted and printed), and the killed server rejoins when restarted;
 *  - core NATS: the server holding the subscriber is killed; both connections move to
 *    another server of the `url` list and messages flow again;
 *  - TLS with the test CA, a client certificate and user/password; token authorization;
 *    a wrong CA, server name, password or token is refused at open with IMI_ECONFIG and
 *    the reason.
 * Prints the measured recovery times. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <criterion/criterion.h>
#include <nats/nats.h>
#include "mq_it.h"

static char run[32];

static void setup(void)
{
    snprintf(run, sizeof run, "r%lld", (long long)(imi_now_real_ns() / 1000) % 100000000000LL);
}

static imi_app *cluster_app(bool jetstream)
{
    char keys[1024];
    snprintf(keys, sizeof keys, "url = %s\njetstream = %s\nreplicas = 3\ntimeout = 5s\n"
             "ack_wait = 2s\nreconnect_wait = 100ms\n", it_env("IMI_NATS_CLUSTER_URLS"),
             jetstream ? "true" : "false");
    return it_app(keys);
}

/* The server that leads stream `name` now ("n1".."n3"), asked with nats.c directly. */
static void stream_leader(const char *name, char *out, size_t cap, int *current_replicas)
{
    natsConnection *nc = NULL;
    natsOptions *o = NULL;
    jsCtx *js = NULL;
    jsStreamInfo *si = NULL;
    char urls[512];
    snprintf(urls, sizeof urls, "%s", it_env("IMI_NATS_CLUSTER_URLS"));
    const char *list[3];
    int n = 0;
    for (char *save = NULL, *u = strtok_r(urls, ",", &save); u && n < 3; u = strtok_r(NULL, ",", &save))
        list[n++] = u;
    cr_assert_eq(natsOptions_Create(&o), NATS_OK);
    cr_assert_eq(natsOptions_SetServers(o, list, n), NATS_OK);
    cr_assert_eq(natsConnection_Connect(&nc, o), NATS_OK, "%s", nats_GetLastError(NULL));
    cr_assert_eq(natsConnection_JetStream(&js, nc, NULL), NATS_OK);
    jsErrCode jerr = 0;
    natsStatus s = js_GetStreamInfo(&si, js, name, NULL, &jerr);
    cr_assert_eq(s, NATS_OK, "stream info %s: %s", name, nats_GetLastError(NULL));
    cr_assert(si->Cluster && si->Cluster->Leader, "stream %s has no leader", name);
    snprintf(out, cap, "%s", si->Cluster->Leader);
    *current_replicas = 0;
    for (int i = 0; i < si->Cluster->ReplicasLen; i++)
        *current_replicas += si->Cluster->Replicas[i]->Current && !si->Cluster->Replicas[i]->Offline;
    jsStreamInfo_Destroy(si);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    natsOptions_Destroy(o);
}

Test(mq_nats_cluster, jetstream_r3_leader_killed_mid_stream_loses_nothing, .init = setup,
     .timeout = 150)
{
    enum { N = 2000 };
    char topic[64], stream[96], leader[32], now_leader[32];
    snprintf(topic, sizeof topic, "ha-%s", run);
    snprintf(stream, sizeof stream, "IMI_%s", topic);
    imi_app *app = cluster_app(true);
    imi_mq *prod, *cons;
    cr_assert_eq(it_mq_open(app, &prod), IMI_OK, "%s", imi_error_message());
    cr_assert_eq(it_mq_open(app, &cons), IMI_OK, "%s", imi_error_message());
    it_seen s;
    it_seen_init(&s, N, topic);
    const char *topics[] = { topic };
    imi_mq_sub_opts o = { .group = "g", .topics = topics, .n_topics = 1 };
    imi_mq_sub *sub = NULL;
    cr_assert_eq(imi_mq_subscribe(cons, NULL, &o, it_on_msg, &s, &sub), IMI_OK, "%s",
                 imi_error_message());
    long retries = 0, first_after = -1, slowest = 0;
    for (long id = 0; id < N / 2; id++)
        cr_assert_eq(it_publish_retrying(prod, topic, id, 30000, &retries), IMI_OK, "%s",
                     imi_error_message());
    /* A follower restarted by an earlier test may still be catching up. */
    int current = 0;
    for (int i = 0; i < 300; i++) {
        stream_leader(stream, leader, sizeof leader, &current);
        if (current == 2)
            break;
        it_sleep_ms(100);
    }
    cr_assert_eq(current, 2, "30 s before the kill, %d followers are current", current);
    pthread_mutex_lock(&s.lock);
    s.since = N / 2;
    pthread_mutex_unlock(&s.lock);
    char cmd[64];
    snprintf(cmd, sizeof cmd, "kill %s", leader);
    int64_t killed = it_now_ms();
    it_ctl(cmd);
    for (long id = N / 2; id < N; id++) {
        int64_t t = it_now_ms();
        cr_assert_eq(it_publish_retrying(prod, topic, id, 30000, &retries), IMI_OK,
                     "publish %ld, %lld ms after the kill: %s", id,
                     (long long)(it_now_ms() - killed), imi_error_message());
        if (first_after < 0)
            first_after = (long)(it_now_ms() - killed);
        if (it_now_ms() - t > slowest)
            slowest = (long)(it_now_ms() - t);
    }
    long got = it_wait_unique(&s, N, 60000);
    long all_ms = (long)(it_now_ms() - killed);
    imi_mq_sub_free(sub);
    stream_leader(stream, now_leader, sizeof now_leader, &current);
    printf("mq nats cluster: R3 stream leader %s killed (new leader %s): first publish "
           "%ld ms after the kill, slowest publish %ld ms, %ld failed attempts (%s); consumer: "
           "first new message %lld ms after the kill, all %ld of %d after %ld ms, %ld "
           "duplicates\n", leader, now_leader, first_after, slowest, retries,
           retries ? imi_err_name(it_last_failure) : "-",
           (long long)(s.first_since_ms - killed), got, N, all_ms, s.dups);
    cr_expect_eq(got, N, "%ld of %d consumed", got, N);
    cr_expect_eq(s.foreign, 0);
    cr_expect_neq(strcmp(now_leader, leader), 0, "the killed server still leads");
    /* The killed server comes back and catches up: both followers current again. */
    int64_t restarted = it_now_ms();
    snprintf(cmd, sizeof cmd, "restart %s", leader);
    it_ctl(cmd);
    for (int i = 0; i < 300; i++) {
        stream_leader(stream, now_leader, sizeof now_leader, &current);
        if (current == 2)
            break;
        it_sleep_ms(100);
    }
    printf("mq nats cluster: %s restarted, stream R3 current again after %lld ms\n", leader,
           (long long)(it_now_ms() - restarted));
    cr_expect_eq(current, 2, "30 s after the restart, %d followers are current", current);
    it_seen_free(&s);
    imi_mq_free(prod);
    imi_mq_free(cons);
    imi_app_free(app);
}

/* The node whose monitoring lists a subscription on topic ("n1".."n3"), or "". */
static void node_of_subscriber(const char *topic, char *out, size_t cap)
{
    int mon = atoi(it_env("IMI_NATS_CLUSTER_MONITOR"));
    out[0] = '\0';
    for (int i = 0; i < 3 && !out[0]; i++) {
        char cmd[256];
        snprintf(cmd, sizeof cmd, "curl -sf 'http://127.0.0.1:%d/connz?subs=1' | grep -q '\"%s\"'",
                 mon + i, topic);
        if (system(cmd) == 0)
            snprintf(out, cap, "n%d", i + 1);
    }
}

Test(mq_nats_cluster, core_subscriber_moves_to_another_server, .init = setup, .timeout = 90)
{
    enum { N = 100 };
    char topic[64], node[8];
    snprintf(topic, sizeof topic, "core-%s", run);
    imi_app *app = cluster_app(false);
    imi_mq *prod, *cons;
    cr_assert_eq(it_mq_open(app, &prod), IMI_OK, "%s", imi_error_message());
    cr_assert_eq(it_mq_open(app, &cons), IMI_OK, "%s", imi_error_message());
    it_seen s;
    it_seen_init(&s, 3 * N, topic);
    const char *topics[] = { topic };
    imi_mq_sub_opts o = { .group = "g", .topics = topics, .n_topics = 1 };
    imi_mq_sub *sub = NULL;
    cr_assert_eq(imi_mq_subscribe(cons, NULL, &o, it_on_msg, &s, &sub), IMI_OK, "%s",
                 imi_error_message());
    long retries = 0;
    for (long id = 0; id < N; id++)
        cr_assert_eq(it_publish_retrying(prod, topic, id, 5000, &retries), IMI_OK);
    cr_assert_eq(it_wait_unique(&s, N, 5000), N, "before the kill: %ld of %d", it_unique(&s), N);
    node_of_subscriber(topic, node, sizeof node);
    cr_assert(node[0], "no server lists the subscription on %s", topic);
    char cmd[64];
    snprintf(cmd, sizeof cmd, "kill %s", node);
    int64_t killed = it_now_ms();
    it_ctl(cmd);
    /* Core NATS drops what nobody is subscribed to: repeat new messages until one makes
     * it through the subscriber's new server. */
    long id = N;
    while (it_unique(&s) == N && it_now_ms() - killed < 30000 && id < 2 * N) {
        it_publish_retrying(prod, topic, id++, 5000, &retries);
        it_sleep_ms(10);
    }
    long back_ms = (long)(it_now_ms() - killed);
    cr_assert_gt(it_unique(&s), N, "no message arrived within 30 s of killing %s", node);
    char moved[8];
    node_of_subscriber(topic, moved, sizeof moved);
    for (long j = 2 * N; j < 3 * N; j++)
        cr_assert_eq(it_publish_retrying(prod, topic, j, 5000, &retries), IMI_OK, "%s",
                     imi_error_message());
    long after = 0;
    int64_t end = it_now_ms() + 5000;
    for (;;) {
        pthread_mutex_lock(&s.lock);
        after = 0;
        for (long j = 2 * N; j < 3 * N; j++)
            after += s.count[j] > 0;
        pthread_mutex_unlock(&s.lock);
        if (after == N || it_now_ms() > end)
            break;
        it_sleep_ms(20);
    }
    imi_mq_sub_free(sub);
    printf("mq nats cluster: core subscriber's server %s killed, subscriber on %s: messages "
           "flow again after %ld ms (%ld sent meanwhile, at most once), then %ld of %d "
           "arrived\n", node, moved[0] ? moved : "?", back_ms, id - N, after, N);
    cr_expect(moved[0] && strcmp(moved, node), "the subscription is on '%s'", moved);
    cr_expect_eq(after, N, "after the move only %ld of %d arrived", after, N);
    snprintf(cmd, sizeof cmd, "restart %s", node);
    it_ctl(cmd);
    it_seen_free(&s);
    imi_mq_free(prod);
    imi_mq_free(cons);
    imi_app_free(app);
}

/* ---- TLS and authorization --------------------------------------------------------- */

/* Opens [mq] on the TLS server at url with `extra` keys; returns the open's code. */
static int open_tls_url(const char *url, const char *ca, const char *extra, imi_app **app,
                        imi_mq **mq)
{
    const char *d = it_env("IMI_NATS_TLS_DIR");
    char keys[2048];
    snprintf(keys, sizeof keys, "url = %s\nca_file = %s/%s\ncert_file = %s/client.pem\n"
             "key_file = %s/client.key\ntimeout = 3s\n%s\n", url, d, ca, d, d, extra);
    *app = it_app(keys);
    return it_mq_open(*app, mq);
}

static int open_tls(const char *ca, const char *extra, imi_app **app, imi_mq **mq)
{
    return open_tls_url(it_env("IMI_NATS_TLS_URL"), ca, extra, app, mq);
}

/* IMI_NATS_TLS_URL (tls://127.0.0.1:PORT) with its host replaced by host. */
static void tls_url_with_host(const char *host, char *out, size_t cap)
{
    const char *url = it_env("IMI_NATS_TLS_URL");
    const char *port = strrchr(url, ':');
    cr_assert(port, "IMI_NATS_TLS_URL has no port: %s", url);
    snprintf(out, cap, "tls://%s%s", host, port);
}

static void round_trip(imi_mq *mq)
{
    char topic[64];
    snprintf(topic, sizeof topic, "tls-%s", run);
    it_seen s;
    it_seen_init(&s, 4, topic);
    const char *topics[] = { topic };
    imi_mq_sub_opts o = { .group = "g", .topics = topics, .n_topics = 1 };
    imi_mq_sub *sub = NULL;
    cr_assert_eq(imi_mq_subscribe(mq, NULL, &o, it_on_msg, &s, &sub), IMI_OK, "%s",
                 imi_error_message());
    cr_assert_eq(it_publish(mq, topic, 3, 3000), IMI_OK, "%s", imi_error_message());
    cr_expect_eq(it_wait_unique(&s, 1, 5000), 1, "the message did not come back");
    imi_mq_sub_free(sub);
    it_seen_free(&s);
}

static void expect_refused(int rc, const char *what, const char *reason)
{
    cr_expect_eq(rc, IMI_ECONFIG, "%s: %s (%s), not IMI_ECONFIG", what, imi_err_name(rc),
                 imi_error_message());
    cr_expect(strstr(imi_error_message(), reason), "%s: the error does not say '%s': %s", what,
              reason, imi_error_message());
}

TestSuite(mq_nats_secure, .init = setup);

Test(mq_nats_secure, tls_with_the_ca_client_certificate_and_password)
{
    imi_app *app;
    imi_mq *mq;
    int rc = open_tls("ca.pem", "user = imi\npassword = imi-secret\ntls_hostname = localhost",
                      &app, &mq);
    cr_assert_eq(rc, IMI_OK, "%s", imi_error_message());
    round_trip(mq);
    imi_mq_free(mq);
    imi_app_free(app);
}

Test(mq_nats_secure, tls_with_a_wrong_ca_is_refused)
{
    imi_app *app;
    imi_mq *mq;
    expect_refused(open_tls("other-ca.pem", "user = imi\npassword = imi-secret\n"
                            "tls_hostname = localhost", &app, &mq),
                   "wrong CA", "unable to get local issuer certificate");
    if (mq)
        imi_mq_free(mq);
    imi_app_free(app);
}

Test(mq_nats_secure, tls_with_a_wrong_server_name_is_refused)
{
    imi_app *app;
    imi_mq *mq;
    expect_refused(open_tls("ca.pem", "user = imi\npassword = imi-secret\n"
                            "tls_hostname = wrong.example", &app, &mq),
                   "wrong server name", "hostname mismatch");
    if (mq)
        imi_mq_free(mq);
    imi_app_free(app);
}

/* Without tls_hostname each server's certificate must carry the host its URL names (nats.c
 * built with NATS_BUILD_TLS_FORCE_HOST_VERIFY, its default; a build without it would take
 * any certificate the CA signed, and this test fails). */
Test(mq_nats_secure, tls_checks_the_url_host_name_without_tls_hostname)
{
    imi_app *app;
    imi_mq *mq;
    char url[256];
    tls_url_with_host("localhost", url, sizeof url);
    int rc = open_tls_url(url, "ca.pem", "user = imi\npassword = imi-secret", &app, &mq);
    cr_assert_eq(rc, IMI_OK, "%s", imi_error_message());
    round_trip(mq);
    imi_mq_free(mq);
    imi_app_free(app);
    /* "127.1" reaches the same server but is no name the certificate carries */
    tls_url_with_host("127.1", url, sizeof url);
    expect_refused(open_tls_url(url, "ca.pem", "user = imi\npassword = imi-secret", &app, &mq),
                   "a host name the certificate does not carry", "hostname mismatch");
    if (mq)
        imi_mq_free(mq);
    imi_app_free(app);
}

Test(mq_nats_secure, tls_with_a_wrong_password_is_refused)
{
    imi_app *app;
    imi_mq *mq;
    expect_refused(open_tls("ca.pem", "user = imi\npassword = not-it\ntls_hostname = localhost",
                            &app, &mq),
                   "wrong password", "Authorization");
    if (mq)
        imi_mq_free(mq);
    imi_app_free(app);
}

Test(mq_nats_secure, token_right_and_wrong)
{
    char keys[512];
    snprintf(keys, sizeof keys, "url = %s\ntoken = imi-token\ntimeout = 3s\n",
             it_env("IMI_NATS_TOKEN_URL"));
    imi_app *app = it_app(keys);
    imi_mq *mq;
    cr_assert_eq(it_mq_open(app, &mq), IMI_OK, "%s", imi_error_message());
    round_trip(mq);
    imi_mq_free(mq);
    imi_app_free(app);
    snprintf(keys, sizeof keys, "url = %s\ntoken = wrong\ntimeout = 3s\n",
             it_env("IMI_NATS_TOKEN_URL"));
    app = it_app(keys);
    expect_refused(it_mq_open(app, &mq), "wrong token", "Authorization");
    if (mq)
        imi_mq_free(mq);
    imi_app_free(app);
}

/* Combinations nats.c would take and then use half of are refused before connecting. */
Test(mq_nats_secure, half_settings_are_refused_at_open)
{
    static const struct { const char *keys, *reason; } cases[] = {
        { "cert_file = /etc/hostname", "cert_file and key_file go together" },
        { "user = \npassword = p", "password without user" },
        { "user = u\ntoken = t", "token and user exclude each other" },
        { "tls_hostname = localhost", "tls_hostname without TLS" },
        { "replicas = 0", "replicas must be 1 to 5" },
        { "url = ,", "no server in the list" },
        { "ca_file = /nonexistent/ca.pem", "ca_file" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char keys[512];
        bool own_url = !strncmp(cases[i].keys, "url", 3);
        snprintf(keys, sizeof keys, "%s%s\ntimeout = 2s\n%s", own_url ? "" : "url = ",
                 own_url ? "" : it_env("IMI_NATS_TOKEN_URL"), cases[i].keys);
        imi_app *app = it_app(keys);
        imi_mq *mq;
        int rc = it_mq_open(app, &mq);
        cr_expect_eq(rc, IMI_ECONFIG, "%s: %s (%s)", cases[i].keys, imi_err_name(rc),
                     imi_error_message());
        cr_expect(strstr(imi_error_message(), cases[i].reason), "%s: %s", cases[i].keys,
                  imi_error_message());
        if (mq)
            imi_mq_free(mq);
        imi_app_free(app);
    }
}
