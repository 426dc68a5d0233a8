/* kafka_mock: a Kafka cluster of N mock brokers (librdkafka's rdkafka_mock) in its own
 * process, for tests and benchmarks on a machine without Kafka.
 *
 *   kafka_mock [--brokers N] --bootstrap-file PATH [--control FIFO]
 *
 * Writes the cluster's bootstrap address ("127.0.0.1:p1,127.0.0.1:p2,...") to PATH once
 * the brokers listen, and runs until SIGTERM or SIGINT. With --control, reads commands,
 * one per line, from a FIFO it creates, so tests can inject faults:
 *   down ID | up ID              take broker ID (1..N) off the network / back
 *   rtt ID MS                    add MS of round-trip time to broker ID
 *   produce_errors COUNT         the next COUNT produce requests fail with a retriable error
 *   clear                        forget queued produce errors
 *   topic NAME PARTITIONS RF     create a topic with PARTITIONS partitions, RF replicas each
 *   leader TOPIC PARTITION ID    make broker ID the partition's leader (what Kafka's
 *                                controller does when a leader's broker goes away; the mock
 *                                keeps one log per partition, so no data moves)
 *   coordinator GROUP ID         make broker ID the coordinator of consumer group GROUP
 * Topics are created on first use with the mock's default of 4 partitions. Each mock
 * partition keeps at most ~5 MiB: older messages are dropped past that. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define PRODUCE_API 0

static rd_kafka_mock_cluster_t *cluster;
static const char *control_path;

static void command(char *line)
{
    int id = 0, ms = 0, n = 0, rf = 0;
    char name[256];
    line[strcspn(line, "\r\n")] = '\0';
    if (sscanf(line, "topic %255s %d %d", name, &n, &rf) == 3) {
        rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(cluster, name, n, rf);
        if (err) {
            fprintf(stderr, "kafka_mock: %s: %s\n", line, rd_kafka_err2str(err));
            return;
        }
    } else if (sscanf(line, "leader %255s %d %d", name, &n, &id) == 3) {
        rd_kafka_mock_partition_set_leader(cluster, name, n, id);
    } else if (sscanf(line, "coordinator %255s %d", name, &id) == 2) {
        rd_kafka_mock_coordinator_set(cluster, "group", name, id);
    } else if (sscanf(line, "down %d", &id) == 1)
        rd_kafka_mock_broker_set_down(cluster, id);
    else if (sscanf(line, "up %d", &id) == 1)
        rd_kafka_mock_broker_set_up(cluster, id);
    else if (sscanf(line, "rtt %d %d", &id, &ms) == 2)
        rd_kafka_mock_broker_set_rtt(cluster, id, ms);
    else if (sscanf(line, "produce_errors %d", &n) == 1 && n > 0) {
        rd_kafka_resp_err_t *errs = malloc((size_t)n * sizeof *errs);
        for (int i = 0; i < n && errs; i++)
            errs[i] = i % 2 ? RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS
                            : RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT;
        if (errs)
            rd_kafka_mock_push_request_errors_array(cluster, PRODUCE_API, (size_t)n, errs);
        free(errs);
    } else if (!strcmp(line, "clear"))
        rd_kafka_mock_clear_request_errors(cluster, PRODUCE_API);
    else if (*line) {
        fprintf(stderr, "kafka_mock: unknown command '%s'\n", line);
        return;
    }
    fprintf(stderr, "kafka_mock: %s\n", line);
}

static void *control_loop(void *arg)
{
    (void)arg;
    /* Opened read-write so that writers coming and going never give EOF. */
    FILE *f = fopen(control_path, "r+");
    if (!f) {
        fprintf(stderr, "kafka_mock: %s: %s\n", control_path, strerror(errno));
        return NULL;
    }
    char line[256];
    while (fgets(line, sizeof line, f))
        command(line);
    fclose(f);
    return NULL;
}

static int write_file(const char *path, const char *text)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f || fprintf(f, "%s\n", text) < 0 || fclose(f))
        return -1;
    return rename(tmp, path);
}

static void usage(void)
{
    fputs("usage: kafka_mock [--brokers N] --bootstrap-file PATH "
          "[--control FIFO]\n", stderr);
    exit(2);
}

int main(int argc, char **argv)
{
    int brokers = 3;
    const char *bootstrap_file = NULL;
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc)
            usage();
        if (!strcmp(argv[i], "--brokers"))
            brokers = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--bootstrap-file"))
            bootstrap_file = argv[++i];
        else if (!strcmp(argv[i], "--control"))
            control_path = argv[++i];
        else
            usage();
    }
    if (!bootstrap_file || brokers < 1)
        usage();

    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL); /* every thread inherits the mask */

    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "kafka_mock: %s\n", err);
        return 1;
    }
    cluster = rd_kafka_mock_cluster_new(rk, brokers);
    if (!cluster) {
        fprintf(stderr, "kafka_mock: cannot start the mock cluster\n");
        return 1;
    }
    pthread_t ctl;
    if (control_path) {
        unlink(control_path);
        if (mkfifo(control_path, 0600) || pthread_create(&ctl, NULL, control_loop, NULL)) {
            fprintf(stderr, "kafka_mock: %s: %s\n", control_path, strerror(errno));
            return 1;
        }
        pthread_detach(ctl);
    }
    const char *bootstraps = rd_kafka_mock_cluster_bootstraps(cluster);
    if (write_file(bootstrap_file, bootstraps)) {
        fprintf(stderr, "kafka_mock: %s: %s\n", bootstrap_file, strerror(errno));
        return 1;
    }
    fprintf(stderr, "kafka_mock: %d brokers at %s\n", brokers, bootstraps);
    int sig = 0;
    sigwait(&sigs, &sig);
    unlink(bootstrap_file);
    if (control_path)
        unlink(control_path);
    rd_kafka_mock_cluster_destroy(cluster);
    rd_kafka_destroy(rk);
    return 0;
}
