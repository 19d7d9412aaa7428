/* TensorProto -> rnnck_tensor: raw_data (little-endian), the typed fields
 * (float_data, double_data, int32_data holding float16/bfloat16 bits,
 * int64_data) and external data read only from files inside the model's
 * folder. Every dim and byte count is checked before it is used. */
#include "onnx/onnx_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *tname(const Onnx__TensorProto *tp) { return tp->name && *tp->name ? tp->name : "(unnamed)"; }

/* "location" resolved inside ctx->dir, or an error naming the escape. */
static rnnck_status external_path(const rnnck__onnx_ctx *ctx, const Onnx__TensorProto *tp, const char *who,
                                  const char *loc, char **out) {
    if (!*loc || loc[0] == '/')
        return rnnck__err(RNNCK_E_FORMAT, "%s: %s: tensor '%.200s': external data location '%.200s' is not a "
                          "relative path inside the model's folder", ctx->file, who, tname(tp), loc);
    for (const char *p = loc; *p; p = strchr(p, '/') ? strchr(p, '/') + 1 : p + strlen(p))
        if (p[0] == '.' && p[1] == '.' && (p[2] == '/' || p[2] == '\0'))
            return rnnck__err(RNNCK_E_FORMAT, "%s: %s: tensor '%.200s': external data location '%.200s' leaves "
                              "the model's folder", ctx->file, who, tname(tp), loc);
    char *joined = rnnck__asprintf("%s/%s", ctx->dir, loc);
    if (!joined) return rnnck__oom();
    char *real = realpath(joined, NULL);
    if (!real) {
        rnnck_status st = rnnck__err(RNNCK_E_IO, "%s: %s: tensor '%.200s': external data file '%.200s': %s",
                                     ctx->file, who, tname(tp), loc, strerror(errno));
        free(joined);
        return st;
    }
    free(joined);
    size_t n = strlen(ctx->dir);
    /* A symbolic link inside the folder may still point outside it. */
    if (strncmp(real, ctx->dir, n) != 0 || (real[n] != '/' && !(n == 1 && ctx->dir[0] == '/'))) {
        free(real);
        return rnnck__err(RNNCK_E_FORMAT, "%s: %s: tensor '%.200s': external data location '%.200s' leaves the "
                          "model's folder", ctx->file, who, tname(tp), loc);
    }
    *out = real;
    return RNNCK_OK;
}

static rnnck_status parse_u64(const rnnck__onnx_ctx *ctx, const Onnx__TensorProto *tp, const char *who,
                              const char *key, const char *v, uint64_t *out) {
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v ? v : "", &end, 10);
    if (!v || !*v || *end || errno || v[0] == '-')
        return rnnck__err(RNNCK_E_FORMAT, "%s: %s: tensor '%.200s': external data %s '%.40s' is not a byte count",
                          ctx->file, who, tname(tp), key, v ? v : "");
    *out = x;
    return RNNCK_OK;
}

/* Checks the external file holds the bytes, and only then allocates *t (the
 * tensor, dt and tp's dims) and reads them in. */
static rnnck_status read_external(const rnnck__onnx_ctx *ctx, const Onnx__TensorProto *tp, const char *who,
                                  size_t nbytes, rnnck_dtype dt, rnnck_tensor **t) {
    const char *loc = NULL;
    uint64_t offset = 0, length = UINT64_MAX;
    rnnck_status st = RNNCK_OK;
    for (size_t i = 0; i < tp->n_external_data && !st; i++) {
        const Onnx__StringStringEntryProto *e = tp->external_data[i];
        if (!e->key) continue;
        if (!strcmp(e->key, "location")) loc = e->value;
        else if (!strcmp(e->key, "offset")) st = parse_u64(ctx, tp, who, "offset", e->value, &offset);
        else if (!strcmp(e->key, "length")) st = parse_u64(ctx, tp, who, "length", e->value, &length);
    }
    if (st) return st;
    if (!loc)
        return rnnck__err(RNNCK_E_FORMAT, "%s: %s: tensor '%.200s': external data without a location", ctx->file,
                          who, tname(tp));
    if (length != UINT64_MAX && length != nbytes)
        return rnnck__err(RNNCK_E_FORMAT, "%s: %s: tensor '%.200s': external data length %llu, dims need %zu bytes",
                          ctx->file, who, tname(tp), (unsigned long long)length, nbytes);
    char *path = NULL;
    st = external_path(ctx, tp, who, loc, &path);
    if (st) return st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st = rnnck__err(RNNCK_E_IO, "%s: %s: tensor '%.200s': external data file '%.200s' is not a readable regular "
                        "file", ctx->file, who, tname(tp), loc);
    } else if (offset > (uint64_t)sb.st_size || (uint64_t)sb.st_size - offset < nbytes) {
        st = rnnck__err(RNNCK_E_FORMAT, "%s: %s: tensor '%.200s': external data file '%.200s' has %lld bytes, "
                        "offset %llu + %zu needed", ctx->file, who, tname(tp), loc, (long long)sb.st_size,
                        (unsigned long long)offset, nbytes);
    } else if (!(st = rnnck_tensor_new(dt, (int)tp->n_dims, tp->dims, t))) {
        char *dst = rnnck_tensor_data(*t);
        size_t done = 0;
        while (done < nbytes && !st) {
            ssize_t r = pread(fd, dst + done, nbytes - done, (off_t)(offset + done));
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0)
                st = rnnck__err(RNNCK_E_IO, "%s: %s: tensor '%.200s': reading external data '%.200s' failed",
                                ctx->file, who, tname(tp), loc);
            else done += (size_t)r;
        }
    }
    if (fd >= 0) close(fd);
    free(path);
    return st;
}

static bool host_little_endian(void) {
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

rnnck_status rnnck__onnx_tensor_decode(const rnnck__onnx_ctx *ctx, const Onnx__TensorProto *tp, const char *who,
                                       rnnck_tensor **out) {
    rnnck_dtype dt = rnnck__onnx_dtype(tp->has_data_type ? tp->data_type : 0);
    if (dt == RNNCK_DTYPE_INVALID)
        return rnnck__err(RNNCK_E_UNSUPPORTED, "%s: %s: tensor '%.200s' has ONNX data_type %d (float16, bfloat16, "
                          "float32, float64, int32, int64 are read)", ctx->file, who, tname(tp),
                          tp->has_data_type ? (int)tp->data_type : 0);
    if (tp->segment)
        return rnnck__err(RNNCK_E_UNSUPPORTED, "%s: %s: tensor '%.200s' is segmented", ctx->file, who, tname(tp));
    if (tp->n_dims > RNNCK_MAX_DIMS)
        return rnnck__err(RNNCK_E_FORMAT, "%s: %s: tensor '%.200s' has %zu dims (at most %d)", ctx->file, who,
                          tname(tp), tp->n_dims, RNNCK_MAX_DIMS);
    int64_t numel;
    size_t es = rnnck_dtype_size(dt), nbytes;
    if (!rnnck__shape_numel((int)tp->n_dims, tp->dims, &numel) ||
        rnnck__mul_overflow_size((size_t)numel, es, &nbytes) || nbytes > (size_t)ctx->limits.max_tensor_bytes)
        return rnnck__err(RNNCK_E_FORMAT, "%s: %s: tensor '%.200s': dims are negative, overflow, or exceed the "
                          "tensor size limit", ctx->file, who, tname(tp));
    for (size_t i = 0; i < tp->n_dims; i++)
        if (tp->dims[i] > ctx->limits.max_dim)
            return rnnck__err(RNNCK_E_FORMAT, "%s: %s: tensor '%.200s': dim %zu is %lld, over the limit", ctx->file,
                              who, tname(tp), i, (long long)tp->dims[i]);
    /* The bytes the file really holds are checked before the tensor is
     * allocated: dims alone never size an allocation (docs/BUDGETS.md). */
    rnnck_tensor *t = NULL;
    rnnck_status st = RNNCK_OK;
    bool external = tp->has_data_location && tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    size_t typed = 0;
    if (!external && !tp->has_raw_data) {
        switch (dt) {
        case RNNCK_F32: typed = tp->n_float_data; break;
        case RNNCK_F64: typed = tp->n_double_data; break;
        case RNNCK_I64: typed = tp->n_int64_data; break;
        default: typed = tp->n_int32_data; break; /* int32, and float16 / bfloat16 as 16-bit patterns */
        }
        if (typed != (size_t)numel)
            return rnnck__err(RNNCK_E_FORMAT, "%s: %s: tensor '%.200s': %zu typed values, dims %s need %lld",
                              ctx->file, who, tname(tp), typed,
                              rnnck__shape_str((int)tp->n_dims, tp->dims, (char[160]){0}, 160), (long long)numel);
    }
    if (!external && tp->has_raw_data && tp->raw_data.len != nbytes)
        return rnnck__err(RNNCK_E_FORMAT, "%s: %s: tensor '%.200s': raw_data holds %zu bytes, dims %s need %zu",
                          ctx->file, who, tname(tp), tp->raw_data.len,
                          rnnck__shape_str((int)tp->n_dims, tp->dims, (char[160]){0}, 160), nbytes);
    if (external) {
        st = read_external(ctx, tp, who, nbytes, dt, &t);
        if (!st && !host_little_endian()) st = rnnck__err(RNNCK_E_UNSUPPORTED, "ONNX reader: big-endian host");
        if (st) {
            rnnck_tensor_free(t);
            return st;
        }
        *out = t;
        return RNNCK_OK;
    }
    if ((st = rnnck_tensor_new(dt, (int)tp->n_dims, tp->dims, &t))) return st;
    unsigned char *dst = rnnck_tensor_data(t);
    if (tp->has_raw_data) {
        if (tp->raw_data.len != nbytes)
            st = rnnck__err(RNNCK_E_FORMAT, "%s: %s: tensor '%.200s': raw_data holds %zu bytes, dims %s need %zu",
                            ctx->file, who, tname(tp), tp->raw_data.len,
                            rnnck__shape_str((int)tp->n_dims, tp->dims, (char[160]){0}, 160), nbytes);
        else if (!host_little_endian())
            st = rnnck__err(RNNCK_E_UNSUPPORTED, "ONNX reader: big-endian host");
        else if (nbytes)
            memcpy(dst, tp->raw_data.data, nbytes);
    } else {
        switch (dt) {
        case RNNCK_F32:
            typed = tp->n_float_data;
            if (typed == (size_t)numel && numel) memcpy(dst, tp->float_data, nbytes);
            break;
        case RNNCK_F64:
            typed = tp->n_double_data;
            if (typed == (size_t)numel && numel) memcpy(dst, tp->double_data, nbytes);
            break;
        case RNNCK_I64:
            typed = tp->n_int64_data;
            if (typed == (size_t)numel && numel) memcpy(dst, tp->int64_data, nbytes);
            break;
        case RNNCK_I32:
            typed = tp->n_int32_data;
            if (typed == (size_t)numel && numel) memcpy(dst, tp->int32_data, nbytes);
            break;
        default: /* float16 / bfloat16: one 16-bit pattern per int32_data entry */
            typed = tp->n_int32_data;
            for (size_t i = 0; typed == (size_t)numel && i < typed; i++) {
                uint16_t bits = (uint16_t)tp->int32_data[i];
                if (tp->int32_data[i] < 0 || tp->int32_data[i] > 0xffff) {
                    st = rnnck__err(RNNCK_E_FORMAT, "%s: %s: tensor '%.200s': int32_data[%zu] = %d is not a 16-bit "
                                    "pattern", ctx->file, who, tname(tp), i, (int)tp->int32_data[i]);
                    break;
                }
                memcpy(dst + 2 * i, &bits, 2);
            }
        }
        if (!st && typed != (size_t)numel)
            st = rnnck__err(RNNCK_E_FORMAT, "%s: %s: tensor '%.200s': %zu typed values, dims %s need %lld", ctx->file,
                            who, tname(tp), typed, rnnck__shape_str((int)tp->n_dims, tp->dims, (char[160]){0}, 160),
                            (long long)numel);
    }
    if (st) {
        rnnck_tensor_free(t);
        return st;
    }
    *out = t;
    return RNNCK_OK;
}
