/* Scratch files and model invariants for the fuzz targets (fuzz_common.h). */
#include "fuzz_common.h"

#include "common/state_dict.h"
#include "common/zipfile.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

static char scratch_dir[256];

static void remove_scratch(void) {
    fz_clean_scratch();
    if (scratch_dir[0]) rmdir(scratch_dir);
}

const char *fz_path(const char *name) {
    static char path[512];
    if (!scratch_dir[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(scratch_dir, sizeof scratch_dir, "%s/rnnck-fuzz-XXXXXX", base && *base ? base : "/tmp");
        if (!mkdtemp(scratch_dir)) {
            perror("fuzz: mkdtemp");
            abort();
        }
        atexit(remove_scratch);
    }
    snprintf(path, sizeof path, "%s/%s", scratch_dir, name);
    return path;
}

void fz_clean_scratch(void) {
    if (!scratch_dir[0]) return;
    DIR *d = opendir(scratch_dir);
    if (!d) return;
    struct dirent *e;
    char path[800];
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') {
            if (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])) continue;
        }
        snprintf(path, sizeof path, "%s/%s", scratch_dir, e->d_name);
        unlink(path);
    }
    closedir(d);
}

void fz_write_file(const char *path, const uint8_t *data, size_t size) {
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        perror(path);
        abort();
    }
}

void fz_fail(const char *file, int line, const char *cond, const char *fmt, ...) {
    fprintf(stderr, "%s:%d: invariant broken: %s\n  ", file, line, cond);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n  last rnnck message: %s\n", rnnck_errmsg());
    abort();
}

void fz_check_failure(rnnck_status st, const void *out) {
    const char *msg = rnnck_errmsg();
    static int verbose = -1;
    if (verbose < 0) verbose = getenv("FUZZ_VERBOSE") != NULL;
    if (verbose) fprintf(stderr, "  refused (%d): %s\n", (int)st, msg);
    FZ_REQUIRE(st < 0, "unknown status %d", (int)st);
    FZ_REQUIRE(out == NULL, "failure %d but an output object was written", (int)st);
    FZ_REQUIRE(msg[0] != '\0', "failure %d without a message", (int)st);
    for (const char *p = msg; *p; p++)
        FZ_REQUIRE(*p != '\n' && *p != '\r', "failure message is not one line: [%s]", msg);
}

void fz_check_tensor(const rnnck_tensor *t) {
    FZ_REQUIRE(t != NULL, "NULL tensor");
    const char *name = rnnck_tensor_name(t);
    size_t es = rnnck_dtype_size(t->dtype);
    FZ_REQUIRE(es > 0, "%s: invalid dtype %d", name, (int)t->dtype);
    FZ_REQUIRE(t->ndim >= 0 && t->ndim <= RNNCK_MAX_DIMS, "%s: ndim %d", name, t->ndim);
    int64_t numel = 1;
    for (int d = 0; d < t->ndim; d++) {
        FZ_REQUIRE(t->shape[d] >= 0, "%s: dim %d is %lld", name, d, (long long)t->shape[d]);
        FZ_REQUIRE(!__builtin_mul_overflow(numel, t->shape[d], &numel), "%s: numel overflows", name);
    }
    FZ_REQUIRE(rnnck_tensor_numel(t) == numel, "%s: numel %lld, dims give %lld", name,
               (long long)rnnck_tensor_numel(t), (long long)numel);
    size_t nbytes;
    FZ_REQUIRE(!__builtin_mul_overflow((size_t)numel, es, &nbytes), "%s: nbytes overflows", name);
    FZ_REQUIRE(rnnck_tensor_nbytes(t) == nbytes, "%s: nbytes %zu, numel*dtype size is %zu", name,
               rnnck_tensor_nbytes(t), nbytes);
    if (!rnnck__tensor_loaded(t) || numel == 0) return;
    /* The farthest element the strides reach must lie inside the storage. */
    int64_t last = 0;
    for (int d = 0; d < t->ndim; d++) {
        FZ_REQUIRE(t->stride[d] >= 0, "%s: negative stride %lld", name, (long long)t->stride[d]);
        int64_t span;
        FZ_REQUIRE(!__builtin_mul_overflow(t->shape[d] - 1, t->stride[d], &span) &&
                       !__builtin_add_overflow(last, span, &last),
                   "%s: extent overflows", name);
    }
    size_t end;
    FZ_REQUIRE(!__builtin_mul_overflow((size_t)last + 1, es, &end) &&
                   !__builtin_add_overflow(end, t->offset, &end) && end <= t->storage->nbytes,
               "%s: view reaches byte %zu of a %zu-byte storage", name, end, t->storage->nbytes);
    FZ_REQUIRE(t->storage->data != NULL, "%s: loaded tensor without data", name);
}

static void check_module_params(rnnck_model *m, size_t mi) {
    const rnnck_module_info *info = rnnck_model_module(m, mi);
    FZ_REQUIRE(info && info->name, "module %zu has no description", mi);
    FZ_REQUIRE(rnnck_module_info_validate(info) == RNNCK_OK, "module '%s' does not validate: %s", info->name,
               rnnck_errmsg());
    size_t found;
    FZ_REQUIRE(rnnck_model_find_module(m, info->name, &found) == RNNCK_OK && found == mi,
               "module '%s' is not found by its name", info->name);
    for (int64_t layer = 0; layer < info->num_layers; layer++)
        for (int rev = 0; rev <= (info->bidirectional ? 1 : 0); rev++)
            for (int kind = 0; kind < RNNCK_PARAM_COUNT_; kind++) {
                int64_t shape[2];
                int nd = rnnck_param_shape(info, (rnnck_param)kind, layer, shape);
                if (nd == 0) continue;
                rnnck_tensor *p = NULL;
                FZ_REQUIRE(rnnck_model_param(m, mi, (rnnck_param)kind, layer, rev, &p) == RNNCK_OK && p,
                           "module '%s': parameter kind %d layer %lld%s missing: %s", info->name, kind,
                           (long long)layer, rev ? " reverse" : "", rnnck_errmsg());
                FZ_REQUIRE(p->ndim == nd, "%s: ndim %d, module implies %d", rnnck_tensor_name(p), p->ndim, nd);
                for (int d = 0; d < nd; d++)
                    FZ_REQUIRE(p->shape[d] == shape[d], "%s: dim %d is %lld, module implies %lld",
                               rnnck_tensor_name(p), d, (long long)p->shape[d], (long long)shape[d]);
            }
}

void fz_check_model(rnnck_model *m) {
    FZ_REQUIRE(m != NULL, "success without a model");
    rnnck_status st = rnnck_model_load_all(m);
    /* A lazily read tensor may still turn out unreadable (bad chunk data);
     * that must be an ordinary error with a message, and then nothing more
     * is checked about the data. */
    if (st) {
        fz_check_failure(st, NULL);
        return;
    }
    size_t n = rnnck_model_tensor_count(m);
    for (size_t i = 0; i < n; i++) {
        rnnck_tensor *t = rnnck_model_tensor(m, i);
        fz_check_tensor(t);
        const char *name = rnnck_tensor_name(t);
        FZ_REQUIRE(name && name[0], "tensor %zu has no name", i);
        rnnck_tensor *again = NULL;
        FZ_REQUIRE(rnnck_model_find(m, name, &again) == RNNCK_OK && again == t,
                   "tensor '%s' is not found by its own name", name);
    }
    for (size_t mi = 0; mi < rnnck_model_module_count(m); mi++) check_module_params(m, mi);
}

void fz_require_same_tensor(const rnnck_tensor *a, const rnnck_tensor *b, const char *what) {
    FZ_REQUIRE(a->dtype == b->dtype, "%s: dtype %s became %s", what, rnnck_dtype_name(a->dtype),
               rnnck_dtype_name(b->dtype));
    FZ_REQUIRE(a->ndim == b->ndim, "%s: ndim %d became %d", what, a->ndim, b->ndim);
    for (int d = 0; d < a->ndim; d++)
        FZ_REQUIRE(a->shape[d] == b->shape[d], "%s: dim %d %lld became %lld", what, d, (long long)a->shape[d],
                   (long long)b->shape[d]);
    size_t nb = rnnck_tensor_nbytes(a);
    if (nb == 0) return;
    void *x = malloc(nb), *y = malloc(nb);
    FZ_REQUIRE(x && y, "%s: out of memory for %zu bytes", what, nb);
    rnnck__strided_copy(a, x);
    rnnck__strided_copy(b, y);
    FZ_REQUIRE(memcmp(x, y, nb) == 0, "%s: data differs after the round trip", what);
    free(x);
    free(y);
}

/* Equal, or both NaN (a description read from a file may hold NaN). */
static bool same_double(double x, double y) { return x == y || (x != x && y != y); }

static void require_same_module(const rnnck_module_info *a, const rnnck_module_info *b, bool exact) {
    const char *nm = a->name;
    FZ_REQUIRE(rnnck_cell_gates(a->cell) == rnnck_cell_gates(b->cell), "module '%s': cell %s became %s", nm,
               rnnck_cell_name(a->cell), rnnck_cell_name(b->cell));
    FZ_REQUIRE(a->input_size == b->input_size && a->hidden_size == b->hidden_size &&
                   a->num_layers == b->num_layers && a->proj_size == b->proj_size && a->bias == b->bias &&
                   a->bidirectional == b->bidirectional && a->dtype == b->dtype,
               "module '%s': sizes/flags changed in the round trip", nm);
    if (!exact) return;
    FZ_REQUIRE(a->cell == b->cell && a->batch_first == b->batch_first &&
                   a->linear_before_reset == b->linear_before_reset && a->peepholes == b->peepholes &&
                   a->input_forget == b->input_forget && a->reverse == b->reverse &&
                   a->output_reversed == b->output_reversed && a->merge_mode == b->merge_mode && same_double(a->forget_bias, b->forget_bias) && same_double(a->clip, b->clip) &&
                   same_double(a->cell_clip, b->cell_clip) && same_double(a->proj_clip, b->proj_clip),
               "module '%s': semantics changed in the round trip", nm);
    /* Field by field: the struct has padding after `kind`. */
    for (int dir = 0; dir < 2; dir++)
        for (int slot = 0; slot < RNNCK_ACT_SLOTS; slot++) {
            const rnnck_activation *x = &a->act[dir][slot], *y = &b->act[dir][slot];
            FZ_REQUIRE(x->kind == y->kind && same_double(x->alpha, y->alpha) && same_double(x->beta, y->beta),
                       "module '%s': activation [%d][%d] %s(%g,%g) became %s(%g,%g)", nm, dir, slot,
                       rnnck_act_name(x->kind), x->alpha, x->beta, rnnck_act_name(y->kind), y->alpha, y->beta);
        }
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Whether some tensor is named "X" while another is named "X.something":
 * HDF5 cannot make X both a dataset and a group. */
static bool has_prefix_collision(const rnnck_model *m) {
    size_t n = rnnck_model_tensor_count(m);
    if (n < 2) return false;
    const char **names = malloc(n * sizeof *names);
    FZ_REQUIRE(names != NULL, "out of memory");
    for (size_t i = 0; i < n; i++) names[i] = rnnck_tensor_name(rnnck_model_tensor(m, i));
    qsort(names, n, sizeof *names, cmp_str);
    bool found = false;
    for (size_t i = 0; i < n && !found; i++) {
        size_t len = strlen(names[i]);
        /* The first name >= "X." is the only candidate to start with it. */
        size_t lo = i + 1, hi = n;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            int c = strncmp(names[mid], names[i], len);
            if (c < 0 || (c == 0 && names[mid][len] < '.'))
                lo = mid + 1;
            else
                hi = mid;
        }
        found = lo < n && strncmp(names[lo], names[i], len) == 0 && names[lo][len] == '.';
    }
    free(names);
    return found;
}

/* Whether `local` ("weight_hh_l1_reverse") is a parameter the module has. */
static bool is_module_param(const rnnck_module_info *info, const char *local) {
    static const char *const prefixes[RNNCK_PARAM_COUNT_] = {"weight_ih_l", "weight_hh_l", "bias_ih_l",
                                                             "bias_hh_l",   "weight_hr_l", "peephole_l"};
    for (int k = 0; k < RNNCK_PARAM_COUNT_; k++) {
        size_t pl = strlen(prefixes[k]);
        if (strncmp(local, prefixes[k], pl) != 0) continue;
        char *end;
        long long layer = strtoll(local + pl, &end, 10);
        if (end == local + pl || layer < 0 || layer >= info->num_layers) return false;
        int reverse = strcmp(end, "_reverse") == 0;
        if (!reverse && *end) return false;
        if (reverse && !info->bidirectional) return false;
        int64_t shape[2];
        char name[64];
        return rnnck_param_shape(info, (rnnck_param)k, layer, shape) != 0 &&
               rnnck_param_name((rnnck_param)k, layer, reverse, name, sizeof name) == RNNCK_OK &&
               strcmp(name, local) == 0;
    }
    return false;
}

/* Whether the rnnck schema can hold m at all: no dataset/group name clash,
 * and a module's group holds its parameters and nothing else (the bare
 * module's group is the root, so then every tensor must be its parameter). */
static bool schema_can_hold(const rnnck_model *m) {
    if (has_prefix_collision(m)) return false;
    for (size_t mi = 0; mi < rnnck_model_module_count(m); mi++) {
        const rnnck_module_info *info = rnnck_model_module(m, mi);
        size_t plen = strlen(info->name);
        for (size_t i = 0; i < rnnck_model_tensor_count(m); i++) {
            const char *name = rnnck_tensor_name(rnnck_model_tensor(m, i));
            if (plen && (strncmp(name, info->name, plen) != 0 || name[plen] != '.')) continue;
            if (!is_module_param(info, name + (plen ? plen + 1 : 0))) return false;
        }
    }
    return true;
}

void fz_require_same_model(rnnck_model *m, rnnck_model *back, bool exact, const char *what) {
    FZ_REQUIRE(rnnck_model_tensor_count(back) == rnnck_model_tensor_count(m), "%zu tensors became %zu",
               rnnck_model_tensor_count(m), rnnck_model_tensor_count(back));
    for (size_t i = 0; i < rnnck_model_tensor_count(m); i++) {
        const rnnck_tensor *a = rnnck_model_tensor(m, i);
        rnnck_tensor *b = NULL;
        FZ_REQUIRE(rnnck_model_find(back, rnnck_tensor_name(a), &b) == RNNCK_OK, "tensor '%s' lost in %s",
                   rnnck_tensor_name(a), what);
        fz_require_same_tensor(a, b, rnnck_tensor_name(a));
    }
    FZ_REQUIRE(rnnck_model_module_count(back) == rnnck_model_module_count(m), "%zu modules became %zu",
               rnnck_model_module_count(m), rnnck_model_module_count(back));
    for (size_t i = 0; i < rnnck_model_module_count(m); i++) {
        const rnnck_module_info *a = rnnck_model_module(m, i);
        size_t j;
        FZ_REQUIRE(rnnck_model_find_module(back, a->name, &j) == RNNCK_OK, "module '%s' lost (%s)",
                   a->name, what);
        require_same_module(a, rnnck_model_module(back, j), exact);
    }
}

void fz_check_roundtrip(rnnck_model *m, const char *format, const char *file_name, fz_reopen_fn reopen) {
    fz_check_roundtrip_flags(m, format, file_name, reopen, 0);
}

void fz_check_roundtrip_flags(rnnck_model *m, const char *format, const char *file_name, fz_reopen_fn reopen,
                              unsigned flags) {
    const char *p = fz_path(file_name);
    char path[512];
    snprintf(path, sizeof path, "%s", p);
    /* Decided before writing: the predicate calls public functions, which
     * clear the message the write may leave. */
    bool holdable = strcmp(format, "rnnck") != 0 || schema_can_hold(m);
    rnnck_write_opts wo = {.format = format, .flags = flags};
    rnnck_status st = rnnck_write_ex(m, path, &wo, NULL);
    if (!holdable) {
        /* rnnck_save documents these refusals as RNNCK_E_USAGE (a stranger
         * in a module's group) and RNNCK_E_WRITE (a dataset/group clash). */
        FZ_REQUIRE(st != RNNCK_OK, "the rnnck writer accepted a model its schema cannot hold");
        fz_check_failure(st, NULL);
        return;
    }
    if (st == RNNCK_E_INEXACT || st == RNNCK_E_UNSUPPORTED) return;
    FZ_REQUIRE(st == RNNCK_OK, "writing a model the %s reader accepted failed (%d): %s", format, (int)st,
               rnnck_errmsg());
    rnnck_model *back = NULL;
    st = reopen(path, &back);
    FZ_REQUIRE(st == RNNCK_OK, "reading back our own %s output failed (%d): %s", format, (int)st, rnnck_errmsg());
    FZ_REQUIRE(rnnck_model_load_all(back) == RNNCK_OK, "loading our own %s output failed: %s", format,
               rnnck_errmsg());
    char what[64];
    snprintf(what, sizeof what, "the %s round trip", format);
    /* rnnck's .h5 and safetensors (its __metadata__) hold every field */
    fz_require_same_model(m, back, !strcmp(format, "rnnck") || !strcmp(format, "safetensors"), what);
    for (size_t i = 0; !strcmp(format, "onnx") && i < rnnck_model_module_count(m); i++) {
        const rnnck_module_info *a = rnnck_model_module(m, i);
        size_t j;
        FZ_REQUIRE(rnnck_model_find_module(back, a->name, &j) == RNNCK_OK, "module '%s' lost in the round trip",
                   a->name);
        const rnnck_module_info *b = rnnck_model_module(back, j);
        FZ_REQUIRE(a->reverse == b->reverse && a->output_reversed == b->output_reversed &&
                       a->merge_mode == b->merge_mode,
                   "module '%s': direction (reverse %d, output_reversed %d, merge %s) became (%d, %d, %s) "
                   "through onnx", a->name, a->reverse, a->output_reversed, rnnck_merge_mode_name(a->merge_mode),
                   b->reverse, b->output_reversed, rnnck_merge_mode_name(b->merge_mode));
    }
    rnnck_model_free(back);
    unlink(path);
}

static uint32_t rd16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t rd32(const uint8_t *p) { return rd16(p) | rd16(p + 2) << 16; }
static void wr32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

void fz_fix_zip_crcs(uint8_t *data, size_t size) {
    if (size < 22) return;
    /* The end-of-central-directory record, searched backwards. */
    size_t eocd = size - 22;
    while (eocd > 0 && rd32(data + eocd) != 0x06054b50u) eocd--;
    if (rd32(data + eocd) != 0x06054b50u) return;
    size_t entries = rd16(data + eocd + 10), pos = rd32(data + eocd + 16);
    for (size_t e = 0; e < entries; e++) {
        if (pos > size || size - pos < 46 || rd32(data + pos) != 0x02014b50u) return;
        uint8_t *central = data + pos;
        uint32_t method = rd16(central + 10), comp = rd32(central + 20);
        size_t local = rd32(central + 42);
        pos += 46 + (size_t)rd16(central + 28) + rd16(central + 30) + rd16(central + 32);
        if (method != 0 || local > size || size - local < 30 || rd32(data + local) != 0x04034b50u) continue;
        size_t start = local + 30 + (size_t)rd16(data + local + 26) + rd16(data + local + 28);
        if (start > size || size - start < comp) continue;
        uint32_t crc = (uint32_t)crc32_z(0, data + start, comp);
        wr32(central + 16, crc);
        if (!(rd16(data + local + 6) & 8)) {
            wr32(data + local + 14, crc);
            continue;
        }
        /* Flag bit 3: the local header holds zeros and the CRC sits in the
         * data descriptor after the data (optionally behind a signature). */
        size_t desc = start + comp;
        if (size - desc >= 8 && rd32(data + desc) == 0x08074b50u) desc += 4;
        if (size - desc >= 4) wr32(data + desc, crc);
    }
}

static void require_shape(const rnnck_tensor *t, const char *what, int ndim, int64_t d0, int64_t d1, int64_t d2) {
    const int64_t want[3] = {d0, d1, d2};
    FZ_REQUIRE(t != NULL, "forward returned no %s", what);
    FZ_REQUIRE(rnnck_tensor_ndim(t) == ndim, "%s has %d dims, want %d", what, rnnck_tensor_ndim(t), ndim);
    for (int d = 0; d < ndim; d++)
        FZ_REQUIRE(rnnck_tensor_dim(t, d) == want[d], "%s dim %d is %lld, want %lld", what, d,
                   (long long)rnnck_tensor_dim(t, d), (long long)want[d]);
}

static bool all_finite(const rnnck_tensor *t) {
    int64_t bad = 0;
    return rnnck_tensor_stats(t, NULL, NULL, NULL, NULL, &bad) == RNNCK_OK && bad == 0;
}

/* Every parameter finite and within +-1000: then two steps of a PyTorch
 * cell (sigmoid/tanh saturate, relu grows at most ~1e10 here) cannot
 * overflow float32, so a non-finite result would be the forward pass's. */
static bool params_moderate(const rnnck_model *m, size_t mi, const rnnck_module_info *info) {
    for (int64_t layer = 0; layer < info->num_layers; layer++)
        for (int rev = 0; rev <= (info->bidirectional ? 1 : 0); rev++)
            for (int kind = 0; kind < RNNCK_PARAM_COUNT_; kind++) {
                rnnck_tensor *p = NULL;
                double lo = 0, hi = 0;
                int64_t bad = 0;
                if (rnnck_model_param(m, mi, (rnnck_param)kind, layer, rev, &p) != RNNCK_OK) continue;
                if (rnnck_tensor_stats(p, &lo, &hi, NULL, NULL, &bad) != RNNCK_OK || bad || lo < -1e3 || hi > 1e3)
                    return false;
            }
    return true;
}

void fz_check_forward(rnnck_model *m) {
    const int64_t T = 2, B = 1;
    for (size_t mi = 0; mi < rnnck_model_module_count(m) && mi < 3; mi++) {
        const rnnck_module_info *info = rnnck_model_module(m, mi);
        /* Bounded work: fuzzed files can describe big modules cheaply. */
        if (info->input_size > 4096 || info->hidden_size > 4096 || info->num_layers > 16) continue;
        int64_t shape[3] = {info->batch_first ? B : T, info->batch_first ? T : B, info->input_size};
        rnnck_tensor *x = NULL;
        FZ_REQUIRE(rnnck_tensor_new(RNNCK_F32, 3, shape, &x) == RNNCK_OK, "input: %s", rnnck_errmsg());
        rnnck_tensor *out = NULL, *hn = NULL, *cn = NULL;
        rnnck_status st = rnnck_forward(m, mi, x, NULL, NULL, NULL, NULL, &out, &hn, &cn);
        if (st) {
            fz_check_failure(st, out);
        } else {
            int64_t dirs = info->bidirectional ? 2 : 1;
            int64_t h_out = info->proj_size > 0 ? info->proj_size : info->hidden_size;
            /* merge_mode sum/mul/ave leave one H_out-wide output (schema 1.1) */
            bool merged = info->merge_mode != RNNCK_MERGE_CONCAT && info->merge_mode != RNNCK_MERGE_NONE;
            require_shape(out, "output", 3, shape[0], shape[1], (merged ? 1 : dirs) * h_out);
            require_shape(hn, "h_n", 3, info->num_layers * dirs, B, h_out);
            if (info->cell == RNNCK_CELL_LSTM)
                require_shape(cn, "c_n", 3, info->num_layers * dirs, B, info->hidden_size);
            if (rnnck_module_info_is_pytorch(info) && params_moderate(m, mi, info))
                FZ_REQUIRE(all_finite(out) && all_finite(hn), "module '%s': non-finite output from finite weights",
                           info->name);
        }
        rnnck_tensor_free(out);
        rnnck_tensor_free(hn);
        rnnck_tensor_free(cn);
        rnnck_tensor_free(x);
    }
}

const char *fz_write_zip_input(const char *name, const uint8_t *data, size_t size) {
    const char *path = fz_path(name);
    uint8_t *fixed = malloc(size ? size : 1);
    FZ_REQUIRE(fixed != NULL, "out of memory");
    memcpy(fixed, data, size);
    fz_fix_zip_crcs(fixed, size);
    fz_write_file(path, fixed, size);
    free(fixed);
    return path;
}

rnnck_status fz_reopen_h5(const char *path, rnnck_model **out) { return rnnck_load(path, NULL, out); }

void fz_check_read(rnnck_status st, rnnck_model *m) {
    if (st) {
        fz_check_failure(st, m);
        return;
    }
    fz_check_model(m);
    fz_check_forward(m);
    fz_check_roundtrip(m, "rnnck", "cross.h5", fz_reopen_h5);
    rnnck_model_free(m);
}

void fz_check_input(const char *path, fz_reopen_fn open, const char *format, const char *file_name) {
    rnnck_model *m = NULL;
    rnnck_status st = open(path, &m);
    if (st) {
        fz_check_failure(st, m);
        return;
    }
    fz_check_model(m);
    /* Tensors are read lazily: bytes that are bad (a CRC, short data, a
     * BOOL other than 0/1) are refused when read, which is here, before
     * anything is written from them. */
    st = rnnck_model_load_all(m);
    if (st) {
        fz_check_failure(st, NULL);
        rnnck_model_free(m);
        return;
    }
    fz_check_forward(m);
    fz_check_roundtrip(m, format, file_name, open);
    /* The main job: the same model through the rnnck HDF5 schema and back. */
    fz_check_roundtrip(m, "rnnck", "cross.h5", fz_reopen_h5);
    rnnck_model_free(m);
}
