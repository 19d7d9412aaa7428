/* CRC-32C (Castagnoli polynomial, reflected 0x82f63b78), as TensorFlow's
 * tables and tensor bundles store it. Written here because no Debian C
 * library provides it: zlib's crc32 is the IEEE polynomial, and libcrcutil
 * is C++. Table-driven, one byte at a time (an .index is KBs and a tensor is
 * checked once as it is read). */
#include "tf/tf_internal.h"

#include <pthread.h>

static uint32_t table[256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void make_table(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
        table[i] = c;
    }
}

uint32_t rnnck__crc32c_extend(uint32_t crc, const void *data, size_t n) {
    pthread_once(&table_once, make_table);
    const unsigned char *p = data;
    uint32_t c = ~crc;
    for (size_t i = 0; i < n; i++) c = table[(c ^ p[i]) & 0xff] ^ (c >> 8);
    return ~c;
}

/* tensorflow/core/lib/hash/crc32c.h (crc32c::Mask), as LevelDB's. */
uint32_t rnnck__crc32c_mask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }
