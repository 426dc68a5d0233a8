/* Every function of the public headers called with NULL (or zero) for each argument,
 * each in a child process of its own: none may crash. A stranger's first test of a C
 * library, and the one a fuzzer of the API starts from. The list is checked against
 * the library's exports by lib_exports_names.sh: a new public function must be added.
 *   unit_null_sweep             every call; exit 1 naming the calls that crashed
 *   unit_null_sweep N           call N only (what the children run) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "iminfra/iminfra.h"

/* NULL where the declarations promise non-NULL is the point here. */
#pragma GCC diagnostic ignored "-Wnonnull"
#pragma GCC diagnostic ignored "-Wformat"
#pragma GCC diagnostic ignored "-Wformat-security"
#pragma GCC diagnostic ignored "-Wformat-extra-args"
#pragma GCC diagnostic ignored "-Wunused-result"

static void c0(void) { imi_app_open(0, 0); }
static void c1(void) { imi_app_open_config(0, 0); }
static void c2(void) { imi_app_free(0); }
static void c3(void) { imi_app_config(0); }
static void c4(void) { imi_app_logger(0); }
static void c5(void) { imi_app_service(0); }
static void c6(void) { imi_default_config_path(); }
static void c7(void) { imi_version(); }
static void c8(void) { imi_breaker_policy_default(); }
static void c9(void) { imi_breaker_set_open(0, 0); }
static void c10(void) { imi_breaker_set_new(0, 0, 0); }
static void c11(void) { imi_breaker_set_free(0); }
static void c12(void) { imi_breaker_set_on_change(0, 0, 0); }
static void c13(void) { imi_breaker_set_override(0, 0, 0, 0); }
static void c14(void) { imi_breaker_get(0, 0); }
static void c15(void) { imi_breaker_name(0); }
static void c16(void) { imi_breaker_get_state(0); }
static void c17(void) { imi_breaker_get_policy(0, 0); }
static void c18(void) { imi_breaker_state_name(0); }
static void c19(void) { imi_breaker_enter(0, 0); }
static void c20(void) { imi_breaker_leave(0, 0, 0); }
static void c21(void) { imi_breaker_call(0, 0, 0, 0); }
static void c22(void) { imi_breaker_get_stats(0, 0); }
static void c23(void) { imi_breaker_call_retry(0, 0, 0, 0, 0, 0); }
static void c24(void) { imi_buf_free(0); }
static void c25(void) { imi_buf_set(0, 0, 0); }
static void c26(void) { imi_buf_append(0, 0, 0); }
static void c27(void) { imi_cache_open(0, 0, 0); }
static void c28(void) { imi_cache_close(0); }
static void c29(void) { imi_cache_free(0); }
static void c30(void) { imi_cache_caps(0); }
static void c31(void) { imi_cache_driver_name(0); }
static void c32(void) { imi_cache_ping(0, 0); }
static void c33(void) { imi_cache_get(0, 0, 0, 0); }
static void c34(void) { imi_cache_set(0, 0, 0, 0, 0, 0); }
static void c35(void) { imi_cache_setnx(0, 0, 0, 0, 0, 0); }
static void c36(void) { imi_cache_del(0, 0, 0); }
static void c37(void) { imi_cache_exists(0, 0, 0); }
static void c38(void) { imi_cache_expire(0, 0, 0, 0); }
static void c39(void) { imi_cache_ttl(0, 0, 0, 0); }
static void c40(void) { imi_cache_incr(0, 0, 0, 0, 0); }
static void c41(void) { imi_cache_mget(0, 0, 0, 0, 0, 0); }
static void c42(void) { imi_cache_mset(0, 0, 0, 0, 0, 0); }
static void c43(void) { imi_cache_hset(0, 0, 0, 0, 0, 0); }
static void c44(void) { imi_cache_hget(0, 0, 0, 0, 0); }
static void c45(void) { imi_cache_hdel(0, 0, 0, 0); }
static void c46(void) { imi_cache_hgetall(0, 0, 0, 0, 0); }
static void c47(void) { imi_cache_sadd(0, 0, 0, 0, 0); }
static void c48(void) { imi_cache_srem(0, 0, 0, 0, 0); }
static void c49(void) { imi_cache_sismember(0, 0, 0, 0, 0); }
static void c50(void) { imi_cache_smembers(0, 0, 0, 0, 0); }
static void c51(void) { imi_cache_zadd(0, 0, 0, 0, 0, 0); }
static void c52(void) { imi_cache_zrem(0, 0, 0, 0, 0); }
static void c53(void) { imi_cache_zscore(0, 0, 0, 0, 0, 0); }
static void c54(void) { imi_cache_zrange(0, 0, 0, 0, 0, 0, 0); }
static void c55(void) { imi_cache_lock(0, 0, 0, 0, 0); }
static void c56(void) { imi_cache_unlock(0, 0, 0, 0); }
static void c57(void) { imi_cache_lock_renew(0, 0, 0, 0, 0); }
static void c58(void) { imi_cache_take(0, 0, 0, 0, 0, 0, 0); }
static void c59(void) { imi_cache_set_str(0, 0, 0, 0, 0); }
static void c60(void) { imi_cache_get_str(0, 0, 0, 0); }
static void c61(void) { imi_logger_open(0, 0); }
static void c62(void) { imi_logger_named(0, 0); }
static void c63(void) { imi_logger_free(0); }
static void c64(void) { imi_logger_set_level(0, 0); }
static void c65(void) { imi_logger_level(0); }
static void c66(void) { imi_log_enabled(0, 0); }
static void c67(void) { imi_log(0, 0, 0, 0, 0, 0); }
static void c68(void) { imi_logf(0, 0, 0, 0); }
static void c69(void) { imi_log_level_parse(0); }
static void c70(void) { imi_log_level_name(0); }
static void c71(void) { imi_config_load(0, 0); }
static void c72(void) { imi_config_parse(0, 0, 0, 0); }
static void c73(void) { imi_config_free(0); }
static void c74(void) { imi_config_copy(0); }
static void c75(void) { imi_config_set(0, 0, 0, 0); }
static void c76(void) { imi_config_name(0); }
static void c77(void) { imi_config_dir(0); }
static void c78(void) { imi_config_get(0, 0, 0, 0); }
static void c79(void) { imi_config_section(0, 0, 0); }
static void c80(void) { imi_config_key(0, 0, 0, 0, 0); }
static void c81(void) { imi_config_has_section(0, 0); }
static void c82(void) { imi_config_section_line(0, 0); }
static void c83(void) { imi_config_get_int(0, 0, 0, 0); }
static void c84(void) { imi_config_get_bool(0, 0, 0, 0); }
static void c85(void) { imi_config_get_double(0, 0, 0, 0); }
static void c86(void) { imi_config_get_duration_ms(0, 0, 0, 0); }
static void c87(void) { imi_config_get_size(0, 0, 0, 0); }
static void c88(void) { imi_config_check_keys(0, 0, 0, 0); }
static void c89(void) { imi_config_mark_secret(0, 0, 0); }
static void c90(void) { imi_config_dump(0, (FILE *)0); }
static void c91(void) { imi_parse_int(0, 0); }
static void c92(void) { imi_parse_bool(0, 0); }
static void c93(void) { imi_parse_double(0, 0); }
static void c94(void) { imi_parse_duration_ms(0, 0); }
static void c95(void) { imi_parse_size(0, 0); }
static void c96(void) { imi_coord_open(0, 0, 0); }
static void c97(void) { imi_coord_close(0); }
static void c98(void) { imi_coord_free(0); }
static void c99(void) { imi_coord_caps(0); }
static void c100(void) { imi_coord_driver_name(0); }
static void c101(void) { imi_coord_ping(0, 0); }
static void c102(void) { imi_coord_get(0, 0, 0, 0, 0); }
static void c103(void) { imi_coord_put(0, 0, 0, 0, 0, 0); }
static void c104(void) { imi_coord_put_lease(0, 0, 0, 0, 0, 0, 0); }
static void c105(void) { imi_coord_del(0, 0, 0, 0); }
static void c106(void) { imi_coord_del_prefix(0, 0, 0, 0); }
static void c107(void) { imi_coord_cas(0, 0, 0, 0, 0, 0, 0); }
static void c108(void) { imi_coord_cas_del(0, 0, 0, 0, 0); }
static void c109(void) { imi_coord_list(0, 0, 0, 0, 0, 0); }
static void c110(void) { imi_coord_watch_start(0, 0, 0, 0, 0, 0, 0, 0); }
static void c111(void) { imi_coord_watch_cancel(0); }
static void c112(void) { imi_json_decode(0, 0, 0, 0, 0, 0); }
static void c113(void) { imi_coord_get_json(0, 0, 0, 0, 0, 0, 0); }
static void c114(void) { imi_coord_watch_json(0, 0, 0, 0, 0, 0, 0, 0, 0); }
static void c115(void) { imi_coord_lease_grant(0, 0, 0, 0, 0); }
static void c116(void) { imi_coord_lease_keepalive(0, 0, 0, 0); }
static void c117(void) { imi_coord_lease_revoke(0, 0, 0); }
static void c118(void) { imi_coord_lease_keep(0, 0, 0, 0, 0); }
static void c119(void) { imi_coord_lock_try(0, 0, 0, 0, 0, 0); }
static void c120(void) { imi_coord_lock_acquire(0, 0, 0, 0, 0, 0); }
static void c121(void) { imi_coord_lock_renew(0, 0); }
static void c122(void) { imi_coord_lock_held(0, 0); }
static void c123(void) { imi_coord_lock_on_lost(0, 0, 0); }
static void c124(void) { imi_coord_unlock(0, 0); }
static void c125(void) { imi_coord_register(0, 0, 0, 0, 0, 0, 0); }
static void c126(void) { imi_coord_registration_instance(0); }
static void c127(void) { imi_coord_registration_lease(0); }
static void c128(void) { imi_coord_deregister(0, 0); }
static void c129(void) { imi_coord_discover(0, 0, 0, 0, 0); }
static void c130(void) { imi_coord_service_watch(0, 0, 0, 0, 0, 0); }
static void c131(void) { imi_coord_resolve(0, 0, 0, 0); }
static void c132(void) { imi_coord_instance_id_acquire(0, 0, 0, 0, 0, 0); }
static void c133(void) { imi_coord_instance_id_value(0); }
static void c134(void) { imi_coord_instance_id_held(0, 0); }
static void c135(void) { imi_coord_instance_id_on_lost(0, 0, 0); }
static void c136(void) { imi_coord_instance_id_release(0, 0); }
static void c137(void) { imi_ctx_free(imi_ctx_new(0)); /* a root ctx: freed */ }
static void c138(void) { imi_ctx_free(imi_ctx_child(0, 0)); /* a root ctx: freed */ }
static void c139(void) { imi_ctx_free(0); }
static void c140(void) { imi_ctx_set_deadline_ns(0, 0); }
static void c141(void) { imi_ctx_deadline_ns(0); }
static void c142(void) { imi_ctx_cancel(0); }
static void c143(void) { imi_ctx_canceled(0); }
static void c144(void) { imi_ctx_set_trace_id(0, 0); }
static void c145(void) { imi_ctx_new_trace_id(0); }
static void c146(void) { imi_ctx_trace_id(0); }
static void c147(void) { imi_ctx_set_span_id(0, 0); }
static void c148(void) { imi_ctx_new_span_id(0); }
static void c149(void) { imi_ctx_span_id(0); }
static void c150(void) { imi_ctx_err(0); }
static void c151(void) { imi_ctx_remaining_ms(0, 0); }
static void c152(void) { imi_now_mono_ns(); }
static void c153(void) { imi_now_real_ns(); }
static void c154(void) { imi_ctx_set_logger(0, 0, 0, 0); }
static void c155(void) { imi_ctx_logger(0); }
static void c156(void) { imi_ctx_log_fields(0, 0); }
static void c157(void) { imi_ctx_log(0, 0, 0, 0, 0); }
static void c158(void) { imi_ctx_logf(0, 0, 0); }
static void c159(void) { imi_db_open(0, 0, 0); }
static void c160(void) { imi_db_close(0); }
static void c161(void) { imi_db_free(0); }
static void c162(void) { imi_db_caps(0); }
static void c163(void) { imi_db_driver_name(0); }
static void c164(void) { imi_db_dialect(0); }
static void c165(void) { imi_db_reader_count(0); }
static void c166(void) { imi_db_get_stats(0, 0); }
static void c167(void) { imi_db_ping(0, 0); }
static void c168(void) { imi_db_exec(0, 0, 0, 0, 0, 0); }
static void c169(void) { imi_db_query(0, 0, 0, 0, 0, 0); }
static void c170(void) { imi_db_query_writer(0, 0, 0, 0, 0, 0); }
static void c171(void) { imi_db_rows_next(0, 0); }
static void c172(void) { imi_db_rows_columns(0); }
static void c173(void) { imi_db_rows_column_name(0, 0); }
static void c174(void) { imi_db_rows_type(0, 0); }
static void c175(void) { imi_db_rows_is_null(0, 0); }
static void c176(void) { imi_db_rows_int(0, 0, 0); }
static void c177(void) { imi_db_rows_double(0, 0, 0); }
static void c178(void) { imi_db_rows_bool(0, 0, 0); }
static void c179(void) { imi_db_rows_text(0, 0, 0, 0); }
static void c180(void) { imi_db_rows_blob(0, 0, 0, 0); }
static void c181(void) { imi_db_rows_free(0); }
static void c182(void) { imi_db_begin(0, 0, 0); }
static void c183(void) { imi_db_tx_exec(0, 0, 0, 0, 0, 0); }
static void c184(void) { imi_db_tx_query(0, 0, 0, 0, 0, 0); }
static void c185(void) { imi_db_commit(0, 0); }
static void c186(void) { imi_db_rollback(0, 0); }
static void c187(void) { imi_db_control(0, 0, 0, 0); }
static void c188(void) { imi_db_type_name(0); }
static void c189(void) { imi_strerror(0); }
static void c190(void) { imi_err_name(0); }
static void c191(void) { imi_error_code(); }
static void c192(void) { imi_error_message(); }
static void c193(void) { imi_error_native(); }
static void c194(void) { imi_error_clear(); }
static void c195(void) { imi_error_set(0, 0, 0); }
static void c196(void) { imi_metrics_write(0, (FILE *)0); }
static void c197(void) { imi_metrics_list((FILE *)0, 0); }
static void c198(void) { imi_metrics_port(0); }
static void c199(void) { imi_mq_open(0, 0, 0); }
static void c200(void) { imi_mq_close(0); }
static void c201(void) { imi_mq_free(0); }
static void c202(void) { imi_mq_caps(0); }
static void c203(void) { imi_mq_driver_name(0); }
static void c204(void) { imi_mq_ping(0, 0); }
static void c205(void) { imi_mq_publish(0, 0, 0); }
static void c206(void) { imi_mq_publish_async(0, 0, 0, 0, 0); }
static void c207(void) { imi_mq_flush(0, 0); }
static void c208(void) { imi_mq_subscribe(0, 0, 0, 0, 0, 0); }
static void c209(void) { imi_mq_sub_close(0); }
static void c210(void) { imi_mq_sub_free(0); }
static void c211(void) { imi_mq_get_stats(0, 0); }
static void c212(void) { imi_mq_sub_get_stats(0, 0); }
static void c213(void) { imi_mq_msg_str(0, 0, 0); }
static void c214(void) { imi_mq_publish_str(0, 0, 0, 0, 0); }
static void c215(void) { imi_ratelimit_open(0, 0, 0); }
static void c216(void) { imi_ratelimit_free(0); }
static void c217(void) { imi_ratelimit_set_rule(0, 0, 0, 0); }
static void c218(void) { imi_ratelimit_get(0, 0, 0); }
static void c219(void) { imi_ratelimit_allow_n(0, 0, 0, 0); }
static void c220(void) { imi_ratelimit_wait(0, 0, 0); }
static void c221(void) { imi_ratelimit_check(0, 0, 0, 0, 0, 0); }
static void c222(void) { imi_ratelimit_rule(0, 0, 0); }
static void c223(void) { imi_ratelimit_backend_errors(0); }
static void c224(void) { imi_reload_start(0, 0, 0, 0, 0, 0); }
static void c225(void) { imi_reload_stop(0); }
static void c226(void) { imi_reload_counts(0, 0, 0); }
static void c227(void) { imi_retry_policy_default(); }
static void c228(void) { imi_retry_open(0, 0, 0); }
static void c229(void) { imi_retry_new(0, 0, 0, 0, 0); }
static void c230(void) { imi_retry_free(0); }
static void c231(void) { imi_retry_get_policy(0); }
static void c232(void) { imi_retry_run(0, 0, 0, 0, 0); }
static void c233(void) { imi_retry_retryable(0, 0); }
static void c234(void) { imi_retry_delay_ms(0, 0); }
static void c235(void) { imi_uid_options_default(); }
static void c236(void) { imi_uid_open(0, 0, 0); }
static void c237(void) { imi_uid_open_with(0, 0, 0, 0); }
static void c238(void) { imi_uid_new(0, 0, 0); }
static void c239(void) { imi_uid_new_with_source(0, 0, 0); }
static void c240(void) { imi_uid_free(0); }
static void c241(void) { imi_uid_next(0, 0); }
static void c242(void) { imi_uid_worker(0); }
static void c243(void) { imi_uid_worker_lost(0); }
static void c244(void) { imi_uid_parse(0, 0, 0); }
static void c245(void) { imi_uid_parse_epoch(0, 0, 0); }
static void c246(void) { imi_uid_epoch(0); }
static void c247(void) { imi_uuid_v4(); }
static void c248(void) { imi_uuid_v7(); }
static void c249(void) { imi_uuid_format(0, 0); }
static void c250(void) { imi_uuid_parse(0, 0); }
static void c251(void) { imi_uuid_version(0); }
static void c252(void) { imi_uuid_v7_unix_ms(0); }

static const struct { const char *name; void (*call)(void); } calls[] = {
    { "imi_app_open", c0 },
    { "imi_app_open_config", c1 },
    { "imi_app_free", c2 },
    { "imi_app_config", c3 },
    { "imi_app_logger", c4 },
    { "imi_app_service", c5 },
    { "imi_default_config_path", c6 },
    { "imi_version", c7 },
    { "imi_breaker_policy_default", c8 },
    { "imi_breaker_set_open", c9 },
    { "imi_breaker_set_new", c10 },
    { "imi_breaker_set_free", c11 },
    { "imi_breaker_set_on_change", c12 },
    { "imi_breaker_set_override", c13 },
    { "imi_breaker_get", c14 },
    { "imi_breaker_name", c15 },
    { "imi_breaker_get_state", c16 },
    { "imi_breaker_get_policy", c17 },
    { "imi_breaker_state_name", c18 },
    { "imi_breaker_enter", c19 },
    { "imi_breaker_leave", c20 },
    { "imi_breaker_call", c21 },
    { "imi_breaker_get_stats", c22 },
    { "imi_breaker_call_retry", c23 },
    { "imi_buf_free", c24 },
    { "imi_buf_set", c25 },
    { "imi_buf_append", c26 },
    { "imi_cache_open", c27 },
    { "imi_cache_close", c28 },
    { "imi_cache_free", c29 },
    { "imi_cache_caps", c30 },
    { "imi_cache_driver_name", c31 },
    { "imi_cache_ping", c32 },
    { "imi_cache_get", c33 },
    { "imi_cache_set", c34 },
    { "imi_cache_setnx", c35 },
    { "imi_cache_del", c36 },
    { "imi_cache_exists", c37 },
    { "imi_cache_expire", c38 },
    { "imi_cache_ttl", c39 },
    { "imi_cache_incr", c40 },
    { "imi_cache_mget", c41 },
    { "imi_cache_mset", c42 },
    { "imi_cache_hset", c43 },
    { "imi_cache_hget", c44 },
    { "imi_cache_hdel", c45 },
    { "imi_cache_hgetall", c46 },
    { "imi_cache_sadd", c47 },
    { "imi_cache_srem", c48 },
    { "imi_cache_sismember", c49 },
    { "imi_cache_smembers", c50 },
    { "imi_cache_zadd", c51 },
    { "imi_cache_zrem", c52 },
    { "imi_cache_zscore", c53 },
    { "imi_cache_zrange", c54 },
    { "imi_cache_lock", c55 },
    { "imi_cache_unlock", c56 },
    { "imi_cache_lock_renew", c57 },
    { "imi_cache_take", c58 },
    { "imi_cache_set_str", c59 },
    { "imi_cache_get_str", c60 },
    { "imi_logger_open", c61 },
    { "imi_logger_named", c62 },
    { "imi_logger_free", c63 },
    { "imi_logger_set_level", c64 },
    { "imi_logger_level", c65 },
    { "imi_log_enabled", c66 },
    { "imi_log", c67 },
    { "imi_logf", c68 },
    { "imi_log_level_parse", c69 },
    { "imi_log_level_name", c70 },
    { "imi_config_load", c71 },
    { "imi_config_parse", c72 },
    { "imi_config_free", c73 },
    { "imi_config_copy", c74 },
    { "imi_config_set", c75 },
    { "imi_config_name", c76 },
    { "imi_config_dir", c77 },
    { "imi_config_get", c78 },
    { "imi_config_section", c79 },
    { "imi_config_key", c80 },
    { "imi_config_has_section", c81 },
    { "imi_config_section_line", c82 },
    { "imi_config_get_int", c83 },
    { "imi_config_get_bool", c84 },
    { "imi_config_get_double", c85 },
    { "imi_config_get_duration_ms", c86 },
    { "imi_config_get_size", c87 },
    { "imi_config_check_keys", c88 },
    { "imi_config_mark_secret", c89 },
    { "imi_config_dump", c90 },
    { "imi_parse_int", c91 },
    { "imi_parse_bool", c92 },
    { "imi_parse_double", c93 },
    { "imi_parse_duration_ms", c94 },
    { "imi_parse_size", c95 },
    { "imi_coord_open", c96 },
    { "imi_coord_close", c97 },
    { "imi_coord_free", c98 },
    { "imi_coord_caps", c99 },
    { "imi_coord_driver_name", c100 },
    { "imi_coord_ping", c101 },
    { "imi_coord_get", c102 },
    { "imi_coord_put", c103 },
    { "imi_coord_put_lease", c104 },
    { "imi_coord_del", c105 },
    { "imi_coord_del_prefix", c106 },
    { "imi_coord_cas", c107 },
    { "imi_coord_cas_del", c108 },
    { "imi_coord_list", c109 },
    { "imi_coord_watch_start", c110 },
    { "imi_coord_watch_cancel", c111 },
    { "imi_json_decode", c112 },
    { "imi_coord_get_json", c113 },
    { "imi_coord_watch_json", c114 },
    { "imi_coord_lease_grant", c115 },
    { "imi_coord_lease_keepalive", c116 },
    { "imi_coord_lease_revoke", c117 },
    { "imi_coord_lease_keep", c118 },
    { "imi_coord_lock_try", c119 },
    { "imi_coord_lock_acquire", c120 },
    { "imi_coord_lock_renew", c121 },
    { "imi_coord_lock_held", c122 },
    { "imi_coord_lock_on_lost", c123 },
    { "imi_coord_unlock", c124 },
    { "imi_coord_register", c125 },
    { "imi_coord_registration_instance", c126 },
    { "imi_coord_registration_lease", c127 },
    { "imi_coord_deregister", c128 },
    { "imi_coord_discover", c129 },
    { "imi_coord_service_watch", c130 },
    { "imi_coord_resolve", c131 },
    { "imi_coord_instance_id_acquire", c132 },
    { "imi_coord_instance_id_value", c133 },
    { "imi_coord_instance_id_held", c134 },
    { "imi_coord_instance_id_on_lost", c135 },
    { "imi_coord_instance_id_release", c136 },
    { "imi_ctx_new", c137 },
    { "imi_ctx_child", c138 },
    { "imi_ctx_free", c139 },
    { "imi_ctx_set_deadline_ns", c140 },
    { "imi_ctx_deadline_ns", c141 },
    { "imi_ctx_cancel", c142 },
    { "imi_ctx_canceled", c143 },
    { "imi_ctx_set_trace_id", c144 },
    { "imi_ctx_new_trace_id", c145 },
    { "imi_ctx_trace_id", c146 },
    { "imi_ctx_set_span_id", c147 },
    { "imi_ctx_new_span_id", c148 },
    { "imi_ctx_span_id", c149 },
    { "imi_ctx_err", c150 },
    { "imi_ctx_remaining_ms", c151 },
    { "imi_now_mono_ns", c152 },
    { "imi_now_real_ns", c153 },
    { "imi_ctx_set_logger", c154 },
    { "imi_ctx_logger", c155 },
    { "imi_ctx_log_fields", c156 },
    { "imi_ctx_log", c157 },
    { "imi_ctx_logf", c158 },
    { "imi_db_open", c159 },
    { "imi_db_close", c160 },
    { "imi_db_free", c161 },
    { "imi_db_caps", c162 },
    { "imi_db_driver_name", c163 },
    { "imi_db_dialect", c164 },
    { "imi_db_reader_count", c165 },
    { "imi_db_get_stats", c166 },
    { "imi_db_ping", c167 },
    { "imi_db_exec", c168 },
    { "imi_db_query", c169 },
    { "imi_db_query_writer", c170 },
    { "imi_db_rows_next", c171 },
    { "imi_db_rows_columns", c172 },
    { "imi_db_rows_column_name", c173 },
    { "imi_db_rows_type", c174 },
    { "imi_db_rows_is_null", c175 },
    { "imi_db_rows_int", c176 },
    { "imi_db_rows_double", c177 },
    { "imi_db_rows_bool", c178 },
    { "imi_db_rows_text", c179 },
    { "imi_db_rows_blob", c180 },
    { "imi_db_rows_free", c181 },
    { "imi_db_begin", c182 },
    { "imi_db_tx_exec", c183 },
    { "imi_db_tx_query", c184 },
    { "imi_db_commit", c185 },
    { "imi_db_rollback", c186 },
    { "imi_db_control", c187 },
    { "imi_db_type_name", c188 },
    { "imi_strerror", c189 },
    { "imi_err_name", c190 },
    { "imi_error_code", c191 },
    { "imi_error_message", c192 },
    { "imi_error_native", c193 },
    { "imi_error_clear", c194 },
    { "imi_error_set", c195 },
    { "imi_metrics_write", c196 },
    { "imi_metrics_list", c197 },
    { "imi_metrics_port", c198 },
    { "imi_mq_open", c199 },
    { "imi_mq_close", c200 },
    { "imi_mq_free", c201 },
    { "imi_mq_caps", c202 },
    { "imi_mq_driver_name", c203 },
    { "imi_mq_ping", c204 },
    { "imi_mq_publish", c205 },
    { "imi_mq_publish_async", c206 },
    { "imi_mq_flush", c207 },
    { "imi_mq_subscribe", c208 },
    { "imi_mq_sub_close", c209 },
    { "imi_mq_sub_free", c210 },
    { "imi_mq_get_stats", c211 },
    { "imi_mq_sub_get_stats", c212 },
    { "imi_mq_msg_str", c213 },
    { "imi_mq_publish_str", c214 },
    { "imi_ratelimit_open", c215 },
    { "imi_ratelimit_free", c216 },
    { "imi_ratelimit_set_rule", c217 },
    { "imi_ratelimit_get", c218 },
    { "imi_ratelimit_allow_n", c219 },
    { "imi_ratelimit_wait", c220 },
    { "imi_ratelimit_check", c221 },
    { "imi_ratelimit_rule", c222 },
    { "imi_ratelimit_backend_errors", c223 },
    { "imi_reload_start", c224 },
    { "imi_reload_stop", c225 },
    { "imi_reload_counts", c226 },
    { "imi_retry_policy_default", c227 },
    { "imi_retry_open", c228 },
    { "imi_retry_new", c229 },
    { "imi_retry_free", c230 },
    { "imi_retry_get_policy", c231 },
    { "imi_retry_run", c232 },
    { "imi_retry_retryable", c233 },
    { "imi_retry_delay_ms", c234 },
    { "imi_uid_options_default", c235 },
    { "imi_uid_open", c236 },
    { "imi_uid_open_with", c237 },
    { "imi_uid_new", c238 },
    { "imi_uid_new_with_source", c239 },
    { "imi_uid_free", c240 },
    { "imi_uid_next", c241 },
    { "imi_uid_worker", c242 },
    { "imi_uid_worker_lost", c243 },
    { "imi_uid_parse", c244 },
    { "imi_uid_parse_epoch", c245 },
    { "imi_uid_epoch", c246 },
    { "imi_uuid_v4", c247 },
    { "imi_uuid_v7", c248 },
    { "imi_uuid_format", c249 },
    { "imi_uuid_parse", c250 },
    { "imi_uuid_version", c251 },
    { "imi_uuid_v7_unix_ms", c252 },
};

int main(int argc, char **argv)
{
    size_t n = sizeof calls / sizeof calls[0];
    if (argc > 1) {
        size_t i = (size_t)atol(argv[1]);
        if (i < n)
            calls[i].call();
        return 0;
    }
    int crashed = 0;
    for (size_t i = 0; i < n; i++) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            char arg[32];
            snprintf(arg, sizeof arg, "%zu", i);
            execl("/proc/self/exe", argv[0], arg, (char *)NULL);
            _exit(99);
        }
        int st = 0;
        waitpid(pid, &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st)) {
            printf("FAIL: %s(NULL, ...) %s %d\n", calls[i].name,
                   WIFSIGNALED(st) ? "was killed by signal" : "exited with",
                   WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
            crashed++;
        }
    }
    printf("%zu public functions called with NULL arguments, %d crashed\n", n, crashed);
    return crashed ? 1 : 0;
}
