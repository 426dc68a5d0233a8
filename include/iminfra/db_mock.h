/* The scripted db mock (driver = mock), for unit tests of code that uses db: like Go's
 * sqlmock, the test says which statements it expects and what each answers; the mock
 * checks every call against that script and records it.
 *
 * The mock is a driver shared object like any other, so it is scripted through the
 * driver control channel (imi_db_control, IMI_DB_CAP_CONTROL) and, optionally, a script
 * file loaded at open (option `script = FILE`). Both speak one language: one command per
 * line (file) or per call (cmd, arg). A command applies to the expectation the last
 * `expect` started.
 *
 *   expect exec SQL      the next expected call is imi_db_exec / tx_exec of SQL
 *   expect query SQL     ... a query (imi_db_query, query_writer, tx_query)
 *   expect begin | commit | rollback
 *                        SQL is compared with runs of white space made one space; a SQL
 *                        of the form re:PATTERN is a POSIX extended regex searched in it
 *                        (at most 256 bytes, no back-reference \N, and at most 1024
 *                        nodes once its repeats + and {m,n} are expanded as regcomp
 *                        does, so that compiling it stays quick)
 *   args V, V ...        the parameters must be these values (omitted: any parameters)
 *   columns NAME, ...    the result's column names (a query; before its rows)
 *   row V, V ...         one result row (a query; as many as wanted, in order)
 *   affected N           rows changed, for an exec (default 0)
 *   error CODE [TEXT]    answer with an error: CODE is a name (IMI_ECONFLICT) or number;
 *                        IMI_EUNAVAILABLE also makes the core drop the connection
 *   delay DURATION       answer after this long ("50ms", "2s", "500us"; at most 1h), or
 *                        IMI_ETIMEDOUT / IMI_ECANCELED when the call's ctx ends first
 *   on writer | reader   the call must arrive on this kind of endpoint
 *   ordered true|false   expectations must be met in the order given (default true)
 *
 * Values (V): 42, -1.5, 'text' ('' is a quote), x'00ff' (a blob), null, true, false, and
 * in `args` also `any`. Types are exact: 1 matches an integer parameter, not 1.0 or true.
 *
 * Queries of the mock's state (the answer goes to `out`):
 *   verify       IMI_OK when every expectation was met and no call was unexpected; else
 *                IMI_ECONFLICT and out lists what was not
 *   unmet        the expectations not met yet, one per line
 *   calls        every call so far, one per line: "exec writer SQL [args]"
 *   unexpected   the calls that matched no expectation
 *   conns        "opened N closed M": connections the core made and closed
 *   reset        forget expectations and calls (no result may be open)
 *
 * An unexpected call answers IMI_EINVALID naming what was expected instead. Other mock
 * options: `readers` (how many reader endpoints, "reader1" ...; default 0).
 *
 * Threads: as db.h; script the mock before the calls under test run, and read what it
 * recorded after they returned.
 */
#ifndef IMINFRA_DB_MOCK_H
#define IMINFRA_DB_MOCK_H

#include "iminfra/db.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Shorthands for tests: each is one control command and returns its code. */
static inline int imi_db_mock(imi_db *db, const char *cmd, const char *arg)
{
    return imi_db_control(db, cmd, arg, NULL);
}

/* IMI_OK when the script was met exactly; else the report is in *report (may be NULL;
 * free with imi_buf_free). */
static inline int imi_db_mock_verify(imi_db *db, imi_buf *report)
{
    return imi_db_control(db, "verify", NULL, report);
}

#ifdef __cplusplus
}
#endif
#endif
