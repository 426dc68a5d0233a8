/* The redis driver's cluster slot of a key against what redis-server 7.0 answers to
 * CLUSTER KEYSLOT for the same keys (hash tags and their corner cases included). */
#include <criterion/criterion.h>
#include "../../drivers/cache/redis/keyslot.c"

static unsigned slot(const char *key) { return rds_key_slot(key, strlen(key)); }

Test(redis_keyslot, crc16_check_value)
{
    cr_expect_eq(slot("123456789"), 0x31C3u); /* the CRC16/XMODEM check value */
    cr_expect_eq(slot(""), 0u);
}

Test(redis_keyslot, plain_keys)
{
    cr_expect_eq(slot("foo"), 12182u);
    cr_expect_eq(slot("bar"), 5061u);
    cr_expect_eq(slot("conf:a"), 10567u);
    cr_expect_eq(rds_key_slot("a\0b", 3), 8383u, "a NUL byte is part of the key");
}

Test(redis_keyslot, hash_tags)
{
    cr_expect_eq(slot("{user1000}.following"), 3443u);
    cr_expect_eq(slot("{user1000}.followers"), 3443u);
    cr_expect_eq(slot("{a}"), 15495u);
    cr_expect_eq(slot("x{a}y"), 15495u);
    cr_expect_eq(slot("foo{bar}{zap}"), 5061u, "the first tag counts: same as bar");
    cr_expect_eq(slot("foo{{bar}}zap"), 4015u, "the tag is '{bar'");
}

Test(redis_keyslot, not_tags)
{
    cr_expect_eq(slot("foo{}{bar}"), 8363u, "an empty first tag: the whole key");
    cr_expect_eq(slot("{}"), 15257u);
    cr_expect_eq(slot("{"), 4092u);
    cr_expect_eq(slot("}"), 12090u);
    cr_expect_eq(slot("a{b"), 13340u);
}
