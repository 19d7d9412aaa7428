/* Element types: sizes, names, half/bfloat16 conversions, generic load/store. */
#include "core/internal.h"

#include <math.h>
#include <string.h>

static const struct {
    rnnck_dtype dtype;
    const char *name;
    size_t size;
    int is_float;
} dtype_table[] = {
    {RNNCK_F32, "float32", 4, 1}, {RNNCK_F64, "float64", 8, 1}, {RNNCK_F16, "float16", 2, 1},
    {RNNCK_BF16, "bfloat16", 2, 1}, {RNNCK_I64, "int64", 8, 0},  {RNNCK_I32, "int32", 4, 0},
    {RNNCK_I16, "int16", 2, 0},     {RNNCK_I8, "int8", 1, 0},    {RNNCK_U8, "uint8", 1, 0},
    {RNNCK_BOOL, "bool", 1, 0},
};
#define NDTYPES (sizeof dtype_table / sizeof dtype_table[0])

size_t rnnck_dtype_size(rnnck_dtype dtype) {
    for (size_t i = 0; i < NDTYPES; i++)
        if (dtype_table[i].dtype == dtype) return dtype_table[i].size;
    return 0;
}

const char *rnnck_dtype_name(rnnck_dtype dtype) {
    for (size_t i = 0; i < NDTYPES; i++)
        if (dtype_table[i].dtype == dtype) return dtype_table[i].name;
    return "invalid";
}

int rnnck_dtype_is_float(rnnck_dtype dtype) {
    for (size_t i = 0; i < NDTYPES; i++)
        if (dtype_table[i].dtype == dtype) return dtype_table[i].is_float;
    return 0;
}

rnnck_dtype rnnck_dtype_from_name(const char *name) {
    if (!name) return RNNCK_DTYPE_INVALID;
    for (size_t i = 0; i < NDTYPES; i++)
        if (strcmp(dtype_table[i].name, name) == 0) return dtype_table[i].dtype;
    return RNNCK_DTYPE_INVALID;
}

float rnnck__f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else { /* subnormal: normalise */
            int e = -1;
            do {
                e++;
                mant <<= 1;
            } while ((mant & 0x400u) == 0);
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((mant & 0x3ffu) << 13);
        }
    } else if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (mant << 13); /* inf / nan */
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

uint16_t rnnck__f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t exp = (x >> 23) & 0xffu;
    uint32_t mant = x & 0x7fffffu;
    if (exp == 0xff) return (uint16_t)(sign | 0x7c00u | (mant ? 0x200u : 0)); /* inf/nan */
    int32_t e = (int32_t)exp - 127 + 15;
    if (e >= 0x1f) return (uint16_t)(sign | 0x7c00u); /* overflow -> inf */
    if (e <= 0) {                                      /* subnormal or zero */
        if (e < -10) return sign;
        mant |= 0x800000u;
        uint32_t shift = (uint32_t)(14 - e);
        uint32_t half = mant >> shift;
        uint32_t rem = mant & ((1u << shift) - 1);
        uint32_t mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1u))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = ((uint32_t)e << 10) | (mant >> 13);
    uint32_t rem = mant & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (half & 1u))) half++; /* may carry into exp: fine */
    return (uint16_t)(sign | half);
}

float rnnck__bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

uint16_t rnnck__f32_to_bf16(float f) {
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40u); /* quiet nan */
    uint32_t lsb = (x >> 16) & 1u;
    x += 0x7fffu + lsb;
    return (uint16_t)(x >> 16);
}

double rnnck__load_as_double(rnnck_dtype dtype, const void *base, int64_t i) {
    switch (dtype) {
    case RNNCK_F32: return ((const float *)base)[i];
    case RNNCK_F64: return ((const double *)base)[i];
    case RNNCK_F16: return rnnck__f16_to_f32(((const uint16_t *)base)[i]);
    case RNNCK_BF16: return rnnck__bf16_to_f32(((const uint16_t *)base)[i]);
    case RNNCK_I64: return (double)((const int64_t *)base)[i];
    case RNNCK_I32: return ((const int32_t *)base)[i];
    case RNNCK_I16: return ((const int16_t *)base)[i];
    case RNNCK_I8: return ((const int8_t *)base)[i];
    case RNNCK_U8: return ((const uint8_t *)base)[i];
    case RNNCK_BOOL: return ((const uint8_t *)base)[i] != 0;
    case RNNCK_DTYPE_INVALID: break;
    }
    return NAN;
}

void rnnck__store_double(rnnck_dtype dtype, void *base, int64_t i, double v) {
    switch (dtype) {
    case RNNCK_F32: ((float *)base)[i] = (float)v; break;
    case RNNCK_F64: ((double *)base)[i] = v; break;
    case RNNCK_F16: ((uint16_t *)base)[i] = rnnck__f32_to_f16((float)v); break;
    case RNNCK_BF16: ((uint16_t *)base)[i] = rnnck__f32_to_bf16((float)v); break;
    case RNNCK_I64: ((int64_t *)base)[i] = (int64_t)v; break;
    case RNNCK_I32: ((int32_t *)base)[i] = (int32_t)v; break;
    case RNNCK_I16: ((int16_t *)base)[i] = (int16_t)v; break;
    case RNNCK_I8: ((int8_t *)base)[i] = (int8_t)v; break;
    case RNNCK_U8: ((uint8_t *)base)[i] = (uint8_t)v; break;
    case RNNCK_BOOL: ((uint8_t *)base)[i] = v != 0; break;
    case RNNCK_DTYPE_INVALID: break;
    }
}
