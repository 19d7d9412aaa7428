/* safetensors (formats/safetensors): .pt -> .safetensors -> .pt is
 * bit-exact for every dtype and the forward pass is unchanged; the header
 * rnnck writes follows the published format (length, alignment, order,
 * contiguous offsets, string metadata); tensors are read lazily; modules
 * with semantics beyond PyTorch survive through the metadata; a Hugging
 * Face style file (no rnnck metadata) is read as a state_dict; malformed
 * headers are refused with RNNCK_E_FORMAT naming the file and the field. */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "core/internal.h"
#include "helpers/testutil.h"
#include "rnnck.h"

static rnnck_model *open_path(const char *path, const rnnck_open_opts *opts) {
    rnnck_model *m = NULL;
    cr_assert_eq(rnnck_open(path, opts, &m), RNNCK_OK, "%s: %s", path, rnnck_errmsg());
    return m;
}

/* Tensor i's bytes (C order) into a new buffer. */
static void *bytes_of(rnnck_model *m, size_t i, size_t *n) {
    rnnck_tensor *t = rnnck_model_tensor(m, i);
    *n = rnnck_tensor_nbytes(t);
    void *buf = malloc(*n ? *n : 1);
    cr_assert_eq(rnnck_model_read(m, rnnck_tensor_name(t), rnnck_tensor_dtype(t), buf, *n), RNNCK_OK, "%s",
                 rnnck_errmsg());
    return buf;
}

/* Same tensors (names, order, dtypes, shapes, bytes) and same modules
 * (every field, doubles bit for bit). */
static void same_models(rnnck_model *a, rnnck_model *b, const char *what) {
    cr_assert_eq(rnnck_model_tensor_count(a), rnnck_model_tensor_count(b), "%s: tensor count", what);
    for (size_t i = 0; i < rnnck_model_tensor_count(a); i++) {
        rnnck_tensor *x = rnnck_model_tensor(a, i), *y = rnnck_model_tensor(b, i);
        cr_assert_str_eq(rnnck_tensor_name(x), rnnck_tensor_name(y), "%s: tensor %zu", what, i);
        cr_assert_eq(rnnck_tensor_dtype(x), rnnck_tensor_dtype(y), "%s: %s dtype", what, rnnck_tensor_name(x));
        cr_assert_eq(rnnck_tensor_ndim(x), rnnck_tensor_ndim(y));
        for (int d = 0; d < rnnck_tensor_ndim(x); d++) cr_assert_eq(rnnck_tensor_dim(x, d), rnnck_tensor_dim(y, d));
        size_t nx, ny;
        void *bx = bytes_of(a, i, &nx), *by = bytes_of(b, i, &ny);
        cr_assert(nx == ny && memcmp(bx, by, nx) == 0, "%s: %s: bytes differ", what, rnnck_tensor_name(x));
        free(bx);
        free(by);
    }
    cr_assert_eq(rnnck_model_module_count(a), rnnck_model_module_count(b), "%s: module count", what);
    for (size_t i = 0; i < rnnck_model_module_count(a); i++) {
        const rnnck_module_info *x = rnnck_model_module(a, i), *y = rnnck_model_module(b, i);
        cr_assert_str_eq(x->name, y->name, "%s: module %zu", what, i);
        const char *diff = module_info_difference(x, y);
        cr_assert_null(diff, "%s: module %zu (%s) differs in %s", what, i, x->name, diff);
    }
}

/* ------------------------------------------------- the published format */

static uint64_t le64(const unsigned char *p) {
    uint64_t v = 0;
    for (int k = 7; k >= 0; k--) v = v << 8 | p[k];
    return v;
}

/* Checks the file rnnck wrote for model m against the published format:
 * length, '{', space padding, string metadata first, every tensor's entry
 * and bytes, offsets contiguous in header order from 0 to the end of the
 * file, each tensor aligned to its element size (larger dtypes first, as
 * the reference library orders them), and rnnck.order giving back the
 * model's order. */
static void check_written(rnnck_model *m, const char *path) {
    size_t len;
    unsigned char *file = read_file(path, &len);
    cr_assert(file && len >= 8);
    uint64_t n = le64(file);
    cr_assert(n > 0 && n % 8 == 0 && 8 + n <= len, "header length %llu: not padded to 8", (unsigned long long)n);
    cr_assert_eq(file[8], '{');
    const char *text = (const char *)file + 8, *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, n, &end, 0);
    cr_assert(root, "header is not JSON");
    for (const char *q = end; q < text + n; q++) cr_assert_eq(*q, ' ', "padding must be spaces");
    const cJSON *md = root->child;
    cr_assert_str_eq(md->string, "__metadata__", "__metadata__ comes first");
    for (const cJSON *e = md->child; e; e = e->next) cr_assert(cJSON_IsString(e), "metadata %s: not a string", e->string);
    cr_assert_str_eq(cJSON_GetObjectItem(md, "rnnck.schema")->valuestring, RNNCK_SCHEMA_STRING);
    if (rnnck_model_module_count(m))
        cr_assert_str_eq(cJSON_GetObjectItem(md, "rnnck.module.0.name")->valuestring, rnnck_model_module(m, 0)->name);
    /* the expected file order: a stable sort of the model's tensors by element size, 8 down to 1 */
    size_t nt = rnnck_model_tensor_count(m), *order = malloc((nt ? nt : 1) * sizeof *order), k = 0;
    for (size_t size = 8; size >= 1; size /= 2)
        for (size_t i = 0; i < nt; i++)
            if (rnnck_dtype_size(rnnck_tensor_dtype(rnnck_model_tensor(m, i))) == size) order[k++] = i;
    const cJSON *ord = cJSON_GetObjectItem(md, "rnnck.order");
    char *p = ord ? ord->valuestring : NULL;
    uint64_t at = 0, data_len = len - 8 - n;
    k = 0;
    for (const cJSON *e = md->next; e; e = e->next, k++) {
        cr_assert(k < nt, "more entries than tensors");
        size_t i = order[k];
        if (p) cr_assert_eq((size_t)strtoul(p, &p, 10), i, "rnnck.order entry %zu", k);
        if (p && *p == ',') p++;
        if (!ord) cr_assert_eq(i, k, "reordered without rnnck.order");
        rnnck_tensor *t = rnnck_model_tensor(m, i);
        cr_assert_str_eq(e->string, rnnck_tensor_name(t));
        static const char *const st_names[] = {"", "F32", "F64", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL"};
        cr_assert_str_eq(cJSON_GetObjectItem(e, "dtype")->valuestring, st_names[rnnck_tensor_dtype(t)]);
        const cJSON *shape = cJSON_GetObjectItem(e, "shape"), *off = cJSON_GetObjectItem(e, "data_offsets");
        cr_assert_eq(cJSON_GetArraySize(shape), rnnck_tensor_ndim(t));
        for (int d = 0; d < rnnck_tensor_ndim(t); d++)
            cr_assert_eq((int64_t)cJSON_GetArrayItem(shape, d)->valuedouble, rnnck_tensor_dim(t, d));
        cr_assert_eq(cJSON_GetArraySize(off), 2);
        uint64_t b = (uint64_t)cJSON_GetArrayItem(off, 0)->valuedouble;
        uint64_t en = (uint64_t)cJSON_GetArrayItem(off, 1)->valuedouble;
        cr_assert_eq(b, at, "%s: begins at %llu, not where the previous ends", e->string, (unsigned long long)b);
        cr_assert_eq(en - b, rnnck_tensor_nbytes(t));
        cr_assert_eq((8 + n + b) % rnnck_dtype_size(rnnck_tensor_dtype(t)), 0, "%s: not aligned", e->string);
        size_t nb;
        void *want = bytes_of(m, i, &nb);
        cr_assert(memcmp(file + 8 + n + b, want, nb) == 0, "%s: data bytes differ", e->string);
        free(want);
        at = en;
    }
    cr_assert_eq(k, nt);
    cr_assert(!p || !*p, "rnnck.order lists more than the tensors");
    cr_assert_eq(at, data_len, "the data must end where the last tensor ends");
    free(order);
    cJSON_Delete(root);
    free(file);
}

/* fixtures/<rel> opened and written by rnnck as test_dir/name (returned);
 * *m gets the opened model (freed when m is NULL). */
static char *written_as(const char *rel, const char *name, rnnck_model **m) {
    char *src = fixture_path(rel), *path = path_join(test_dir, name);
    rnnck_model *a = open_path(src, NULL);
    cr_assert_eq(rnnck_write(a, path, "safetensors"), RNNCK_OK, "%s: %s", rel, rnnck_errmsg());
    if (m)
        *m = a;
    else
        rnnck_model_free(a);
    free(src);
    return path;
}

static const char *const pt_fixtures[] = {
    "checkpoint.pt", "gru_bf16.pt", "gru_f16.pt", "gru_f64.pt", "lstm_bare.pt", "lstm_proj.pt", "model_sd.pt",
};

TestSuite(safetensors, .init = test_dir_setup, .fini = test_dir_teardown);

Test(safetensors, pt_to_safetensors_to_pt_is_bit_exact_for_every_fixture_dtype) {
    for (size_t k = 0; k < sizeof pt_fixtures / sizeof *pt_fixtures; k++) {
        char rel[128];
        snprintf(rel, sizeof rel, "pytorch/%s", pt_fixtures[k]);
        char *src = fixture_path(rel), *st = path_join(test_dir, "x.safetensors"), *pt = path_join(test_dir, "y.pt");
        rnnck_model *a = open_path(src, NULL);
        cr_assert_eq(rnnck_write(a, st, NULL), RNNCK_OK, "%s: %s", rel, rnnck_errmsg());
        rnnck_model *b = open_path(st, NULL);
        same_models(a, b, rel);
        cr_assert_eq(rnnck_write(b, pt, NULL), RNNCK_OK, "%s: %s", rel, rnnck_errmsg());
        rnnck_model *c = open_path(pt, NULL);
        same_models(a, c, rel);
        rnnck_model_free(a);
        rnnck_model_free(b);
        rnnck_model_free(c);
        free(src);
        free(st);
        free(pt);
    }
}

Test(safetensors, every_rnnck_dtype_survives_bit_for_bit) {
    static const rnnck_dtype all[] = {RNNCK_F32, RNNCK_F64, RNNCK_F16, RNNCK_BF16, RNNCK_I64,
                                      RNNCK_I32, RNNCK_I16, RNNCK_I8,  RNNCK_U8,   RNNCK_BOOL};
    rnnck_model *m;
    cr_assert_eq(rnnck_model_new(&m), RNNCK_OK);
    for (size_t k = 0; k < sizeof all / sizeof *all; k++) {
        int64_t shape[2] = {3, (int64_t)k + 1};
        rnnck_tensor *t;
        cr_assert_eq(rnnck_tensor_new(all[k], 2, shape, &t), RNNCK_OK);
        unsigned char *p = rnnck_tensor_data(t);
        for (size_t i = 0; i < rnnck_tensor_nbytes(t); i++) /* every bit pattern, NaN payloads included */
            p[i] = all[k] == RNNCK_BOOL ? (unsigned char)(i & 1) : (unsigned char)(i * 37 + k * 11 + 0x7f);
        char name[32];
        snprintf(name, sizeof name, "t.%s", rnnck_dtype_name(all[k]));
        cr_assert_eq(rnnck_model_add_tensor(m, name, t), RNNCK_OK, "%s", rnnck_errmsg());
        rnnck_tensor_free(t);
    }
    char *path = path_join(test_dir, "all.safetensors");
    cr_assert_eq(rnnck_write(m, path, "safetensors"), RNNCK_OK, "%s", rnnck_errmsg());
    check_written(m, path); /* odd sizes of every width: aligned only by the file's order */
    rnnck_model *b = open_path(path, NULL);
    same_models(m, b, "all dtypes");
    rnnck_model_free(m);
    rnnck_model_free(b);
    free(path);
}

/* Module `mod` of both models on the same input: identical outputs. */
static void same_forward(rnnck_model *a, rnnck_model *b, size_t mod) {
    const rnnck_module_info *info = rnnck_model_module(a, mod);
    int64_t shape[3] = {5, 2, info->input_size};
    rnnck_tensor *x;
    cr_assert_eq(rnnck_tensor_new(RNNCK_F32, 3, shape, &x), RNNCK_OK);
    float *p = rnnck_tensor_data(x);
    for (int64_t i = 0; i < rnnck_tensor_numel(x); i++) p[i] = (float)((i * 7919) % 23) / 11.0f - 1.0f;
    rnnck_forward_opts fo = {.threads = 1};
    rnnck_tensor *y[2], *h[2], *c[2];
    rnnck_model *ms[2] = {a, b};
    for (int k = 0; k < 2; k++)
        cr_assert_eq(rnnck_forward(ms[k], mod, x, NULL, NULL, NULL, &fo, &y[k], &h[k], &c[k]), RNNCK_OK, "%s",
                     rnnck_errmsg());
    cr_assert_eq(rnnck_tensor_nbytes(y[0]), rnnck_tensor_nbytes(y[1]));
    cr_assert(memcmp(rnnck_tensor_cdata(y[0]), rnnck_tensor_cdata(y[1]), rnnck_tensor_nbytes(y[0])) == 0,
              "module %s: outputs differ", info->name);
    cr_assert(memcmp(rnnck_tensor_cdata(h[0]), rnnck_tensor_cdata(h[1]), rnnck_tensor_nbytes(h[0])) == 0);
    for (int k = 0; k < 2; k++) {
        rnnck_tensor_free(y[k]);
        rnnck_tensor_free(h[k]);
        rnnck_tensor_free(c[k]);
    }
    rnnck_tensor_free(x);
}

Test(safetensors, forward_pass_of_the_converted_model_is_unchanged) {
    rnnck_model *a;
    char *st = written_as("pytorch/checkpoint.pt", "c.safetensors", &a);
    rnnck_model *b = open_path(st, NULL);
    cr_assert_eq(rnnck_model_module_count(a), 2);
    for (size_t i = 0; i < rnnck_model_module_count(a); i++) same_forward(a, b, i);
    rnnck_model_free(a);
    rnnck_model_free(b);
    free(st);
}

Test(safetensors, written_header_follows_the_published_format) {
    rnnck_model *m;
    char *st = written_as("pytorch/checkpoint.pt", "h.safetensors", &m);
    check_written(m, st);
    rnnck_model_free(m);
    free(st);
}

Test(safetensors, tensors_are_read_from_the_file_only_when_asked) {
    char *st = written_as("pytorch/lstm_bare.pt", "l.safetensors", NULL);
    rnnck_model *b = open_path(st, NULL);
    for (size_t i = 0; i < rnnck_model_tensor_count(b); i++)
        cr_assert(!rnnck__tensor_loaded(rnnck_model_tensor(b, i)), "tensor %zu loaded at open", i);
    /* change the last tensor's first byte in the file: a lazy reader sees it */
    size_t len;
    unsigned char *file = read_file(st, &len);
    rnnck_tensor *last = rnnck_model_tensor(b, rnnck_model_tensor_count(b) - 1);
    size_t at = len - rnnck_tensor_nbytes(last);
    unsigned char flipped = file[at] ^ 0x01;
    int fd = open(st, O_WRONLY);
    cr_assert(fd >= 0 && pwrite(fd, &flipped, 1, (off_t)at) == 1);
    close(fd);
    size_t n;
    unsigned char *got = bytes_of(b, rnnck_model_tensor_count(b) - 1, &n);
    cr_assert_eq(got[0], flipped, "the tensor was read at open, not when asked");
    free(got);
    /* a file cut short after opening: the read fails, naming file and tensor */
    cr_assert_eq(truncate(st, (off_t)(at + 1)), 0);
    void *buf = malloc(rnnck_tensor_nbytes(last));
    cr_assert_eq(rnnck_model_read(b, rnnck_tensor_name(last), rnnck_tensor_dtype(last), buf, rnnck_tensor_nbytes(last)),
                 RNNCK_E_FORMAT);
    cr_assert(strstr(rnnck_errmsg(), st) && strstr(rnnck_errmsg(), rnnck_tensor_name(last)), "%s", rnnck_errmsg());
    free(buf);
    free(file);
    rnnck_model_free(b);
    free(st);
}

Test(safetensors, semantics_beyond_pytorch_survive_through_the_metadata) {
    rnnck_model *m;
    cr_assert_eq(rnnck_model_new(&m), RNNCK_OK);
    rnnck_module_info lstm;
    rnnck_module_info_init(&lstm, RNNCK_CELL_LSTM);
    lstm.name = "enc.cell";
    lstm.input_size = 3, lstm.hidden_size = 4, lstm.proj_size = 2, lstm.peepholes = 1;
    lstm.forget_bias = 1.0, lstm.clip = 2.5, lstm.input_forget = 1, lstm.reverse = 1, lstm.output_reversed = 1;
    lstm.cell_clip = 0.1, lstm.proj_clip = 1.0 / 3.0; /* TF's (schema 1.2), beside ONNX's clip */
    lstm.act[0][0] = lstm.act[1][0] = (rnnck_activation){RNNCK_ACT_HARD_SIGMOID, 1.0 / 6.0, 0.5};
    cr_assert_eq(rnnck_model_add_module(m, &lstm), RNNCK_OK, "%s", rnnck_errmsg());
    rnnck_module_info gru;
    rnnck_module_info_init(&gru, RNNCK_CELL_GRU);
    gru.name = "dec";
    gru.input_size = 2, gru.hidden_size = 3, gru.bidirectional = 1, gru.linear_before_reset = 0;
    gru.merge_mode = RNNCK_MERGE_AVE, gru.batch_first = 1, gru.dtype = RNNCK_F64;
    cr_assert_eq(rnnck_model_add_module(m, &gru), RNNCK_OK, "%s", rnnck_errmsg());
    rnnck_rng *rng;
    cr_assert_eq(rnnck_rng_new(7, &rng), RNNCK_OK);
    for (size_t i = 0; i < rnnck_model_tensor_count(m); i++)
        cr_assert_eq(rnnck_init_uniform(rnnck_model_tensor(m, i), -1.0, 1.0, rng), RNNCK_OK, "%s", rnnck_errmsg());
    rnnck_rng_free(rng);
    char *path = path_join(test_dir, "sem.safetensors");
    cr_assert_eq(rnnck_write(m, path, NULL), RNNCK_OK, "%s", rnnck_errmsg());
    rnnck_model *b = open_path(path, NULL);
    same_models(m, b, "semantics");
    rnnck_model_free(m);
    rnnck_model_free(b);
    free(path);
}

/* ------------------------------------------- a file from elsewhere (HF) */

/* Compares m with fixtures/safetensors/<name>.expect (written by
 * make_safetensors_fixtures.py from the torch state_dict). */
static void matches_expect(rnnck_model *m, const char *name) {
    char rel[128];
    snprintf(rel, sizeof rel, "safetensors/%s.expect", name);
    char *path = fixture_path(rel);
    size_t len;
    char *text = (char *)read_file(path, &len);
    cr_assert(text, "cannot read %s", path);
    size_t tensors = 0, modules = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char kind[8], what[256], word[32];
        int used = 0;
        cr_assert_eq(sscanf(line, "%7s %255s %31s %n", kind, what, word, &used), 3, "bad line %s", line);
        if (!strcmp(kind, "tensor")) {
            rnnck_tensor *t;
            cr_assert_eq(rnnck_model_find(m, what, &t), RNNCK_OK, "%s: %s", what, rnnck_errmsg());
            cr_assert_str_eq(rnnck_dtype_name(rnnck_tensor_dtype(t)), word, "%s", what);
            char *p = line + used;
            long nd = strtol(p, &p, 10);
            cr_assert_eq(nd, rnnck_tensor_ndim(t), "%s", what);
            for (int d = 0; d < nd; d++) cr_assert_eq(strtoll(p, &p, 10), rnnck_tensor_dim(t, d), "%s", what);
            unsigned long crc = strtoul(p, NULL, 16);
            size_t n = rnnck_tensor_nbytes(t);
            void *buf = malloc(n ? n : 1);
            cr_assert_eq(rnnck_model_read(m, what, rnnck_tensor_dtype(t), buf, n), RNNCK_OK, "%s", rnnck_errmsg());
            cr_assert_eq(crc32_z(0, buf, n), crc, "%s: bytes differ from torch's", what);
            free(buf);
            tensors++;
        } else {
            long long v[7];
            cr_assert_eq(sscanf(line + used, "%lld %lld %lld %lld %lld %lld %lld", &v[0], &v[1], &v[2], &v[3], &v[4],
                                &v[5], &v[6]), 7);
            size_t idx;
            cr_assert_eq(rnnck_model_find_module(m, what, &idx), RNNCK_OK, "module %s", what);
            const rnnck_module_info *i = rnnck_model_module(m, idx);
            cr_assert_str_eq(rnnck_cell_name(i->cell), word);
            cr_assert(i->input_size == v[0] && i->hidden_size == v[1] && i->num_layers == v[2] && i->bias == v[3] &&
                          i->bidirectional == v[4] && i->batch_first == v[5] && i->proj_size == v[6],
                      "module %s differs from torch's", what);
            modules++;
        }
    }
    cr_assert_eq(rnnck_model_tensor_count(m), tensors);
    cr_assert_eq(rnnck_model_module_count(m), modules);
    free(text);
    free(path);
}

Test(safetensors, hugging_face_file_reads_as_a_state_dict_with_its_modules) {
    char *path = fixture_path("safetensors/hf_tagger.safetensors");
    const char *sets[] = {"encoder.lstm.batch_first=true", NULL};
    rnnck_open_opts opts = {.sets = sets};
    rnnck_model *m = open_path(path, &opts);
    matches_expect(m, "hf_tagger");
    rnnck_model_free(m);
    free(path);
}

Test(safetensors, converting_to_a_fifo_streams_the_same_bytes_as_a_file) {
    char *src = fixture_path("pytorch/checkpoint.pt"), *ref = path_join(test_dir, "ref.safetensors");
    char *fifo = path_join(test_dir, "out.fifo"), *got = path_join(test_dir, "got.safetensors");
    rnnck_model *m = open_path(src, NULL);
    cr_assert_eq(rnnck_write(m, ref, NULL), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    pid_t child = fork();
    if (child == 0) { /* the FIFO's reader copies it to a file */
        int in = open(fifo, O_RDONLY), out = open(got, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        char buf[4096];
        ssize_t n;
        while ((n = read(in, buf, sizeof buf)) > 0)
            if (write(out, buf, (size_t)n) != n) _exit(1);
        _exit(n < 0);
    }
    cr_assert_eq(rnnck_write(m, fifo, "safetensors"), RNNCK_OK, "%s", rnnck_errmsg());
    int status;
    cr_assert_eq(waitpid(child, &status, 0), child);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    size_t la, lb;
    unsigned char *a = read_file(ref, &la), *b = read_file(got, &lb);
    cr_assert(a && b && la == lb && memcmp(a, b, la) == 0, "the FIFO got other bytes than the file");
    struct stat sb;
    cr_assert(stat(fifo, &sb) == 0 && S_ISFIFO(sb.st_mode), "the FIFO was replaced");
    free(a);
    free(b);
    rnnck_model_free(m);
    free(src);
    free(ref);
    free(fifo);
    free(got);
}

Test(safetensors, failed_write_leaves_the_old_file_alone) {
    char *path = path_join(test_dir, "keep.safetensors");
    cr_assert_eq(write_file(path, "old", 3), 0);
    char *src = fixture_path("pytorch/checkpoint.pt");
    rnnck_model *m = open_path(src, NULL);
    /* a tensor that cannot be read makes the write fail midway */
    char *st = path_join(test_dir, "src.safetensors");
    cr_assert_eq(rnnck_write(m, st, NULL), RNNCK_OK, "%s", rnnck_errmsg());
    rnnck_model *b = open_path(st, NULL);
    cr_assert_eq(truncate(st, 100), 0);
    cr_assert_neq(rnnck_write(b, path, NULL), RNNCK_OK);
    size_t len;
    unsigned char *left = read_file(path, &len);
    cr_assert(left && len == 3 && !memcmp(left, "old", 3), "the old file was touched");
    free(left);
    rnnck_model_free(m);
    rnnck_model_free(b);
    free(path);
    free(src);
    free(st);
}

Test(safetensors, cli_converts_and_validates_pt_against_safetensors) {
    char *src = fixture_path("pytorch/checkpoint.pt"), *st = path_join(test_dir, "cli.safetensors");
    tool_result r = run_tool("convert", src, st, NULL);
    cr_assert_eq(r.exit_code, 0, "convert: %s", r.err);
    tool_result_free(&r);
    r = run_tool("validate", src, st, NULL);
    cr_assert_eq(r.exit_code, 0, "validate: %s%s", r.out, r.err);
    cr_assert(strstr(r.out, "result: ok"), "%s", r.out);
    tool_result_free(&r);
    r = run_tool("inspect", st, NULL);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "format safetensors"), "%s", r.out);
    tool_result_free(&r);
    free(src);
    free(st);
}

/* ------------------------------------------------------ malformed files */

/* Writes name: the 8-byte length `hlen` (the header's own length when
 * hlen_override is 0), header, then `data` bytes of 0x3f (or none). */
static char *craft_len(const char *name, uint64_t hlen_override, const char *header, size_t data) {
    char *path = path_join(test_dir, name);
    size_t h = strlen(header);
    uint64_t hlen = hlen_override ? hlen_override : h;
    unsigned char *buf = malloc(8 + h + data + 1);
    for (int k = 0; k < 8; k++) buf[k] = (unsigned char)(hlen >> (8 * k));
    memcpy(buf + 8, header, h);
    memset(buf + 8 + h, 0x3f, data);
    cr_assert_eq(write_file(path, buf, 8 + h + data), 0);
    free(buf);
    return path;
}
static char *craft(const char *name, const char *header, size_t data) { return craft_len(name, 0, header, data); }

/* Opening path fails with `want`, the message naming the file and `field`. */
static void refused(char *path, rnnck_status want, const char *field) {
    rnnck_model *m = NULL;
    rnnck_open_opts opts = {.format = "safetensors"};
    rnnck_status st = rnnck_open(path, &opts, &m);
    cr_expect_eq(st, want, "%s: status %d (%s), expected %d", path, st, rnnck_errmsg(), want);
    cr_expect(strstr(rnnck_errmsg(), path), "message does not name the file: %s", rnnck_errmsg());
    cr_expect(strstr(rnnck_errmsg(), field), "message does not name '%s': %s", field, rnnck_errmsg());
    rnnck_model_free(m);
    free(path);
}

#define T1(n) "\"" n "\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}"

Test(safetensors, file_shorter_than_the_length_field_is_refused) {
    char *path = path_join(test_dir, "short.safetensors");
    cr_assert_eq(write_file(path, "\x02\0\0", 3), 0);
    refused(path, RNNCK_E_FORMAT, "8-byte header length");
}

/* Hand-made headers, each refused at open naming the file and a field. */
typedef struct bad_case {
    const char *what, *file;
    uint64_t hlen; /* the length field, when not the header's own */
    const char *header;
    size_t data;
    rnnck_status status;
    const char *field;
} bad_case;

static const bad_case bad_cases[] = {
    {"header over 100 mb", "big.safetensors", 100000001, "{}", 0, RNNCK_E_FORMAT, "format's limit"},
    {"header length past the end of the file", "past.safetensors", 4096,
     "{" T1("a") "}",
     8, RNNCK_E_FORMAT, "header length 4096"},
    {"header not starting with a brace", "brace.safetensors", 0, " {" T1("a") "}", 8, RNNCK_E_FORMAT, "start with '{'"},
    {"header that is not utf8", "utf8.safetensors", 0,
     "{\"a\xc3\x28\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
     8, RNNCK_E_FORMAT, "UTF-8"},
    {"header that is not json", "json.safetensors", 0,
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,],\"data_offsets\":[0,8]}}",
     8, RNNCK_E_FORMAT, "not valid JSON"},
    {"bytes after the json object", "trail.safetensors", 0,
     "{" T1("a") "}  x     ",
     8, RNNCK_E_FORMAT, "after its JSON"},
    {"unknown dtype", "dtype.safetensors", 0,
     "{\"w\":{\"dtype\":\"F33\",\"shape\":[2],\"data_offsets\":[0,8]}}",
     8, RNNCK_E_FORMAT, "dtype F33"},
    {"format dtype rnnck lacks (unsupported)", "u16.safetensors", 0,
     "{\"w\":{\"dtype\":\"U16\",\"shape\":[4],\"data_offsets\":[0,8]}}",
     8, RNNCK_E_UNSUPPORTED, "dtype U16"},
    {"duplicate tensor names", "dup.safetensors", 0,
     "{" T1("w") ",\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
     16, RNNCK_E_FORMAT, "name w appears twice"},
    {"overlapping offsets", "overlap.safetensors", 0,
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
     12, RNNCK_E_FORMAT, "overlap tensor a"},
    {"gap between tensors", "gap.safetensors", 0,
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}",
     20, RNNCK_E_FORMAT, "tensor b: data_offsets begin at 12"},
    {"data beyond the last tensor is an incomplete buffer", "tail.safetensors", 0,
     "{" T1("a") "}",
     12, RNNCK_E_FORMAT, "incomplete buffer"},
    {"offsets outside the file", "out.safetensors", 0,
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
     4, RNNCK_E_FORMAT, "past the end of the file"},
    {"end before begin", "rev.safetensors", 0,
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,0]}}",
     8, RNNCK_E_FORMAT, "end before begin"},
    {"offsets not matching shape and dtype", "size.safetensors", 0,
     "{\"a\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,8]}}",
     8, RNNCK_E_FORMAT, "shape and dtype need 16"},
    {"shape whose product overflows", "ovf.safetensors", 0,
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[2147483648,2147483648,2147483648],\"data_offsets\":[0,8]}}",
     8, RNNCK_E_FORMAT, "overflows"},
    {"negative or fractional dimension", "neg.safetensors", 0,
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}",
     8, RNNCK_E_FORMAT, "shape[0]"},
    {"negative or fractional dimension", "frac.safetensors", 0,
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,8]}}",
     8, RNNCK_E_FORMAT, "shape[0]"},
    {"non string metadata value", "mdval.safetensors", 0,
     "{\"__metadata__\":{\"format\":1}," T1("a") "}",
     8, RNNCK_E_FORMAT, "__metadata__ format"},
    {"duplicate metadata key", "mddup.safetensors", 0,
     "{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}," T1("a") "}",
     8, RNNCK_E_FORMAT, "__metadata__ k: key appears twice"},
    {"entry missing or repeating a field", "miss.safetensors", 0,
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}",
     8, RNNCK_E_FORMAT, "missing field data_offsets"},
    {"entry missing or repeating a field", "twice.safetensors", 0,
     "{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
     8, RNNCK_E_FORMAT, "field dtype appears twice"},
    {"entry missing or repeating a field", "extra.safetensors", 0,
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"x\":1}}",
     8, RNNCK_E_FORMAT, "unknown field 'x'"},
    {"NUL escape in a name", "nul.safetensors", 0,
     "{\"a\\u0000b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
     8, RNNCK_E_FORMAT, "\\u0000"},
};

Test(safetensors, each_malformed_header_is_refused_naming_the_file_and_field) {
    for (size_t i = 0; i < sizeof bad_cases / sizeof *bad_cases; i++) {
        const bad_case *c = &bad_cases[i];
        cr_log_info("case %s", c->what);
        refused(craft_len(c->file, c->hlen, c->header, c->data), c->status, c->field);
    }
}

Test(safetensors, tensor_count_over_the_limit_is_refused) {
    rnnck_limits lim;
    rnnck_limits_init(&lim);
    lim.max_tensors = 1;
    char *path = craft("many.safetensors",
                       "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                       "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8);
    rnnck_open_opts opts = {.limits = &lim};
    rnnck_model *m = NULL;
    cr_assert_eq(rnnck_open(path, &opts, &m), RNNCK_E_NOMEM, "%s", rnnck_errmsg());
    cr_assert(strstr(rnnck_errmsg(), "limit"), "%s", rnnck_errmsg());
    free(path);
}

Test(safetensors, bool_element_other_than_0_or_1_is_refused_when_read) {
    char *path = craft("bool.safetensors", "{\"b\":{\"dtype\":\"BOOL\",\"shape\":[8],\"data_offsets\":[0,8]}}", 8);
    rnnck_model *m = open_path(path, NULL);
    unsigned char buf[8];
    cr_assert_eq(rnnck_model_read(m, "b", RNNCK_BOOL, buf, 8), RNNCK_E_FORMAT);
    cr_assert(strstr(rnnck_errmsg(), "BOOL element 0"), "%s", rnnck_errmsg());
    rnnck_model_free(m);
    free(path);
}

/* fixtures/pytorch/lstm_bare.pt written by rnnck as test_dir/name. */
static char *lstm_bare_as(const char *name) { return written_as("pytorch/lstm_bare.pt", name, NULL); }

/* A written file whose rnnck metadata value `key` is replaced by `value`
 * (the same length keeps the header length). */
static char *tampered(const char *name, const char *key, const char *value) {
    size_t len;
    char *path = lstm_bare_as(name), *file = (char *)read_file(path, &len);
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    char *at = strstr(file + 8, pat);
    cr_assert(at, "%s not in the header", key);
    at += strlen(pat);
    cr_assert(strlen(value) == (size_t)(strchr(at, '"') - at), "value must keep its length");
    memcpy(at, value, strlen(value));
    cr_assert_eq(write_file(path, file, len), 0);
    free(file);
    return path;
}

Test(safetensors, malformed_rnnck_metadata_is_refused_naming_the_key) {
    refused(tampered("hid.safetensors", "rnnck.module.0.hidden_size", "x"), RNNCK_E_FORMAT,
            "rnnck.module.0.hidden_size: not a decimal integer");
    refused(tampered("cell.safetensors", "rnnck.module.0.module", "LSTX"), RNNCK_E_FORMAT, "rnnck.module.0.module");
    refused(tampered("bias.safetensors", "rnnck.module.0.bias", "2"), RNNCK_E_FORMAT, "rnnck.module.0.bias");
    refused(tampered("count.safetensors", "rnnck.modules", "9"), RNNCK_E_FORMAT, "rnnck.modules");
    refused(tampered("merge.safetensors", "rnnck.module.0.merge_mode", "summ00"), RNNCK_E_FORMAT,
            "rnnck.module.0.merge_mode");
    refused(tampered("schema.safetensors", "rnnck.schema", "9.1"), RNNCK_E_UNSUPPORTED, "rnnck.schema");
}

Test(safetensors, described_module_with_wrong_shapes_is_refused) {
    /* hidden_size 5 -> 6 (same length): the stored weights no longer fit */
    char *path = tampered("shape.safetensors", "rnnck.module.0.hidden_size", "6");
    refused(path, RNNCK_E_FORMAT, "weight_ih_l0");
}

Test(safetensors, cli_exits_3_naming_the_file_for_a_bad_header) {
    char *path = craft("cli_bad.safetensors", "{" T1("a") "}", 4);
    tool_result r = run_tool("inspect", path, NULL);
    cr_assert_eq(r.exit_code, 3, "%s", r.err);
    cr_assert(strstr(r.err, path) && strstr(r.err, "data_offsets"), "%s", r.err);
    tool_result_free(&r);
    free(path);
}

/* A written file whose __metadata__ gets key=value set, or key removed when
 * value is NULL (header rebuilt with cJSON and padded again; the data is
 * unchanged). */
static char *with_metadata(const char *name, const char *key, const char *value) {
    size_t len;
    char *path = lstm_bare_as(name);
    unsigned char *file = read_file(path, &len);
    uint64_t n = le64(file);
    cJSON *root = cJSON_ParseWithLength((const char *)file + 8, n);
    cJSON *md = cJSON_GetObjectItem(root, "__metadata__");
    cJSON_DeleteItemFromObjectCaseSensitive(md, key);
    if (value) cJSON_AddStringToObject(md, key, value);
    char *text = cJSON_PrintUnformatted(root);
    size_t h = strlen(text), padded = (h + 7) / 8 * 8;
    unsigned char *out = malloc(8 + padded + (len - 8 - n));
    for (int k = 0; k < 8; k++) out[k] = (unsigned char)((uint64_t)padded >> (8 * k));
    memcpy(out + 8, text, h);
    memset(out + 8 + h, ' ', padded - h);
    memcpy(out + 8 + padded, file + 8 + n, len - 8 - n);
    cr_assert_eq(write_file(path, out, 8 + padded + (len - 8 - n)), 0);
    free(out);
    free(text);
    cJSON_Delete(root);
    free(file);
    return path;
}

Test(safetensors, unknown_module_attribute_of_a_later_minor_version_is_ignored) {
    char *path = with_metadata("later.safetensors", "rnnck.module.0.zoneout", "0.1");
    rnnck_model *m = open_path(path, NULL);
    cr_assert_eq(rnnck_model_module_count(m), 1);
    rnnck_model_free(m);
    free(path);
}

Test(safetensors, tf_clips_absent_from_files_before_schema_1_2_read_as_none_and_bad_ones_are_refused) {
    char *path = with_metadata("old.safetensors", "rnnck.module.0.cell_clip", NULL);
    free(with_metadata("old.safetensors", "rnnck.module.0.proj_clip", NULL));
    rnnck_model *m = open_path(path, NULL);
    cr_assert_eq(rnnck_model_module(m, 0)->cell_clip, 0);
    cr_assert_eq(rnnck_model_module(m, 0)->proj_clip, 0);
    rnnck_model_free(m);
    free(path);
    path = with_metadata("cc.safetensors", "rnnck.module.0.cell_clip", "0.5");
    m = open_path(path, NULL);
    cr_assert_eq(rnnck_model_module(m, 0)->cell_clip, 0.5);
    rnnck_model_free(m);
    free(path);
    refused(tampered("ccx.safetensors", "rnnck.module.0.cell_clip", "x"), RNNCK_E_FORMAT,
            "rnnck.module.0.cell_clip: not a finite number");
    refused(with_metadata("ccneg.safetensors", "rnnck.module.0.cell_clip", "-1"), RNNCK_E_FORMAT,
            "cell_clip and proj_clip must be finite and >= 0");
    /* lstm_bare has no projection */
    refused(with_metadata("pc.safetensors", "rnnck.module.0.proj_clip", "1"), RNNCK_E_FORMAT,
            "proj_clip clips the projected output and needs proj_size > 0");
}

Test(safetensors, module_index_beyond_the_count_is_refused) {
    refused(with_metadata("index.safetensors", "rnnck.module.1.name", "x"), RNNCK_E_FORMAT,
            "rnnck.module.1.name: module 1");
    refused(with_metadata("lead.safetensors", "rnnck.module.00.name", "x"), RNNCK_E_FORMAT, "rnnck.module.00.name");
}

Test(safetensors, attribute_of_another_cell_is_refused) {
    refused(with_metadata("lbr.safetensors", "rnnck.module.0.linear_before_reset", "1"), RNNCK_E_FORMAT,
            "rnnck.module.0.linear_before_reset: does not apply");
}

Test(safetensors, header_length_that_looks_like_onnx_is_detected_as_safetensors) {
    /* 0x3a1208: the first bytes 08 12 3a are what an ONNX ModelProto starts with */
    size_t h = 0x3a1208;
    char *header = malloc(h + 1);
    const char *json = "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
    memset(header, ' ', h);
    memcpy(header, json, strlen(json));
    header[h] = 0;
    char *path = craft("onnxish.safetensors", header, 4);
    const char *fmt = NULL;
    cr_assert_eq(rnnck_detect_format(path, &fmt), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_str_eq(fmt, "safetensors");
    rnnck_model *m = open_path(path, NULL);
    cr_assert_eq(rnnck_model_tensor_count(m), 1);
    rnnck_model_free(m);
    free(header);
    free(path);
}

Test(safetensors, names_the_format_cannot_hold_are_refused_before_writing) {
    static const char *const names[] = {"__metadata__", "bad\xff.name"};
    for (size_t k = 0; k < 2; k++) {
        rnnck_model *m;
        cr_assert_eq(rnnck_model_new(&m), RNNCK_OK);
        int64_t shape[1] = {2};
        rnnck_tensor *t;
        cr_assert_eq(rnnck_tensor_new(RNNCK_F32, 1, shape, &t), RNNCK_OK);
        cr_assert_eq(rnnck_model_add_tensor(m, names[k], t), RNNCK_OK, "%s", rnnck_errmsg());
        rnnck_tensor_free(t);
        char *path = path_join(test_dir, "names.safetensors");
        cr_assert_eq(rnnck_write(m, path, NULL), RNNCK_E_UNSUPPORTED, "%s", rnnck_errmsg());
        cr_assert(strstr(rnnck_errmsg(), path), "%s", rnnck_errmsg());
        cr_assert(access(path, F_OK) != 0, "a refused write left a file");
        rnnck_model_free(m);
        free(path);
    }
}

Test(safetensors, hugging_face_lstm_runs_forward_as_torch_does) {
    char *path = fixture_path("safetensors/hf_tagger.safetensors");
    char *xin = fixture_path("safetensors/hf_tagger_lstm_input.npy");
    char *yout = fixture_path("safetensors/hf_tagger_lstm_output.npy");
    const char *sets[] = {"encoder.lstm.batch_first=true", NULL};
    rnnck_open_opts opts = {.sets = sets};
    rnnck_model *m = open_path(path, &opts);
    rnnck_tensor *x, *want, *y, *h, *c;
    cr_assert_eq(rnnck_npy_load(xin, &x), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_npy_load(yout, &want), RNNCK_OK, "%s", rnnck_errmsg());
    size_t mod;
    cr_assert_eq(rnnck_model_find_module(m, "encoder.lstm", &mod), RNNCK_OK);
    rnnck_forward_opts fo = {.threads = 1};
    cr_assert_eq(rnnck_forward(m, mod, x, NULL, NULL, NULL, &fo, &y, &h, &c), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_tensor_numel(y), rnnck_tensor_numel(want));
    const float *a = rnnck_tensor_cdata(y), *b = rnnck_tensor_cdata(want);
    for (int64_t i = 0; i < rnnck_tensor_numel(y); i++)
        cr_assert_float_eq(a[i], b[i], 1e-5 + 1e-4 * (b[i] < 0 ? -b[i] : b[i]), "output[%lld]", (long long)i);
    rnnck_tensor_free(x);
    rnnck_tensor_free(want);
    rnnck_tensor_free(y);
    rnnck_tensor_free(h);
    rnnck_tensor_free(c);
    rnnck_model_free(m);
    free(path);
    free(xin);
    free(yout);
}

Test(safetensors, rnnck_order_puts_the_tensors_back_in_model_order) {
    char *plain = lstm_bare_as("plain.safetensors");
    rnnck_model *a = open_path(plain, NULL);
    size_t n = rnnck_model_tensor_count(a);
    char order[256] = "";
    for (size_t k = 0, used = 0; k < n; k++) used += (size_t)snprintf(order + used, sizeof order - used, "%s%zu", k ? "," : "", n - 1 - k);
    char *rev = with_metadata("rev.safetensors", "rnnck.order", order);
    rnnck_model *b = open_path(rev, NULL);
    for (size_t i = 0; i < n; i++) /* model position n-1-k holds the file's k-th tensor */
        cr_assert_str_eq(rnnck_tensor_name(rnnck_model_tensor(b, n - 1 - i)), rnnck_tensor_name(rnnck_model_tensor(a, i)));
    rnnck_model_free(a);
    rnnck_model_free(b);
    free(plain);
    free(rev);
    refused(with_metadata("dup_order.safetensors", "rnnck.order", "0,0"), RNNCK_E_FORMAT, "rnnck.order: entry 1");
    refused(with_metadata("short_order.safetensors", "rnnck.order", "1,0"), RNNCK_E_FORMAT, "rnnck.order: entry 2");
}

Test(safetensors, cli_reads_a_hugging_face_file_with_set_for_what_names_cannot_tell) {
    char *path = fixture_path("safetensors/hf_tagger.safetensors");
    tool_result r = run_tool("inspect", path, "--from", "safetensors", "--set", "encoder.lstm.batch_first=true", NULL);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "module encoder.lstm: LSTM input_size=6 hidden_size=5 num_layers=2") &&
                  strstr(r.out, "bidirectional=1 batch_first=1"),
              "%s", r.out);
    cr_assert(strstr(r.out, "module decoder.gru: GRU input_size=10 hidden_size=4") && strstr(r.out, "dtype=float16"),
              "%s", r.out);
    tool_result_free(&r);
    free(path);
}
