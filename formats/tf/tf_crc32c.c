/* CRC-32C (Castagnoli polynomial, reflected 0x82f63b78), as TensorFlow's
 * tables and tensor bundles store it. Written here because no Debian C
 * library provides it: zlib's and libdeflate's crc32 are the IEEE
 * polynomial, and libcrcutil is C++. Table-driven, eight bytes per step ("slicing by 8": table k holds
 * the CRC of a byte followed by k zero bytes), since every tensor's bytes
 * are checked as they are read. */
#include "tf/tf_internal.h"

#include <pthread.h>

static uint32_t table[8][256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void make_table(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
        table[0][i] = c;
    }
    for (int k = 1; k < 8; k++)
        for (int i = 0; i < 256; i++) table[k][i] = (table[k - 1][i] >> 8) ^ table[0][table[k - 1][i] & 0xff];
}

uint32_t rnnck__crc32c_extend(uint32_t crc, const void *data, size_t n) {
    pthread_once(&table_once, make_table);
    const unsigned char *p = data;
    uint32_t c = ~crc;
    for (; n >= 8; n -= 8, p += 8) {
        uint32_t lo = c ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
        uint32_t hi = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;
        c = table[7][lo & 0xff] ^ table[6][(lo >> 8) & 0xff] ^ table[5][(lo >> 16) & 0xff] ^ table[4][lo >> 24] ^
            table[3][hi & 0xff] ^ table[2][(hi >> 8) & 0xff] ^ table[1][(hi >> 16) & 0xff] ^ table[0][hi >> 24];
    }
    for (; n; n--, p++) c = table[0][(c ^ *p) & 0xff] ^ (c >> 8);
    return ~c;
}

/* tensorflow/core/lib/hash/crc32c.h (crc32c::Mask), as LevelDB's. */
uint32_t rnnck__crc32c_mask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }
