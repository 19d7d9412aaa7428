/* NumPy .npz archives keyed by PyTorch names: np.savez (stored) and
 * np.savez_compressed (deflated) files made by real NumPy/PyTorch decode
 * bit-exactly against their manifests; modules are inferred; the writer's
 * output reads back identically; bfloat16 and pickled arrays are refused. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "helpers/testutil.h"
#include "rnnck.h"

static uint32_t crc32_of(const void *data, size_t len) { return (uint32_t)crc32_z(0, data, len); }

/* Compares m with fixtures/pytorch/<name>.expect (format: see
 * make_pytorch_fixtures.py): tensors by dtype, shape, CRC-32; modules. */
static void check_manifest(rnnck_model *m, const char *name) {
    char rel[256];
    snprintf(rel, sizeof rel, "pytorch/%s.expect", name);
    char *path = fixture_path(rel);
    FILE *f = fopen(path, "r");
    cr_assert(f, "cannot open %s", path);
    char line[2048];
    size_t tensors = 0, modules = 0;
    while (fgets(line, sizeof line, f)) {
        char kind[16], tname[1024], dtype[32], cell[16];
        if (sscanf(line, "%15s %1023s", kind, tname) != 2) continue;
        if (!strcmp(kind, "tensor")) {
            int ndim, used;
            sscanf(line, "%*s %*s %31s %d%n", dtype, &ndim, &used);
            const char *p = line + used;
            rnnck_tensor *t;
            cr_assert_eq(rnnck_model_find(m, tname, &t), RNNCK_OK, "%s: %s", name, rnnck_errmsg());
            cr_assert_str_eq(rnnck_dtype_name(rnnck_tensor_dtype(t)), dtype);
            cr_assert_eq(rnnck_tensor_ndim(t), ndim);
            for (int i = 0; i < ndim; i++) {
                long long d;
                int k;
                sscanf(p, "%lld%n", &d, &k);
                p += k;
                cr_assert_eq(rnnck_tensor_dim(t, i), d, "%s dim %d", tname, i);
            }
            unsigned crc;
            sscanf(p, "%x", &crc);
            size_t n = rnnck_tensor_nbytes(t);
            void *buf = malloc(n ? n : 1);
            cr_assert_eq(rnnck_model_read(m, tname, rnnck_tensor_dtype(t), buf, n), RNNCK_OK, "%s", rnnck_errmsg());
            cr_assert_eq(crc32_of(buf, n), crc, "%s: %s bytes differ", name, tname);
            free(buf);
            tensors++;
        } else if (!strcmp(kind, "module")) {
            long long in, hid, layers, proj;
            int bias, bidir, bf;
            sscanf(line, "%*s %*s %15s %lld %lld %lld %d %d %d %lld", cell, &in, &hid, &layers, &bias, &bidir, &bf,
                   &proj);
            size_t idx;
            cr_assert_eq(rnnck_model_find_module(m, strcmp(tname, "-") ? tname : "", &idx), RNNCK_OK, "%s",
                         rnnck_errmsg());
            const rnnck_module_info *info = rnnck_model_module(m, idx);
            cr_assert_str_eq(rnnck_cell_name(info->cell), cell);
            cr_assert(info->input_size == in && info->hidden_size == hid && info->num_layers == layers);
            cr_assert(info->bias == bias && info->bidirectional == bidir && info->batch_first == bf);
            cr_assert_eq(info->proj_size, proj);
            modules++;
        }
    }
    fclose(f);
    free(path);
    cr_assert_eq(rnnck_model_tensor_count(m), tensors);
    cr_assert_eq(rnnck_model_module_count(m), modules);
}

static rnnck_model *open_fixture(const char *rel) {
    char *path = fixture_path(rel);
    rnnck_model *m = NULL;
    cr_assert_eq(rnnck_open(path, NULL, &m), RNNCK_OK, "%s: %s", rel, rnnck_errmsg());
    free(path);
    return m;
}

Test(npz, detects_npz_by_content) {
    char *path = fixture_path("pytorch/lstm.npz");
    const char *fmt;
    cr_assert_eq(rnnck_detect_format(path, &fmt), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_str_eq(fmt, "npz");
    free(path);
}

Test(npz, reads_np_savez_and_infers_the_lstm) {
    rnnck_model *m = open_fixture("pytorch/lstm.npz");
    check_manifest(m, "lstm_npz");
    rnnck_model_free(m);
}

Test(npz, reads_np_savez_compressed_with_nested_names) {
    rnnck_model *m = open_fixture("pytorch/model_compressed.npz");
    check_manifest(m, "model_compressed_npz");
    rnnck_model_free(m);
}

Test(npz, round_trips_bit_exact_and_writes_stored_npy_members) {
    rnnck_model *m = open_fixture("pytorch/model_compressed.npz");
    char *dir = tmpdir_new(), *out = path_join(dir, "x.npz");
    cr_assert_eq(rnnck_write(m, out, NULL), RNNCK_OK, "%s", rnnck_errmsg());
    rnnck_model *r;
    cr_assert_eq(rnnck_open(out, NULL, &r), RNNCK_OK, "%s", rnnck_errmsg());
    check_manifest(r, "model_compressed_npz");
    size_t n;
    unsigned char *b = read_file(out, &n);
    cr_assert(n > 30 && !memcmp(b, "PK\3\4", 4));
    cr_assert_eq(b[8] | b[9] << 8, 0, "stored");
    size_t nl = b[26] | (size_t)b[27] << 8, el = b[28] | (size_t)b[29] << 8;
    cr_assert(!memcmp(b + 30 + nl - 4, ".npy", 4));
    cr_assert(!memcmp(b + 30 + nl + el, "\x93NUMPY\x01\x00", 8));
    const char *xdir = getenv("RNNCK_CROSSCHECK_DIR");
    if (xdir) {
        char name[300];
        snprintf(name, sizeof name, "%s/model_compressed_npz.rnnck.npz", xdir);
        write_file(name, b, n);
    }
    free(b);
    rnnck_model_free(r);
    rnnck_model_free(m);
    free(out);
    tmpdir_remove(dir);
}

Test(npz, pytorch_to_npz_to_pytorch_keeps_every_tensor) {
    rnnck_model *m = open_fixture("pytorch/lstm_proj.pt");
    char *dir = tmpdir_new(), *npz = path_join(dir, "x.npz"), *pt = path_join(dir, "y.pt");
    cr_assert_eq(rnnck_write(m, npz, "npz"), RNNCK_OK, "%s", rnnck_errmsg());
    rnnck_model *a;
    cr_assert_eq(rnnck_open(npz, NULL, &a), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_write(a, pt, NULL), RNNCK_OK, "%s", rnnck_errmsg());
    rnnck_model *b;
    cr_assert_eq(rnnck_open(pt, NULL, &b), RNNCK_OK, "%s", rnnck_errmsg());
    check_manifest(b, "lstm_proj");
    rnnck_model_free(a);
    rnnck_model_free(b);
    rnnck_model_free(m);
    free(npz);
    free(pt);
    tmpdir_remove(dir);
}

Test(npz, refuses_bfloat16_which_numpy_lacks) {
    rnnck_model *m = open_fixture("pytorch/gru_bf16.pt");
    char *dir = tmpdir_new(), *out = path_join(dir, "x.npz");
    cr_assert_eq(rnnck_write(m, out, NULL), RNNCK_E_INEXACT);
    cr_assert(strstr(rnnck_errmsg(), "bfloat16"), "%s", rnnck_errmsg());
    FILE *f = fopen(out, "rb");
    cr_assert_null(f, "nothing written");
    rnnck_model_free(m);
    free(out);
    tmpdir_remove(dir);
}

Test(npz, refuses_pickled_object_arrays) {
    char *path = fixture_path("pytorch/bad/object_array.npz");
    rnnck_model *m = NULL;
    rnnck_status st = rnnck_open(path, NULL, &m);
    cr_assert(st == RNNCK_E_UNSUPPORTED || st == RNNCK_E_FORMAT, "status %d: %s", st, rnnck_errmsg());
    cr_assert_null(m);
    cr_assert(strstr(rnnck_errmsg(), "a.npy"), "names the member: %s", rnnck_errmsg());
    free(path);
}

Test(npz, refuses_members_that_are_not_npy) {
    char *dir = tmpdir_new(), *bad = path_join(dir, "x.npz");
    /* a .pt archive forced through the npz reader */
    char *src = fixture_path("pytorch/gru_bare.pt");
    size_t n;
    unsigned char *b = read_file(src, &n);
    write_file(bad, b, n);
    rnnck_open_opts o = {.format = "npz"};
    rnnck_model *m = NULL;
    cr_assert_eq(rnnck_open(bad, &o, &m), RNNCK_E_FORMAT);
    cr_assert(strstr(rnnck_errmsg(), "not a .npy"), "%s", rnnck_errmsg());
    free(b);
    free(src);
    free(bad);
    tmpdir_remove(dir);
}
