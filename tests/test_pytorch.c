/* torch.save archives: every kind of saved object decoded bit-exactly against
 * manifests written by real PyTorch 1.13 (fixtures/pytorch/NAME.expect: dtype,
 * shape and CRC-32 of each tensor's bytes, and each recurrent module's
 * constructor arguments), round trips through the writer, the writer's
 * refusals, and damaged archives. */
#define _GNU_SOURCE /* memmem */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <zip.h>
#include <zlib.h>

#include "common/zipfile.h" /* to rebuild archives around corrupted pickles */
#include "helpers/testutil.h"
#include "rnnck.h"

/* ----------------------------------------------------------- manifests */

static uint32_t crc32_of(const void *data, size_t len) { return (uint32_t)crc32_z(0, data, len); }

/* Through rnnck_model_read: tensors of a zip archive are read lazily. */
static uint32_t tensor_crc(rnnck_model *m, rnnck_tensor *t) {
    size_t n = rnnck_tensor_nbytes(t);
    void *buf = malloc(n ? n : 1);
    cr_assert(buf);
    cr_assert_eq(rnnck_model_read(m, rnnck_tensor_name(t), rnnck_tensor_dtype(t), buf, n), RNNCK_OK, "%s",
                 rnnck_errmsg());
    uint32_t c = crc32_of(buf, n);
    free(buf);
    return c;
}

/* Compares model m with fixtures/pytorch/<name>.expect: every tensor (dtype,
 * shape, CRC-32 of its bytes), the tensor count, and every module. */
static void check_manifest(rnnck_model *m, const char *name) {
    char rel[256];
    snprintf(rel, sizeof rel, "pytorch/%s.expect", name);
    char *path = fixture_path(rel);
    FILE *f = fopen(path, "r");
    cr_assert(f, "cannot open %s", path);
    char line[2048];
    size_t tensors = 0, modules = 0;
    while (fgets(line, sizeof line, f)) {
        char kind[16], tname[1024];
        if (sscanf(line, "%15s %1023s", kind, tname) != 2) continue;
        if (!strcmp(kind, "tensor")) {
            char dtype[32];
            int ndim, used;
            sscanf(line, "%*s %*s %31s %d%n", dtype, &ndim, &used);
            const char *p = line + used;
            rnnck_tensor *t;
            cr_assert_eq(rnnck_model_find(m, tname, &t), RNNCK_OK, "%s: %s", name, rnnck_errmsg());
            cr_assert_str_eq(rnnck_dtype_name(rnnck_tensor_dtype(t)), dtype, "%s: %s dtype", name, tname);
            cr_assert_eq(rnnck_tensor_ndim(t), ndim, "%s: %s ndim", name, tname);
            for (int i = 0; i < ndim; i++) {
                long long d;
                int k;
                sscanf(p, "%lld%n", &d, &k);
                p += k;
                cr_assert_eq(rnnck_tensor_dim(t, i), d, "%s: %s dim %d", name, tname, i);
            }
            unsigned crc;
            sscanf(p, "%x", &crc);
            cr_assert_eq(tensor_crc(m, t), crc, "%s: %s bytes differ from PyTorch's", name, tname);
            tensors++;
        } else if (!strcmp(kind, "module")) {
            char cell[16];
            long long in, hid, layers, proj;
            int bias, bidir, bf;
            sscanf(line, "%*s %*s %15s %lld %lld %lld %d %d %d %lld", cell, &in, &hid, &layers, &bias, &bidir, &bf,
                   &proj);
            size_t idx;
            const char *mname = strcmp(tname, "-") ? tname : "";
            cr_assert_eq(rnnck_model_find_module(m, mname, &idx), RNNCK_OK, "%s: %s", name, rnnck_errmsg());
            const rnnck_module_info *info = rnnck_model_module(m, idx);
            cr_assert_str_eq(rnnck_cell_name(info->cell), cell, "%s: module %s cell", name, tname);
            cr_assert_eq(info->input_size, in, "%s: %s input_size", name, tname);
            cr_assert_eq(info->hidden_size, hid, "%s: %s hidden_size", name, tname);
            cr_assert_eq(info->num_layers, layers, "%s: %s num_layers", name, tname);
            cr_assert_eq(info->bias, bias, "%s: %s bias", name, tname);
            cr_assert_eq(info->bidirectional, bidir, "%s: %s bidirectional", name, tname);
            cr_assert_eq(info->batch_first, bf, "%s: %s batch_first", name, tname);
            cr_assert_eq(info->proj_size, proj, "%s: %s proj_size", name, tname);
            cr_assert(rnnck_module_info_is_pytorch(info));
            modules++;
        }
    }
    fclose(f);
    free(path);
    cr_assert_eq(rnnck_model_tensor_count(m), tensors, "%s: tensor count", name);
    cr_assert_eq(rnnck_model_module_count(m), modules, "%s: module count", name);
}

static rnnck_model *open_fixture(const char *rel, const rnnck_open_opts *opts) {
    char full[256];
    snprintf(full, sizeof full, "pytorch/%s", rel);
    char *path = fixture_path(full);
    rnnck_model *m = NULL;
    rnnck_status st = rnnck_open(path, opts, &m);
    cr_assert_eq(st, RNNCK_OK, "%s: %s", rel, rnnck_errmsg());
    free(path);
    return m;
}

static rnnck_status open_status(const char *rel, const rnnck_open_opts *opts) {
    char full[256];
    snprintf(full, sizeof full, "pytorch/%s", rel);
    char *path = fixture_path(full);
    rnnck_model *m = NULL;
    rnnck_status st = rnnck_open(path, opts, &m);
    free(path);
    cr_assert_null(m, "%s: failed open must not return a model", rel);
    if (st) {
        cr_assert_gt(strlen(rnnck_errmsg()), 0);
        cr_assert_null(strchr(rnnck_errmsg(), '\n'), "message must be one line: %s", rnnck_errmsg());
    }
    return st;
}

/* Opens and then reads every tensor: a zip archive's records are read
 * lazily, so damage inside one (a CRC-32 mismatch) shows at the first read. */
static rnnck_status open_and_read_status(const char *rel, const rnnck_open_opts *opts) {
    char full[256];
    snprintf(full, sizeof full, "pytorch/%s", rel);
    char *path = fixture_path(full);
    rnnck_model *m = NULL;
    rnnck_status st = rnnck_open(path, opts, &m);
    free(path);
    if (!st) {
        st = rnnck_model_load_all(m);
        rnnck_model_free(m);
    } else {
        cr_assert_null(m, "%s: failed open must not return a model", rel);
    }
    if (st) {
        cr_assert_gt(strlen(rnnck_errmsg()), 0);
        cr_assert_null(strchr(rnnck_errmsg(), '\n'), "message must be one line: %s", rnnck_errmsg());
    }
    return st;
}

/* fixture -> model -> .pt -> model, compared with the manifest both times;
 * a second write must produce the same bytes (the writer is deterministic). */
static void round_trip(const char *fixture, const char *manifest, const rnnck_open_opts *opts) {
    rnnck_model *m = open_fixture(fixture, opts);
    check_manifest(m, manifest);
    char *dir = tmpdir_new();
    char *out1 = path_join(dir, "one.pt"), *out2 = path_join(dir, "two.pt");
    cr_assert_eq(rnnck_write(m, out1, NULL), RNNCK_OK, "%s", rnnck_errmsg());
    rnnck_model *m2;
    rnnck_open_opts o2 = {0};
    if (opts) o2.sets = opts->sets; /* what a state_dict cannot tell */
    cr_assert_eq(rnnck_open(out1, &o2, &m2), RNNCK_OK, "%s", rnnck_errmsg());
    check_manifest(m2, manifest);
    cr_assert_eq(rnnck_write(m2, out2, "pytorch"), RNNCK_OK, "%s", rnnck_errmsg());
    size_t n1, n2;
    unsigned char *b1 = read_file(out1, &n1), *b2 = read_file(out2, &n2);
    cr_assert(b1 && b2 && n1 == n2 && !memcmp(b1, b2, n1), "%s: second write differs", fixture);
    const char *xdir = getenv("RNNCK_CROSSCHECK_DIR");
    if (xdir) { /* for tests/crosscheck/check_pt_roundtrip.py */
        char name[300];
        snprintf(name, sizeof name, "%s/%s.rnnck.pt", xdir, manifest);
        write_file(name, b1, n1);
    }
    free(b1);
    free(b2);
    rnnck_model_free(m);
    rnnck_model_free(m2);
    free(out1);
    free(out2);
    tmpdir_remove(dir);
}

/* ------------------------------------------------------------- reading */

Test(pytorch, detects_zip_archives_by_content) {
    char *path = fixture_path("pytorch/lstm_bare.pt");
    const char *fmt;
    cr_assert_eq(rnnck_detect_format(path, &fmt), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_str_eq(fmt, "pytorch");
    free(path);
}

Test(pytorch, reads_bare_bidirectional_lstm_state_dict_bit_exact) {
    rnnck_model *m = open_fixture("lstm_bare.pt", NULL);
    check_manifest(m, "lstm_bare");
    rnnck_model_free(m);
}

Test(pytorch, reads_gru_without_bias) {
    rnnck_model *m = open_fixture("gru_bare.pt", NULL);
    check_manifest(m, "gru_bare");
    rnnck_model_free(m);
}

Test(pytorch, infers_rnn_as_tanh_by_default) {
    rnnck_model *m = open_fixture("rnn_relu_bare.pt", NULL);
    check_manifest(m, "rnn_relu_bare");
    cr_assert_eq(rnnck_model_module(m, 0)->cell, RNNCK_CELL_RNN_TANH);
    rnnck_model_free(m);
}

Test(pytorch, override_sets_relu_and_batch_first_of_root_module) {
    const char *sets[] = {"nonlinearity=relu", "batch_first=true", NULL};
    rnnck_open_opts o = {.sets = sets};
    rnnck_model *m = open_fixture("rnn_relu_bare.pt", &o);
    const rnnck_module_info *info = rnnck_model_module(m, 0);
    cr_assert_eq(info->cell, RNNCK_CELL_RNN_RELU);
    cr_assert_eq(info->act[0][0].kind, RNNCK_ACT_RELU);
    cr_assert_eq(info->batch_first, 1);
    cr_assert(rnnck_module_info_is_pytorch(info));
    rnnck_model_free(m);
}

Test(pytorch, override_of_nested_module_by_dotted_name) {
    const char *sets[] = {"encoder.rnn.batch_first=true", NULL};
    rnnck_open_opts o = {.sets = sets};
    rnnck_model *m = open_fixture("model_sd.pt", &o);
    size_t i;
    cr_assert_eq(rnnck_model_find_module(m, "encoder.rnn", &i), RNNCK_OK);
    cr_assert_eq(rnnck_model_module(m, i)->batch_first, 1);
    cr_assert_eq(rnnck_model_find_module(m, "decoder", &i), RNNCK_OK);
    cr_assert_eq(rnnck_model_module(m, i)->batch_first, 0);
    rnnck_model_free(m);
}

Test(pytorch, refuses_overrides_that_name_nothing) {
    const char *bad_module[] = {"nosuch.batch_first=true", NULL};
    const char *bad_attr[] = {"encoder.rnn.colour=red", NULL};
    const char *lstm_relu[] = {"encoder.rnn.nonlinearity=relu", NULL};
    const char *no_eq[] = {"batch_first", NULL};
    const char *const *cases[] = {bad_module, bad_attr, lstm_relu, no_eq};
    for (size_t i = 0; i < 4; i++) {
        rnnck_open_opts o = {.sets = cases[i]};
        cr_assert_eq(open_status("model_sd.pt", &o), RNNCK_E_USAGE, "case %zu: %s", i, rnnck_errmsg());
    }
}

Test(pytorch, reads_lstm_with_projection) {
    rnnck_model *m = open_fixture("lstm_proj.pt", NULL);
    check_manifest(m, "lstm_proj");
    rnnck_model_free(m);
}

Test(pytorch, keeps_float16_float64_bfloat16_bit_identical) {
    const char *names[] = {"gru_f16", "gru_f64", "gru_bf16"};
    const rnnck_dtype want[] = {RNNCK_F16, RNNCK_F64, RNNCK_BF16};
    for (int i = 0; i < 3; i++) {
        char file[64];
        snprintf(file, sizeof file, "%s.pt", names[i]);
        rnnck_model *m = open_fixture(file, NULL);
        check_manifest(m, names[i]);
        cr_assert_eq(rnnck_model_module(m, 0)->dtype, want[i]);
        rnnck_model_free(m);
    }
}

Test(pytorch, finds_every_module_of_a_larger_model_and_keeps_the_rest_by_name) {
    rnnck_model *m = open_fixture("model_sd.pt", NULL);
    check_manifest(m, "model_sd"); /* encoder.rnn (LSTM), decoder (GRU) */
    rnnck_tensor *t;
    cr_assert_eq(rnnck_model_find(m, "norm.num_batches_tracked", &t), RNNCK_OK);
    cr_assert_eq(rnnck_tensor_dtype(t), RNNCK_I64);
    int64_t v;
    cr_assert_eq(rnnck_model_read(m, "norm.num_batches_tracked", RNNCK_I64, &v, sizeof v), RNNCK_OK);
    cr_assert_eq(v, 7);
    rnnck_model_free(m);
}

Test(pytorch, finds_the_model_entry_of_a_training_checkpoint) {
    rnnck_model *m = open_fixture("checkpoint.pt", NULL);
    check_manifest(m, "checkpoint");
    rnnck_model_free(m);
    rnnck_open_opts o = {.key = "model"};
    m = open_fixture("checkpoint.pt", &o);
    check_manifest(m, "checkpoint");
    rnnck_model_free(m);
}

Test(pytorch, numpy_values_in_a_checkpoint_are_kept_inert) {
    rnnck_model *m = open_fixture("checkpoint_numpy.pt", NULL); /* "state_dict" entry */
    check_manifest(m, "checkpoint_numpy");
    rnnck_model_free(m);
}

Test(pytorch, checkpoint_with_two_state_dicts_needs_a_key) {
    cr_assert_eq(open_status("checkpoint_two.pt", NULL), RNNCK_E_USAGE);
    cr_assert(strstr(rnnck_errmsg(), "encoder") && strstr(rnnck_errmsg(), "decoder"), "%s", rnnck_errmsg());
    rnnck_open_opts o = {.key = "decoder"};
    rnnck_model *m = open_fixture("checkpoint_two.pt", &o);
    check_manifest(m, "checkpoint_two.decoder");
    rnnck_model_free(m);
}

Test(pytorch, missing_or_non_weight_key_is_refused) {
    rnnck_open_opts o = {.key = "nosuch"};
    cr_assert_eq(open_status("checkpoint.pt", &o), RNNCK_E_NOTFOUND);
    cr_assert(strstr(rnnck_errmsg(), "optimizer"), "lists the entries: %s", rnnck_errmsg());
    rnnck_open_opts e = {.key = "epoch"};
    cr_assert_eq(open_status("checkpoint.pt", &e), RNNCK_E_FORMAT);
}

Test(pytorch, reads_constructor_arguments_of_a_pickled_lstm) {
    rnnck_model *m = open_fixture("module_lstm.pt", NULL);
    check_manifest(m, "module_lstm"); /* batch_first=True comes from the pickle */
    rnnck_model_free(m);
}

Test(pytorch, reads_a_pickled_user_class_without_running_it) {
    rnnck_model *m = open_fixture("module_user.pt", NULL);
    check_manifest(m, "module_user"); /* rnn: GRU batch_first; cell: RNN_RELU */
    size_t i;
    cr_assert_eq(rnnck_model_find_module(m, "cell", &i), RNNCK_OK);
    cr_assert_eq(rnnck_model_module(m, i)->cell, RNNCK_CELL_RNN_RELU);
    rnnck_model_free(m);
}

Test(pytorch, reads_protocol_4_pickles) {
    rnnck_model *m = open_fixture("lstm_proto4.pt", NULL);
    check_manifest(m, "lstm_proto4");
    rnnck_model_free(m);
}

Test(pytorch, reads_deflated_members) {
    rnnck_model *m = open_fixture("lstm_deflated.pt", NULL);
    check_manifest(m, "lstm_deflated");
    rnnck_model_free(m);
}

Test(pytorch, reads_big_endian_archives) {
    rnnck_model *m = open_fixture("lstm_bigendian.pt", NULL);
    check_manifest(m, "lstm_bigendian");
    rnnck_model_free(m);
}

Test(pytorch, decodes_views_strides_offsets_and_integer_tensors) {
    rnnck_model *m = open_fixture("views.pt", NULL);
    check_manifest(m, "views");
    /* a and b view one storage at offsets 2 and 5: each is read lazily from
     * its own offset of the one record (loaded tensors, so the data pointers
     * below are valid) */
    cr_assert_eq(rnnck_model_load_all(m), RNNCK_OK, "%s", rnnck_errmsg());
    rnnck_tensor *a, *b;
    cr_assert_eq(rnnck_model_find(m, "a", &a), RNNCK_OK);
    cr_assert_eq(rnnck_model_find(m, "b", &b), RNNCK_OK);
    float *pa = rnnck_tensor_data(a), *pb = rnnck_tensor_data(b);
    cr_assert_float_eq(pa[0], 2 * 0.5f - 3, 0);
    cr_assert_float_eq(pb[0], 5 * 0.5f - 3, 0);
    int64_t idx[6];
    rnnck_tensor *ti;
    cr_assert_eq(rnnck_model_find(m, "idx", &ti), RNNCK_OK);
    cr_assert_eq(rnnck_tensor_copy_out(ti, RNNCK_I64, idx, sizeof idx), RNNCK_OK);
    cr_assert_eq(idx[3], (int64_t)1 << 40);
    cr_assert_eq(idx[4], -((int64_t)1 << 40));
    rnnck_model_free(m);
}

/* PyTorch 0.3-0.4 torch.save(model): _backend is pickled as a call of
 * torch.nn.backends.thnn._get_thnn_function_backend(), admitted as an inert
 * placeholder (never called; with arguments it is refused, see the damaged
 * archives). Made by make_thnn_backend_fixtures.py. */
Test(pytorch, reads_old_whole_module_pickles_with_a_thnn_backend_placeholder) {
    rnnck_model *m = open_fixture("module_thnn_backend.pt", NULL);
    check_manifest(m, "module_thnn_backend");
    rnnck_model_free(m);
}

Test(pytorch, reads_the_demo_model) {
    rnnck_model *m = open_fixture("demo_model.pt", NULL);
    check_manifest(m, "demo_model");
    rnnck_model_free(m);
}

Test(pytorch, reads_legacy_pre_1_6_files) {
    rnnck_model *m = open_fixture("legacy.pt", NULL); /* lstm_bare's weights, saved the old way */
    check_manifest(m, "lstm_bare");
    rnnck_model_free(m);
    char *path = fixture_path("pytorch/legacy.pt");
    const char *fmt;
    cr_assert_eq(rnnck_detect_format(path, &fmt), RNNCK_OK);
    cr_assert_str_eq(fmt, "pytorch");
    free(path);
    m = open_fixture("legacy_module.pt", NULL); /* torch.save(nn.GRU(...)) the old way */
    check_manifest(m, "legacy_module");
    rnnck_model_free(m);
}

/* Every prefix of a legacy stream, and a few corrupted copies, fail cleanly. */
Test(pytorch, damaged_legacy_files_fail_cleanly) {
    char *path = fixture_path("pytorch/legacy.pt");
    size_t n;
    unsigned char *b = read_file(path, &n);
    cr_assert(b);
    char *dir = tmpdir_new(), *cut = path_join(dir, "cut.pt");
    int bad = 0;
    for (size_t len = 16; len < n; len += 5) {
        write_file(cut, b, len);
        rnnck_model *m = NULL;
        bad += rnnck_open(cut, NULL, &m) == RNNCK_OK || m || strchr(rnnck_errmsg(), '\n');
    }
    cr_assert_eq(bad, 0, "%d truncated legacy files were not refused cleanly", bad);
    uint64_t s = 0x9E3779B97F4A7C15ull;
    for (int round = 0; round < 300; round++) {
        unsigned char *c = malloc(n);
        memcpy(c, b, n);
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        c[16 + s % (n - 16)] ^= (unsigned char)(1u << (s >> 61));
        write_file(cut, c, n);
        free(c);
        rnnck_model *m = NULL;
        if (rnnck_open(cut, NULL, &m) == RNNCK_OK) rnnck_model_free(m); /* a flipped weight bit is still a file */
    }
    free(b);
    free(path);
    free(cut);
    tmpdir_remove(dir);
}

/* -------------------------------------------------------------- round trips */

Test(pytorch, round_trips_bit_exact) {
    const char *cases[][2] = {
        {"lstm_bare.pt", "lstm_bare"},
        {"gru_bare.pt", "gru_bare"},
        {"lstm_proj.pt", "lstm_proj"},
        {"gru_f16.pt", "gru_f16"},
        {"gru_f64.pt", "gru_f64"},
        {"gru_bf16.pt", "gru_bf16"},
        {"model_sd.pt", "model_sd"},
        {"views.pt", "views"},
        {"demo_model.pt", "demo_model"},
        {"checkpoint.pt", "checkpoint"},
        {"rnn_relu_bare.pt", "rnn_relu_bare"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) round_trip(cases[i][0], cases[i][1], NULL);
}

Test(pytorch, round_trips_pickled_modules_as_state_dicts) {
    /* batch_first is lost in a state_dict: the user restates it */
    const char *sets[] = {"batch_first=true", NULL};
    rnnck_open_opts o = {.sets = sets};
    round_trip("module_lstm.pt", "module_lstm", &o);
    const char *sets2[] = {"rnn.batch_first=true", "cell.nonlinearity=relu", NULL};
    rnnck_open_opts o2 = {.sets = sets2};
    round_trip("module_user.pt", "module_user", &o2);
}

/* Every local header of a written archive: stored, data 64-byte aligned. */
Test(pytorch, writes_stored_members_aligned_to_64_bytes) {
    rnnck_model *m = open_fixture("lstm_proj.pt", NULL);
    char *dir = tmpdir_new(), *out = path_join(dir, "x.pt");
    cr_assert_eq(rnnck_write(m, out, NULL), RNNCK_OK, "%s", rnnck_errmsg());
    size_t n;
    unsigned char *b = read_file(out, &n);
    size_t pos = 0, members = 0;
    int saw_version = 0, saw_byteorder = 0;
    while (pos + 30 <= n && !memcmp(b + pos, "PK\3\4", 4)) {
        size_t nl = b[pos + 26] | (size_t)b[pos + 27] << 8, el = b[pos + 28] | (size_t)b[pos + 29] << 8;
        uint64_t sz =
            b[pos + 18] | (uint64_t)b[pos + 19] << 8 | (uint64_t)b[pos + 20] << 16 | (uint64_t)b[pos + 21] << 24;
        for (size_t x = pos + 30 + nl; x + 4 <= pos + 30 + nl + el;) { /* zip64 extra holds the real size */
            size_t id = b[x] | (size_t)b[x + 1] << 8, xl = b[x + 2] | (size_t)b[x + 3] << 8;
            if (id == 1 && sz == 0xFFFFFFFFu)
                for (int k = 7; k >= 0; k--) sz = (k == 7 ? 0 : sz << 8) | b[x + 4 + k];
            x += 4 + xl;
        }
        cr_assert_eq(b[pos + 8] | b[pos + 9] << 8, 0, "member %zu is not stored", members);
        size_t data = pos + 30 + nl + el;
        cr_assert_eq(data % 64, 0, "member %zu data at %zu", members, data);
        if (nl == 15 && !memcmp(b + pos + 30, "archive/version", 15)) saw_version = !memcmp(b + data, "3\n", 2);
        if (nl == 17 && !memcmp(b + pos + 30, "archive/byteorder", 17)) saw_byteorder = !memcmp(b + data, "little", 6);
        pos = data + sz;
        members++;
    }
    cr_assert_eq(members, 2 + 1 + rnnck_model_tensor_count(m)); /* data.pkl, byteorder, data/N, version */
    cr_assert(saw_version && saw_byteorder);
    free(b);
    free(out);
    tmpdir_remove(dir);
    rnnck_model_free(m);
}

static rnnck_model *lstm_model(void) {
    rnnck_model *m;
    cr_assert_eq(rnnck_model_new(&m), RNNCK_OK);
    rnnck_module_info info;
    rnnck_module_info_init(&info, RNNCK_CELL_LSTM);
    info.name = "enc";
    info.input_size = 3;
    info.hidden_size = 2;
    info.bidirectional = 1;
    cr_assert_eq(rnnck_model_add_module(m, &info), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_model_init_module(m, 0, RNNCK_INIT_DEFAULT, 5, 0, 0), RNNCK_OK, "%s", rnnck_errmsg());
    return m;
}

Test(pytorch, writer_refuses_semantics_pytorch_lacks) {
    rnnck_model *m = lstm_model();
    char *dir = tmpdir_new(), *out = path_join(dir, "x.pt");
    write_file(out, "old", 3);
    rnnck_module_info *info = (rnnck_module_info *)rnnck_model_module(m, 0);
    info->peepholes = 1;
    cr_assert_eq(rnnck_write(m, out, NULL), RNNCK_E_INEXACT);
    cr_assert(strstr(rnnck_errmsg(), "enc") && strstr(rnnck_errmsg(), "peephole"), "%s", rnnck_errmsg());
    info->peepholes = 0;
    info->act[0][0].kind = RNNCK_ACT_HARD_SIGMOID;
    info->act[0][0].alpha = 0.2;
    info->act[0][0].beta = 0.5;
    cr_assert_eq(rnnck_write(m, out, NULL), RNNCK_E_INEXACT);
    cr_assert(strstr(rnnck_errmsg(), "activation"), "%s", rnnck_errmsg());
    info->act[0][0].kind = RNNCK_ACT_SIGMOID;
    info->clip = 3;
    cr_assert_eq(rnnck_write(m, out, NULL), RNNCK_E_INEXACT);
    info->clip = 0;
    info->input_forget = 1;
    cr_assert_eq(rnnck_write(m, out, NULL), RNNCK_E_INEXACT);
    size_t n;
    unsigned char *b = read_file(out, &n);
    cr_assert(n == 3 && !memcmp(b, "old", 3), "a refused write leaves the old file");
    free(b);
    free(out);
    tmpdir_remove(dir);
    rnnck_model_free(m);
}

Test(pytorch, writer_refuses_gru_with_reset_before_product) {
    rnnck_model *m;
    cr_assert_eq(rnnck_model_new(&m), RNNCK_OK);
    rnnck_module_info info;
    rnnck_module_info_init(&info, RNNCK_CELL_GRU);
    info.name = "g";
    info.input_size = 2;
    info.hidden_size = 2;
    info.linear_before_reset = 0;
    cr_assert_eq(rnnck_model_add_module(m, &info), RNNCK_OK);
    char *dir = tmpdir_new(), *out = path_join(dir, "x.pt");
    cr_assert_eq(rnnck_write(m, out, NULL), RNNCK_E_INEXACT);
    cr_assert(strstr(rnnck_errmsg(), "linear_before_reset"), "%s", rnnck_errmsg());
    free(out);
    tmpdir_remove(dir);
    rnnck_model_free(m);
}

Test(pytorch, writer_folds_forget_bias_into_bias_ih) {
    rnnck_model *m = lstm_model();
    ((rnnck_module_info *)rnnck_model_module(m, 0))->forget_bias = 1.0;
    char *dir = tmpdir_new(), *out = path_join(dir, "x.pt");
    cr_assert_eq(rnnck_write(m, out, NULL), RNNCK_OK, "%s", rnnck_errmsg());
    rnnck_model *r;
    cr_assert_eq(rnnck_open(out, NULL, &r), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_model_load_all(r), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_model_module(r, 0)->forget_bias, 0);
    const char *names[] = {"enc.bias_ih_l0", "enc.bias_ih_l0_reverse", "enc.bias_hh_l0"};
    for (int k = 0; k < 3; k++) {
        rnnck_tensor *a, *b;
        cr_assert_eq(rnnck_model_find(m, names[k], &a), RNNCK_OK);
        cr_assert_eq(rnnck_model_find(r, names[k], &b), RNNCK_OK);
        float va[8], vb[8];
        cr_assert_eq(rnnck_tensor_copy_out(a, RNNCK_F32, va, sizeof va), RNNCK_OK);
        cr_assert_eq(rnnck_tensor_copy_out(b, RNNCK_F32, vb, sizeof vb), RNNCK_OK);
        for (int i = 0; i < 8; i++) {
            float want = va[i] + ((k < 2 && i >= 2 && i < 4) ? 1.0f : 0.0f); /* ifgo: f is rows 2..3 */
            cr_assert_eq(vb[i], want, "%s[%d]: %g != %g", names[k], i, vb[i], want);
        }
    }
    rnnck_model_free(r);
    free(out);
    tmpdir_remove(dir);
    rnnck_model_free(m);
}

Test(pytorch, write_to_missing_directory_fails_cleanly) {
    rnnck_model *m = lstm_model();
    cr_assert_eq(rnnck_write(m, "/nonexistent-dir-rnnck/x.pt", NULL), RNNCK_E_WRITE);
    rnnck_model_free(m);
}

/* ------------------------------------------------------ damaged archives */
/* Every member of the zip archive at path read to its end by libzip, which
 * checks it against the directory's CRC-32, and that CRC-32 equal to zlib's
 * over the same bytes (the writer computes it with ISA-L). Returns the
 * member count. */
static size_t require_zip_crcs_right(const char *path) {
    int code = 0;
    zip_t *za = zip_open(path, ZIP_CHECKCONS | ZIP_RDONLY, &code);
    cr_assert_not_null(za, "%s: libzip refuses the archive (error %d)", path, code);
    zip_int64_t n = zip_get_num_entries(za, 0);
    for (zip_int64_t i = 0; i < n; i++) {
        zip_stat_t zs;
        cr_assert_eq(zip_stat_index(za, (zip_uint64_t)i, 0, &zs), 0);
        cr_assert(zs.valid & ZIP_STAT_CRC);
        unsigned char *buf = malloc(zs.size + 1);
        zip_file_t *f = zip_fopen_index(za, (zip_uint64_t)i, 0);
        cr_assert(buf && f);
        zip_uint64_t got = 0;
        for (zip_int64_t r; got < zs.size && (r = zip_fread(f, buf + got, zs.size - got)) > 0;) got += (zip_uint64_t)r;
        cr_assert_eq(got, zs.size, "%s: member %s is short", path, zs.name);
        cr_assert_eq(zip_fread(f, buf, 1), 0, "%s: member %s: %s", path, zs.name, zip_file_strerror(f));
        cr_assert_eq(zip_fclose(f), 0, "%s: member %s fails libzip's CRC-32 check", path, zs.name);
        cr_assert_eq((uint32_t)crc32_z(0, buf, (size_t)zs.size), zs.crc, "%s: member %s: CRC-32 is wrong", path,
                     zs.name);
        free(buf);
    }
    zip_discard(za);
    return (size_t)n;
}

/* Names in dir other than . and .. */
static size_t dir_entries(const char *dir) {
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    size_t n = 0;
    for (struct dirent *e; (e = readdir(d));) n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

/* Records copied file to file (stored, native order: .pt -> .pt, .npz, .h5)
 * get their CRC-32 from the input range, and .h5 -> .pt the same from the
 * dataset's bytes: libzip and zlib must agree with every one. */
Test(pytorch, records_copied_file_to_file_carry_crcs_libzip_and_zlib_accept) {
    char *dir = tmpdir_new();
    char *src = fixture_path("pytorch/lstm_proj.pt");
    char *pt = path_join(dir, "copy.pt"), *npz = path_join(dir, "copy.npz"), *h5 = path_join(dir, "copy.h5"),
         *back = path_join(dir, "back.pt");
    rnnck_model *m = open_fixture("lstm_proj.pt", NULL);
    cr_assert_eq(rnnck_write(m, pt, NULL), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_write(m, npz, NULL), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_write(m, h5, NULL), RNNCK_OK, "%s", rnnck_errmsg());
    rnnck_model_free(m);
    /* .h5 -> .pt through the command: the untrusted reader locates the datasets */
    tool_result r = run_tool("convert", h5, back, NULL);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    tool_result_free(&r);
    size_t tensors = rnnck_model_tensor_count(m = open_fixture("lstm_proj.pt", NULL));
    rnnck_model_free(m);
    cr_assert_gt(require_zip_crcs_right(pt), tensors);
    cr_assert_geq(require_zip_crcs_right(npz), tensors);
    cr_assert_gt(require_zip_crcs_right(back), tensors);
    require_same_tensors(src, pt);
    require_same_tensors(src, npz);
    require_same_tensors(src, back);
    free(src);
    free(pt);
    free(npz);
    free(h5);
    free(back);
    tmpdir_remove(dir);
}

/* An rnnck .h5 puts datasets of 1 MiB or more on 4 KiB pages, and a .pt
 * copied from it pads such records to the same place in a page (the kernel's
 * file-to-file copy is cheaper so); small records keep torch.save's 64-byte
 * alignment. Both files stay readable by libzip, zlib and rnnck. */
Test(pytorch, large_records_copied_from_an_h5_start_on_a_page) {
    char *dir = tmpdir_new(), *h5 = path_join(dir, "big.h5"), *pt = path_join(dir, "big.pt");
    tool_result r = run_tool("init", h5, "--cell", "lstm", "--input-size", "256", "--hidden-size", "512", "--seed", "2",
                             NULL);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    tool_result_free(&r);
    r = run_tool("convert", h5, pt, NULL);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    tool_result_free(&r);
    require_zip_crcs_right(pt);
    require_same_tensors(h5, pt);
    size_t size = 0;
    unsigned char *file = read_file(pt, &size);
    int code = 0;
    zip_t *za = zip_open(pt, ZIP_RDONLY, &code);
    cr_assert(file && za);
    /* the local headers one after another, as the writer put them */
    size_t large = 0, members = 0;
    for (uint64_t at = 0; at + 30 <= size && file[at] == 'P' && file[at + 1] == 'K' && file[at + 2] == 3;) {
        const unsigned char *h = file + at;
        size_t nlen = (size_t)(h[26] | h[27] << 8), xlen = (size_t)(h[28] | h[29] << 8);
        char name[256];
        cr_assert_lt(nlen, sizeof name);
        memcpy(name, h + 30, nlen);
        name[nlen] = '\0';
        zip_stat_t zs;
        cr_assert_eq(zip_stat(za, name, 0, &zs), 0, "%s", name);
        uint64_t data = at + 30 + nlen + xlen;
        cr_assert_eq(data % 64, 0, "%s at %llu", name, (unsigned long long)data);
        if (zs.size >= ((uint64_t)1 << 20)) {
            cr_assert_eq(data % 4096, 0, "%s at %llu", name, (unsigned long long)data);
            large++;
        }
        members++;
        at = data + zs.size;
    }
    cr_assert_eq(members, (size_t)zip_get_num_entries(za, 0));
    cr_assert_eq(large, 2, "weight_ih_l0 and weight_hh_l0 are the large ones");
    zip_discard(za);
    free(file);
    free(h5);
    free(pt);
    tmpdir_remove(dir);
}

/* A stored record whose bytes fail its CRC-32 is refused when it would be
 * copied file to file (checked over the copy's own pass, not by libzip's
 * read), and no output, finished or temporary, is left. */
Test(pytorch, a_record_failing_its_crc_is_refused_before_a_file_to_file_copy) {
    const char *outs[] = {"out.h5", "out.pt", "out.npz"};
    for (size_t i = 0; i < sizeof outs / sizeof *outs; i++) {
        char *dir = tmpdir_new(), *out = path_join(dir, outs[i]);
        rnnck_model *m = open_fixture("bad/crc_mismatch.pt", NULL);
        cr_assert_eq(rnnck_write(m, out, NULL), RNNCK_E_FORMAT, "%s: written despite a bad CRC-32", outs[i]);
        cr_assert_not_null(strstr(rnnck_errmsg(), "data/1"), "%s", rnnck_errmsg());
        cr_assert_not_null(strstr(rnnck_errmsg(), "CRC-32"), "%s", rnnck_errmsg());
        cr_assert_eq(dir_entries(dir), 0, "%s: an output was left behind", outs[i]);
        rnnck_model_free(m);
        free(out);
        tmpdir_remove(dir);
    }
}

/* A copy of fixture rel with byte `at` of stored member `member`'s data
 * flipped, written to path. torch.save puts the sizes in data descriptors,
 * not the local headers, so the data is found by its bytes (libzip's). */
static void write_with_flipped_byte(const char *rel, const char *member, size_t at, const char *path) {
    char *src = fixture_path(rel);
    size_t size = 0;
    unsigned char *file = read_file(src, &size);
    int code = 0;
    zip_t *za = zip_open(src, ZIP_RDONLY, &code);
    zip_stat_t zs;
    cr_assert(file && za && zip_stat(za, member, 0, &zs) == 0 && at < zs.size, "%s: %s", rel, member);
    unsigned char *data = malloc(zs.size);
    zip_file_t *f = zip_fopen(za, member, 0);
    cr_assert(data && f && zip_fread(f, data, zs.size) == (zip_int64_t)zs.size);
    zip_fclose(f);
    zip_discard(za);
    unsigned char *hit = memmem(file, size, data, zs.size);
    cr_assert(hit && !memmem(hit + 1, size - (size_t)(hit + 1 - file), data, zs.size), "%s: %s not unique", rel,
              member);
    hit[at] ^= 0x40;
    cr_assert_eq(write_file(path, file, size), 0);
    free(data);
    free(file);
    free(src);
}

/* Tensors that view part of a record (views.pt: `a` and `b` share data/1)
 * are copied file to file only after the whole record has passed its
 * CRC-32 check: a flipped byte that no tensor covers (element 0 of data/1)
 * is still refused, for every output that copies in place. */
Test(pytorch, a_damaged_record_behind_partial_views_is_refused_before_any_copy) {
    const char *outs[] = {"out.h5", "out.pt", "out.npz"};
    for (size_t i = 0; i < sizeof outs / sizeof *outs; i++) {
        char *dir = tmpdir_new(), *in = path_join(dir, "views.pt"), *out = path_join(dir, outs[i]);
        write_with_flipped_byte("pytorch/views.pt", "views/data/1", 1, in);
        rnnck_model *m = NULL;
        cr_assert_eq(rnnck_open(in, NULL, &m), RNNCK_OK, "%s", rnnck_errmsg());
        cr_assert_eq(rnnck_write(m, out, NULL), RNNCK_E_FORMAT, "%s: written despite a bad CRC-32", outs[i]);
        cr_assert_not_null(strstr(rnnck_errmsg(), "data/1"), "%s", rnnck_errmsg());
        cr_assert_not_null(strstr(rnnck_errmsg(), "CRC-32"), "%s", rnnck_errmsg());
        rnnck_model_free(m);
        cr_assert_eq(dir_entries(dir), 1, "%s: an output was left behind", outs[i]);
        free(in);
        free(out);
        tmpdir_remove(dir);
    }
}


Test(pytorch, refuses_damaged_archives_with_one_line_messages) {
    const struct {
        const char *file;
        rnnck_status want;
        const char *word;
    } cases[] = {
        {"bad/truncated_archive.pt", RNNCK_E_FORMAT, "zip"},
        {"bad/crc_mismatch.pt", RNNCK_E_FORMAT, "CRC"},
        {"bad/zip_bomb_declared.pt", RNNCK_E_FORMAT, "ratio"},
        {"bad/zip_bomb_ratio.pt", RNNCK_E_FORMAT, "data/0"},
        {"bad/zip64_lie.pt", RNNCK_E_FORMAT, "zip"},
        {"bad/zip64_count_lie.pt", RNNCK_E_FORMAT, "zip"},
        {"bad/no_subdir.pt", RNNCK_E_FORMAT, "subdirectory"},
        {"bad/storage_short.pt", RNNCK_E_FORMAT, "storage 0"},
        {"bad/tensor_past_storage.pt", RNNCK_E_FORMAT, "reaches element"},
        {"bad/offset_past_storage.pt", RNNCK_E_FORMAT, "reaches element"},
        {"bad/negative_stride.pt", RNNCK_E_FORMAT, "negative stride"},
        {"bad/negative_offset.pt", RNNCK_E_FORMAT, "negative storage offset"},
        {"bad/overflow_stride.pt", RNNCK_E_FORMAT, "overflow"},
        {"bad/overflow_size.pt", RNNCK_E_FORMAT, "overflow"},
        {"bad/expanded_view.pt", RNNCK_E_UNSUPPORTED, "overlaps"},
        {"bad/missing_storage.pt", RNNCK_E_FORMAT, "data/7"},
        {"bad/path_key.pt", RNNCK_E_FORMAT, "key"},
        {"bad/complex_storage.pt", RNNCK_E_UNSUPPORTED, "ComplexFloatStorage"},
        {"bad/rnn_shape_mismatch.pt", RNNCK_E_FORMAT, "weight_ih_l1"},
        {"bad/rnn_gate_count.pt", RNNCK_E_FORMAT, "gate blocks"},
        {"bad/thnn_backend_with_args.pt", RNNCK_E_UNSUPPORTED, "_get_thnn_function_backend called with arguments"},
    };
    rnnck_open_opts o = {.format = "pytorch"}; /* some are not even detected as archives */
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        rnnck_status st = open_and_read_status(cases[i].file, &o);
        cr_expect_eq(st, cases[i].want, "%s: status %d (%s)", cases[i].file, st, rnnck_errmsg());
        cr_expect(strstr(rnnck_errmsg(), cases[i].word), "%s: message lacks '%s': %s", cases[i].file, cases[i].word,
                  rnnck_errmsg());
    }
}

/* Every prefix of a real archive fails cleanly (or, at full length, works). */
Test(pytorch, every_truncation_of_an_archive_fails_cleanly) {
    char *path = fixture_path("pytorch/gru_bare.pt");
    size_t n;
    unsigned char *b = read_file(path, &n);
    cr_assert(b);
    char *dir = tmpdir_new(), *cut = path_join(dir, "cut.pt");
    for (size_t len = 0; len < n; len += 7) {
        write_file(cut, b, len);
        rnnck_model *m = NULL;
        rnnck_open_opts o = {.format = "pytorch"};
        rnnck_status st = rnnck_open(cut, &o, &m);
        cr_assert_neq(st, RNNCK_OK, "prefix of %zu bytes accepted", len);
        cr_assert_null(m);
    }
    free(b);
    free(path);
    free(cut);
    tmpdir_remove(dir);
}

Test(pytorch, limits_cap_tensor_bytes_and_counts) {
    rnnck_limits lim;
    rnnck_limits_init(&lim);
    lim.max_tensor_bytes = 64; /* lstm_bare's storages are larger */
    rnnck_open_opts o = {.limits = &lim};
    cr_assert_eq(open_status("lstm_bare.pt", &o), RNNCK_E_NOMEM, "%s", rnnck_errmsg());
    rnnck_limits_init(&lim);
    lim.max_tensors = 3;
    cr_assert_eq(open_status("lstm_bare.pt", &o), RNNCK_E_NOMEM, "%s", rnnck_errmsg());
}

/* The demo fixture the README uses: the LSTM named rnn, run by rnnck on
 * demo_input.npy, gives what real torch gave (demo_output.npy). */
Test(pytorch, demo_model_forward_matches_torch) {
    rnnck_model *m = open_fixture("demo_model.pt", NULL);
    size_t mod;
    cr_assert_eq(rnnck_model_find_module(m, "rnn", &mod), RNNCK_OK);
    char *in_path = fixture_path("pytorch/demo_input.npy"), *out_path = fixture_path("pytorch/demo_output.npy");
    rnnck_tensor *x, *want, *y = NULL, *hn = NULL, *cn = NULL;
    cr_assert_eq(rnnck_npy_load(in_path, &x), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_npy_load(out_path, &want), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_forward(m, mod, x, NULL, NULL, NULL, NULL, &y, &hn, &cn), RNNCK_OK, "%s", rnnck_errmsg());
    int64_t n = rnnck_tensor_numel(want);
    cr_assert_eq(rnnck_tensor_numel(y), n);
    cr_assert_eq(n, 7 * 2 * 32);
    const float *a = rnnck_tensor_data(y), *b = rnnck_tensor_data(want);
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = a[i] > b[i] ? a[i] - b[i] : b[i] - a[i];
        if (d > worst) worst = d;
    }
    cr_log_info("demo forward: largest difference from torch %g", worst);
    cr_assert_lt(worst, 1e-5, "largest difference from torch: %g", worst);
    rnnck_tensor_free(x);
    rnnck_tensor_free(want);
    rnnck_tensor_free(y);
    rnnck_tensor_free(hn);
    rnnck_tensor_free(cn);
    free(in_path);
    free(out_path);
    rnnck_model_free(m);
}

/* Corrupted data.pkl (with valid CRCs, so the unpickler and the torch hooks
 * see it): any status, never a crash, a leak or a model with bad views. */
Test(pytorch, corrupted_pickles_in_valid_archives_never_crash) {
    char *path = fixture_path("pytorch/module_user.pt");
    rnnck__zip *z;
    cr_assert_eq(rnnck__zip_open(path, &z), RNNCK_OK, "%s", rnnck_errmsg());
    int64_t count = rnnck__zip_count(z);
    unsigned char *data[64];
    size_t len[64];
    const char *names[64];
    cr_assert(count <= 64);
    for (int64_t i = 0; i < count; i++) {
        names[i] = rnnck__zip_name(z, i);
        cr_assert_eq(rnnck__zip_read(z, i, 1 << 20, &data[i], &len[i]), RNNCK_OK);
    }
    cr_assert(strstr(names[0], "data.pkl"));
    char *dir = tmpdir_new(), *out = path_join(dir, "fuzz.pt");
    unsigned char *pkl = malloc(len[0]);
    uint64_t s = 0x2545F4914F6CDD1Dull;
    int accepted = 0, broken = 0; /* counted, asserted once: fewer runner events */
    for (int round = 0; round < 400; round++) {
        memcpy(pkl, data[0], len[0]);
        for (int k = 0; k < 2; k++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            pkl[s % len[0]] = (unsigned char)(s >> 40);
        }
        FILE *f = fopen(out, "wb");
        rnnck__zipw *w = NULL;
        int ok = f && rnnck__zipw_begin(f, out, &w) == RNNCK_OK;
        for (int64_t i = 0; ok && i < count; i++)
            ok = rnnck__zipw_add(w, names[i], i ? data[i] : pkl, len[i]) == RNNCK_OK;
        ok = ok && rnnck__zipw_finish(w) == RNNCK_OK;
        rnnck__zipw_free(w);
        if (f) fclose(f);
        cr_assert(ok, "could not write the fuzz archive");
        rnnck_model *m = NULL;
        if (rnnck_open(out, NULL, &m) == RNNCK_OK) {
            accepted++;
            broken += rnnck_model_load_all(m) != RNNCK_OK;
            for (size_t i = 0; i < rnnck_model_tensor_count(m); i++) {
                double mean;
                broken += rnnck_tensor_stats(rnnck_model_tensor(m, i), NULL, NULL, &mean, NULL, NULL) != RNNCK_OK;
            }
            rnnck_model_free(m);
        } else {
            broken += m != NULL || strchr(rnnck_errmsg(), '\n') != NULL || !*rnnck_errmsg();
        }
    }
    cr_assert_eq(broken, 0, "%d inconsistent outcomes", broken);
    cr_assert_lt(accepted, 400, "corruption must be noticed sometimes");
    for (int64_t i = 0; i < count; i++) free(data[i]);
    free(pkl);
    free(out);
    tmpdir_remove(dir);
    rnnck__zip_close(z);
    free(path);
}
