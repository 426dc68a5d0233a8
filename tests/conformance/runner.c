/* Criterion runner of one conformance suite: $IMI_CONF_KIND on the config $IMI_CONF_CONFIG.
 * Every case is one parameter of the parameterized test; its name leads the message. */
#include <stdlib.h>
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include "conformance.h"

static const imi_conf_suite *suite(void)
{
    const char *kind = getenv("IMI_CONF_KIND");
    return kind ? imi_conf_suite_find(kind) : NULL;
}

static imi_config *load_config(void)
{
    const char *path = getenv("IMI_CONF_CONFIG");
    imi_config *cfg = NULL;
    cr_assert(path, "IMI_CONF_CONFIG is not set");
    cr_assert_eq(imi_config_load(path, &cfg), IMI_OK, "%s", imi_error_message());
    return cfg;
}

/* Fails loudly when the runner was started without a suite or a loadable config, which
 * would otherwise run zero cases and pass. */
Test(conformance, setup)
{
    cr_assert(suite(), "IMI_CONF_KIND names no suite");
    cr_assert_gt(suite()->n_cases, 0);
    imi_config_free(load_config());
}

ParameterizedTestParameters(conformance, suite_case)
{
    const imi_conf_suite *s = suite();
    size_t n = s ? s->n_cases : 0;
    size_t *idx = cr_malloc(sizeof *idx * (n ? n : 1));
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    return cr_make_param_array(size_t, idx, n);
}

ParameterizedTest(size_t *i, conformance, suite_case, .timeout = 120)
{
    const imi_conf_suite *s = suite();
    imi_conf_t t;
    bool ok = imi_conf_run_case(s, *i, load_config(), &t);
    cr_assert(ok, "[%s %s] %s: %s", s->kind, t.driver, s->cases[*i].name,
              t.message);
}
