/* CRC-32C (Castagnoli polynomial, reflected 0x82f63b78), as TensorFlow's
 * tables and tensor bundles store it: Intel ISA-L's crc32_iscsi (the same
 * CRC; it takes and returns the register without the final inversion, and
 * an int length). */
#include "tf/tf_internal.h"

#include <isa-l/crc.h>

uint32_t rnnck__crc32c_extend(uint32_t crc, const void *data, size_t n) {
    const unsigned char *p = data;
    uint32_t reg = ~crc;
    for (size_t piece; n; n -= piece, p += piece) {
        piece = n < ((size_t)1 << 30) ? n : (size_t)1 << 30;
        reg = crc32_iscsi((unsigned char *)p, (int)piece, reg);
    }
    return ~reg;
}

/* tensorflow/core/lib/hash/crc32c.h (crc32c::Mask), as LevelDB's. */
uint32_t rnnck__crc32c_mask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }
