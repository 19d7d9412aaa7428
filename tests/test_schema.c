/* rnnck_load / rnnck_save: round trips, order, determinism, atomic failure,
 * and refusal of hostile files (each with its status and a one-line message
 * naming the file and the object). */
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers/h5craft.h"
#include "helpers/testutil.h"

/* Loads path, expecting `want` and a one-line message holding each needle. */
static void expect_refused(const char *path, rnnck_status want, const char *needle1, const char *needle2) {
    rnnck_model *m = NULL;
    rnnck_status st = rnnck_load(path, NULL, &m);
    const char *msg = rnnck_errmsg();
    cr_assert_eq(st, want, "load of %s gave %d (%s), expected %d", path, st, msg, want);
    cr_assert_null(m);
    cr_assert_not_null(strstr(msg, path), "message names the file: %s", msg);
    if (needle1) cr_assert_not_null(strstr(msg, needle1), "message '%s' lacks '%s'", msg, needle1);
    if (needle2) cr_assert_not_null(strstr(msg, needle2), "message '%s' lacks '%s'", msg, needle2);
    cr_assert_null(strchr(msg, '\n'), "one line: %s", msg);
}

static size_t count_entries(const char *d) {
    DIR *h = opendir(d);
    size_t n = 0;
    for (struct dirent *e; h && (e = readdir(h));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    if (h) closedir(h);
    return n;
}

/* ------------------------------------------------------------ round trips */

static void round_trip(rnnck_dtype dtype) {
    rnnck_model *m = craft_example(dtype);
    cr_assert_not_null(m);
    char *p = path_join(test_dir, "rt.h5");
    cr_assert_eq(rnnck_save(m, p), RNNCK_OK, "%s", rnnck_errmsg());
    rnnck_model *l = NULL;
    cr_assert_eq(rnnck_load(p, NULL, &l), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_model_tensor_count(l), rnnck_model_tensor_count(m));
    for (size_t i = 0; i < rnnck_model_tensor_count(m); i++) {
        rnnck_tensor *a = rnnck_model_tensor(m, i), *b = rnnck_model_tensor(l, i);
        cr_assert_str_eq(rnnck_tensor_name(b), rnnck_tensor_name(a));
        cr_assert_null(rnnck_tensor_data(b), "load is lazy: %s has data before it is read", rnnck_tensor_name(b));
        cr_assert_eq(rnnck_tensor_dtype(b), rnnck_tensor_dtype(a), "%s", rnnck_tensor_name(a));
        cr_assert_eq(rnnck_tensor_ndim(b), rnnck_tensor_ndim(a));
        for (int d = 0; d < rnnck_tensor_ndim(a); d++)
            cr_assert_eq(rnnck_tensor_dim(b, d), rnnck_tensor_dim(a, d));
        size_t n = rnnck_tensor_nbytes(a);
        unsigned char *buf = malloc(n ? n : 1);
        cr_assert_eq(rnnck_model_read(l, rnnck_tensor_name(a), rnnck_tensor_dtype(a), buf, n), RNNCK_OK, "%s",
                     rnnck_errmsg());
        cr_assert_eq(memcmp(buf, rnnck_tensor_cdata(a), n), 0, "bytes of %s differ after the round trip",
                     rnnck_tensor_name(a));
        free(buf);
    }
    size_t idx;
    cr_assert_eq(rnnck_model_find_module(l, "enc.rnn", &idx), RNNCK_OK);
    cr_assert_eq(rnnck_model_module(l, idx)->dtype, dtype);
    rnnck_model_free(l);
    rnnck_model_free(m);
    free(p);
}

Test(schema, round_trip_float32_bytes_identical, .init = test_dir_setup, .fini = test_dir_teardown) { round_trip(RNNCK_F32); }
Test(schema, round_trip_float64_bytes_identical, .init = test_dir_setup, .fini = test_dir_teardown) { round_trip(RNNCK_F64); }
Test(schema, round_trip_float16_bytes_identical, .init = test_dir_setup, .fini = test_dir_teardown) { round_trip(RNNCK_F16); }
Test(schema, round_trip_bfloat16_bytes_identical, .init = test_dir_setup, .fini = test_dir_teardown) { round_trip(RNNCK_BF16); }

Test(schema, integer_and_bool_tensors_round_trip_outside_modules, .init = test_dir_setup, .fini = test_dir_teardown) {
    rnnck_model *m;
    cr_assert_eq(rnnck_model_new(&m), RNNCK_OK);
    const rnnck_dtype dts[] = {RNNCK_I64, RNNCK_I32, RNNCK_I16, RNNCK_I8, RNNCK_U8, RNNCK_BOOL, RNNCK_F64};
    const char *names[] = {"i64", "i32", "i16", "i8", "u8", "flags", "empty"};
    for (size_t k = 0; k < 7; k++) {
        int64_t shape[2] = {3, (int64_t)k}; /* "empty" is (3, 6); index 0 is (3, 0): zero-size */
        rnnck_tensor *t;
        cr_assert_eq(rnnck_tensor_new(dts[k], 2, shape, &t), RNNCK_OK);
        cr_assert_eq(rnnck_model_add_tensor(m, names[k], t), RNNCK_OK);
        rnnck_tensor_free(t);
    }
    cr_assert_eq(craft_fill(m), 0);
    char *p = path_join(test_dir, "ints.h5");
    cr_assert_eq(rnnck_save(m, p), RNNCK_OK, "%s", rnnck_errmsg());
    rnnck_model *l;
    cr_assert_eq(rnnck_load(p, NULL, &l), RNNCK_OK, "%s", rnnck_errmsg());
    for (size_t k = 0; k < 7; k++) {
        rnnck_tensor *a = rnnck_model_tensor(m, k), *b;
        cr_assert_eq(rnnck_model_find(l, names[k], &b), RNNCK_OK);
        cr_assert_eq(rnnck_tensor_dtype(b), dts[k], "%s", names[k]);
        cr_assert_eq(rnnck_model_load_tensor(l, b), RNNCK_OK, "%s", rnnck_errmsg());
        cr_assert_eq(memcmp(rnnck_tensor_cdata(a), rnnck_tensor_cdata(b), rnnck_tensor_nbytes(a)), 0, "%s", names[k]);
    }
    rnnck_model_free(l);
    rnnck_model_free(m);
    free(p);
}

Test(schema, keeps_tensor_order_not_name_order, .init = test_dir_setup, .fini = test_dir_teardown) {
    rnnck_model *m;
    cr_assert_eq(rnnck_model_new(&m), RNNCK_OK);
    const char *names[] = {"zeta.w", "alpha.w", "mid", "zeta.a", "alpha.b.c"};
    for (size_t k = 0; k < 5; k++) {
        int64_t shape[1] = {2};
        rnnck_tensor *t;
        cr_assert_eq(rnnck_tensor_new(RNNCK_F32, 1, shape, &t), RNNCK_OK);
        cr_assert_eq(rnnck_model_add_tensor(m, names[k], t), RNNCK_OK);
        rnnck_tensor_free(t);
    }
    char *p = path_join(test_dir, "order.h5");
    cr_assert_eq(rnnck_save(m, p), RNNCK_OK, "%s", rnnck_errmsg());
    rnnck_model *l;
    cr_assert_eq(rnnck_load(p, NULL, &l), RNNCK_OK, "%s", rnnck_errmsg());
    /* Groups are visited depth-first in creation order, so tensors of one
     * group come together: zeta.w, zeta.a, alpha.w, alpha.b.c, mid. */
    const char *want[] = {"zeta.w", "zeta.a", "alpha.w", "alpha.b.c", "mid"};
    for (size_t k = 0; k < 5; k++)
        cr_assert_str_eq(rnnck_tensor_name(rnnck_model_tensor(l, k)), want[k]);
    rnnck_model_free(l);
    rnnck_model_free(m);
    free(p);
}

Test(schema, module_parameters_keep_pytorch_order, .init = test_dir_setup, .fini = test_dir_teardown) {
    rnnck_model *m = craft_example(RNNCK_F32);
    char *p = path_join(test_dir, "ex.h5");
    cr_assert_eq(rnnck_save(m, p), RNNCK_OK, "%s", rnnck_errmsg());
    rnnck_model *l;
    cr_assert_eq(rnnck_load(p, NULL, &l), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_model_tensor_count(l), rnnck_model_tensor_count(m));
    for (size_t i = 0; i < rnnck_model_tensor_count(m); i++)
        cr_assert_str_eq(rnnck_tensor_name(rnnck_model_tensor(l, i)), rnnck_tensor_name(rnnck_model_tensor(m, i)));
    cr_assert_str_eq(rnnck_tensor_name(rnnck_model_tensor(l, 1)), "enc.rnn.weight_ih_l0");
    cr_assert_str_eq(rnnck_tensor_name(rnnck_model_tensor(l, 5)), "enc.rnn.weight_ih_l0_reverse");
    rnnck_model_free(l);
    rnnck_model_free(m);
    free(p);
}

static void assert_same_info(const rnnck_module_info *a, const rnnck_module_info *b) {
    cr_assert_str_eq(b->name, a->name);
    cr_assert_eq(b->cell, a->cell);
    cr_assert_eq(b->input_size, a->input_size);
    cr_assert_eq(b->hidden_size, a->hidden_size);
    cr_assert_eq(b->num_layers, a->num_layers);
    cr_assert_eq(b->proj_size, a->proj_size);
    cr_assert_eq(b->bias, a->bias);
    cr_assert_eq(b->bidirectional, a->bidirectional);
    cr_assert_eq(b->batch_first, a->batch_first);
    cr_assert_eq(b->dtype, a->dtype);
    int dirs = a->bidirectional ? 2 : 1;
    for (int d = 0; d < dirs; d++)
        for (int s = 0; s < RNNCK_ACT_SLOTS; s++) {
            cr_assert_eq(b->act[d][s].kind, a->act[d][s].kind, "act[%d][%d]", d, s);
            cr_assert_eq(b->act[d][s].alpha, a->act[d][s].alpha);
            cr_assert_eq(b->act[d][s].beta, a->act[d][s].beta);
        }
    cr_assert_eq(b->linear_before_reset, a->linear_before_reset);
    cr_assert_eq(b->forget_bias, a->forget_bias);
    cr_assert_eq(b->peepholes, a->peepholes);
    cr_assert_eq(b->clip, a->clip);
    cr_assert_eq(b->input_forget, a->input_forget);
}

Test(schema, nested_modules_and_all_semantics_round_trip, .init = test_dir_setup, .fini = test_dir_teardown) {
    rnnck_model *m;
    cr_assert_eq(rnnck_model_new(&m), RNNCK_OK);
    rnnck_module_info lstm, gru, rnn;
    rnnck_module_info_init(&lstm, RNNCK_CELL_LSTM);
    lstm.name = "a.b.c.lstm";
    lstm.input_size = 5;
    lstm.hidden_size = 6;
    lstm.proj_size = 2;
    lstm.num_layers = 3;
    lstm.bidirectional = 1;
    lstm.batch_first = 1;
    lstm.forget_bias = 1.0;
    lstm.peepholes = 1;
    lstm.clip = 3.5;
    lstm.input_forget = 1;
    lstm.act[1][0] = (rnnck_activation){RNNCK_ACT_HARD_SIGMOID, 0.2, 0.5};
    rnnck_module_info_init(&gru, RNNCK_CELL_GRU);
    gru.name = "dec.gru";
    gru.input_size = 4;
    gru.hidden_size = 3;
    gru.bias = 0;
    gru.linear_before_reset = 0;
    gru.dtype = RNNCK_F64;
    rnnck_module_info_init(&rnn, RNNCK_CELL_RNN_RELU);
    rnn.name = "x";
    rnn.input_size = 2;
    rnn.hidden_size = 2;
    rnn.act[0][0] = (rnnck_activation){RNNCK_ACT_RELU, 0, 0};
    rnn.act[1][0] = rnn.act[0][0];
    cr_assert_eq(rnnck_model_add_module(m, &lstm), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_model_add_module(m, &gru), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_model_add_module(m, &rnn), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(craft_fill(m), 0);
    char *p = path_join(test_dir, "nested.h5");
    cr_assert_eq(rnnck_save(m, p), RNNCK_OK, "%s", rnnck_errmsg());
    rnnck_model *l;
    cr_assert_eq(rnnck_load(p, NULL, &l), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_model_module_count(l), 3);
    for (size_t i = 0; i < 3; i++)
        assert_same_info(rnnck_model_module(m, i), rnnck_model_module(l, i));
    rnnck_tensor *t;
    cr_assert_eq(rnnck_model_param(l, 0, RNNCK_PARAM_PEEPHOLE, 2, 1, &t), RNNCK_OK);
    cr_assert_str_eq(rnnck_tensor_name(t), "a.b.c.lstm.peephole_l2_reverse");
    cr_assert_eq(rnnck_tensor_dim(t, 0), 18);
    rnnck_model_free(l);
    rnnck_model_free(m);
    free(p);
}

Test(schema, bare_module_sits_at_the_root, .init = test_dir_setup, .fini = test_dir_teardown) {
    rnnck_model *m;
    cr_assert_eq(rnnck_model_new(&m), RNNCK_OK);
    rnnck_module_info info;
    rnnck_module_info_init(&info, RNNCK_CELL_GRU);
    info.input_size = 2;
    info.hidden_size = 3;
    cr_assert_eq(rnnck_model_add_module(m, &info), RNNCK_OK);
    char *p = path_join(test_dir, "bare.h5");
    cr_assert_eq(rnnck_save(m, p), RNNCK_OK, "%s", rnnck_errmsg());
    hid_t f = H5Fopen(p, H5F_ACC_RDONLY, H5P_DEFAULT);
    cr_assert_geq(f, 0);
    cr_assert_gt(H5Lexists(f, "/weight_ih_l0", H5P_DEFAULT), 0);
    cr_assert_gt(H5Aexists(f, "module"), 0);
    H5Fclose(f);
    rnnck_model *l;
    cr_assert_eq(rnnck_load(p, NULL, &l), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_model_module_count(l), 1);
    assert_same_info(&info, rnnck_model_module(l, 0));
    rnnck_model_free(l);
    rnnck_model_free(m);
    free(p);
}

Test(schema, two_saves_of_one_model_are_byte_identical, .init = test_dir_setup, .fini = test_dir_teardown) {
    char *a = craft_example_copy(test_dir, "a.h5");
    sleep(1); /* a timestamp anywhere in the file would now differ */
    char *b = craft_example_copy(test_dir, "b.h5");
    size_t la, lb;
    unsigned char *ba = read_file(a, &la), *bb = read_file(b, &lb);
    cr_assert(ba && bb);
    cr_assert_eq(la, lb);
    cr_assert_eq(memcmp(ba, bb, la), 0, "the two files differ");
    /* A lazily loaded model saves to the same bytes too. */
    rnnck_model *l;
    cr_assert_eq(rnnck_load(a, NULL, &l), RNNCK_OK, "%s", rnnck_errmsg());
    char *c = path_join(test_dir, "c.h5");
    cr_assert_eq(rnnck_save(l, c), RNNCK_OK, "%s", rnnck_errmsg());
    size_t lc;
    unsigned char *bc = read_file(c, &lc);
    cr_assert_eq(lc, la);
    cr_assert_eq(memcmp(ba, bc, la), 0, "re-saving a loaded model changed the bytes");
    rnnck_model_free(l);
    free(ba);
    free(bb);
    free(bc);
    free(a);
    free(b);
    free(c);
}

Test(schema, save_over_its_own_source_file_works, .init = test_dir_setup, .fini = test_dir_teardown) {
    char *a = craft_example_copy(test_dir, "a.h5");
    size_t la;
    unsigned char *before = read_file(a, &la);
    rnnck_model *l;
    cr_assert_eq(rnnck_load(a, NULL, &l), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_save(l, a), RNNCK_OK, "%s", rnnck_errmsg());
    rnnck_model_free(l);
    size_t lb;
    unsigned char *after = read_file(a, &lb);
    cr_assert_eq(la, lb);
    cr_assert_eq(memcmp(before, after, la), 0);
    free(before);
    free(after);
    free(a);
}

Test(schema, file_is_readable_with_hdf5_1_8_format_and_no_timestamps, .init = test_dir_setup, .fini = test_dir_teardown) {
    char *p = craft_example_copy(test_dir, "ex.h5");
    hid_t f = H5Fopen(p, H5F_ACC_RDONLY, H5P_DEFAULT);
    cr_assert_geq(f, 0);
    hid_t fcpl = H5Fget_create_plist(f);
    unsigned super = 99, freelist, stab, shhdr;
    H5Pget_version(fcpl, &super, &freelist, &stab, &shhdr);
    cr_assert_leq(super, 2, "superblock version %u is newer than HDF5 1.8 writes", super);
    H5Pclose(fcpl);
    hid_t ds = H5Dopen2(f, "/enc/rnn/weight_ih_l0", H5P_DEFAULT);
    hid_t dcpl = H5Dget_create_plist(ds);
    H5O_info_t oi;
    cr_assert_geq(H5Oget_info2(ds, &oi, H5O_INFO_TIME), 0);
    cr_assert_eq(oi.mtime, 0, "the dataset carries a modification time");
    cr_assert_eq(oi.ctime, 0);
    cr_assert_geq(H5Oget_info_by_name2(f, "/enc/rnn", &oi, H5O_INFO_TIME, H5P_DEFAULT), 0);
    cr_assert_eq(oi.mtime, 0, "the group carries a modification time");
    cr_assert_eq(H5Pget_layout(dcpl), H5D_CONTIGUOUS);
    H5Pclose(dcpl);
    H5Dclose(ds);
    H5Fclose(f);
    free(p);
}

/* ------------------------------------------------------ failed saves */

Test(schema, failed_save_into_missing_directory_leaves_nothing, .init = test_dir_setup, .fini = test_dir_teardown) {
    rnnck_model *m = craft_example(RNNCK_F32);
    char *p = path_join(test_dir, "no/such/dir/x.h5");
    cr_assert_eq(rnnck_save(m, p), RNNCK_E_WRITE);
    cr_assert_not_null(strstr(rnnck_errmsg(), p));
    cr_assert_eq(count_entries(test_dir), 0);
    rnnck_model_free(m);
    free(p);
}

Test(schema, failed_save_keeps_existing_output_and_leaves_no_temp, .init = test_dir_setup, .fini = test_dir_teardown) {
    char *p = path_join(test_dir, "out.h5");
    cr_assert_eq(write_file(p, "precious", 8), 0);
    /* "a" and "a.b" cannot both exist in HDF5 (a is a dataset and a group):
     * refused as a model the schema cannot hold, naming both tensors. */
    rnnck_model *m;
    cr_assert_eq(rnnck_model_new(&m), RNNCK_OK);
    int64_t shape[1] = {2};
    rnnck_tensor *t;
    cr_assert_eq(rnnck_tensor_new(RNNCK_F32, 1, shape, &t), RNNCK_OK);
    cr_assert_eq(rnnck_model_add_tensor(m, "a", t), RNNCK_OK);
    rnnck_tensor_free(t);
    cr_assert_eq(rnnck_tensor_new(RNNCK_F32, 1, shape, &t), RNNCK_OK);
    cr_assert_eq(rnnck_model_add_tensor(m, "a.b", t), RNNCK_OK);
    rnnck_tensor_free(t);
    rnnck_status st = rnnck_save(m, p);
    cr_assert_eq(st, RNNCK_E_UNSUPPORTED, "%d %s", st, rnnck_errmsg());
    cr_assert_not_null(strstr(rnnck_errmsg(), "tensor a is also the prefix of tensor a.b"), "%s", rnnck_errmsg());
    size_t len;
    unsigned char *bytes = read_file(p, &len);
    cr_assert_eq(len, 8);
    cr_assert_eq(memcmp(bytes, "precious", 8), 0);
    cr_assert_eq(count_entries(test_dir), 1, "a temporary file was left behind");
    free(bytes);
    rnnck_model_free(m);
    free(p);
}

Test(schema, failed_rename_onto_a_directory_leaves_no_temp, .init = test_dir_setup, .fini = test_dir_teardown) {
    char *p = path_join(test_dir, "taken");
    cr_assert_eq(mkdir(p, 0755), 0);
    char *inner = path_join(p, "keep");
    cr_assert_eq(write_file(inner, "x", 1), 0);
    rnnck_model *m = craft_example(RNNCK_F32);
    cr_assert_eq(rnnck_save(m, p), RNNCK_E_WRITE);
    cr_assert_eq(count_entries(test_dir), 1);
    cr_assert_eq(count_entries(p), 1);
    rnnck_model_free(m);
    free(inner);
    free(p);
}

Test(schema, save_refuses_a_stranger_inside_a_module_group, .init = test_dir_setup, .fini = test_dir_teardown) {
    rnnck_model *m = craft_example(RNNCK_F32);
    int64_t shape[1] = {2};
    rnnck_tensor *t;
    cr_assert_eq(rnnck_tensor_new(RNNCK_F32, 1, shape, &t), RNNCK_OK);
    cr_assert_eq(rnnck_model_add_tensor(m, "enc.rnn.extra", t), RNNCK_OK);
    rnnck_tensor_free(t);
    char *p = path_join(test_dir, "bad.h5");
    cr_assert_eq(rnnck_save(m, p), RNNCK_E_UNSUPPORTED);
    cr_assert_not_null(strstr(rnnck_errmsg(), "enc.rnn.extra"), "%s", rnnck_errmsg());
    cr_assert_eq(count_entries(test_dir), 0);
    rnnck_model_free(m);
    free(p);
}

/* ------------------------------------------------------ hostile files */

Test(schema, refuses_a_file_that_is_not_hdf5, .init = test_dir_setup, .fini = test_dir_teardown) {
    char *p = path_join(test_dir, "text.h5");
    cr_assert_eq(write_file(p, "hello, this is not HDF5 at all\n", 31), 0);
    expect_refused(p, RNNCK_E_FORMAT, "not an HDF5 file", NULL);
    free(p);
}

Test(schema, refuses_an_empty_file, .init = test_dir_setup, .fini = test_dir_teardown) {
    char *p = path_join(test_dir, "empty.h5");
    cr_assert_eq(write_file(p, "", 0), 0);
    expect_refused(p, RNNCK_E_FORMAT, "empty", NULL);
    free(p);
}

Test(schema, missing_file_is_an_io_error, .init = test_dir_setup, .fini = test_dir_teardown) {
    char *p = path_join(test_dir, "nothere.h5");
    expect_refused(p, RNNCK_E_IO, "cannot open", NULL);
    free(p);
}

Test(schema, refuses_every_truncation_of_a_valid_file, .init = test_dir_setup, .fini = test_dir_teardown) {
    char *good = craft_example_copy(test_dir, "good.h5"), *cut = path_join(test_dir, "cut.h5");
    size_t len;
    unsigned char *bytes = read_file(good, &len);
    cr_assert_not_null(bytes);
    free(bytes);
    for (size_t n = 1; n < len; n += len / 64 + 1) {
        cr_assert_eq(h5c_truncate_copy(good, cut, n), 0);
        rnnck_model *m = NULL;
        rnnck_status st = rnnck_load(cut, NULL, &m);
        if (st == RNNCK_OK) st = rnnck_model_load_all(m); /* must fail on data, if not before */
        cr_assert_neq(st, RNNCK_OK, "a file cut to %zu of %zu bytes was accepted", n, len);
        cr_assert(st == RNNCK_E_FORMAT, "cut at %zu: status %d (%s)", n, st, rnnck_errmsg());
        rnnck_model_free(m);
    }
    expect_refused(cut, RNNCK_E_FORMAT, NULL, NULL);
    free(good);
    free(cut);
}

Test(schema, refuses_hdf5_without_rnnck_schema, .init = test_dir_setup, .fini = test_dir_teardown) {
    char *p = craft_example_copy(test_dir, "x.h5");
    cr_assert_eq(h5c_delete_attr(p, "/", "rnnck_schema"), 0);
    expect_refused(p, RNNCK_E_FORMAT, "no rnnck_schema", NULL);
    free(p);
}

Test(schema, refuses_a_newer_schema_major_as_unsupported, .init = test_dir_setup, .fini = test_dir_teardown) {
    char *p = craft_example_copy(test_dir, "x.h5");
    cr_assert_eq(h5c_set_attr_string(p, "/", "rnnck_schema", "2.0"), 0);
    expect_refused(p, RNNCK_E_UNSUPPORTED, "schema 2.0 is newer", NULL);
    free(p);
}

Test(schema, accepts_a_newer_minor_version, .init = test_dir_setup, .fini = test_dir_teardown) {
    char *p = craft_example_copy(test_dir, "x.h5");
    cr_assert_eq(h5c_set_attr_string(p, "/", "rnnck_schema", "1.7"), 0);
    cr_assert_eq(h5c_set_attr_string(p, "/enc/rnn", "future_attribute", "ignored"), 0);
    rnnck_model *m;
    cr_assert_eq(rnnck_load(p, NULL, &m), RNNCK_OK, "%s", rnnck_errmsg());
    rnnck_model_free(m);
    free(p);
}

Test(schema, refuses_a_malformed_schema_version, .init = test_dir_setup, .fini = test_dir_teardown) {
    char *p = craft_example_copy(test_dir, "x.h5");
    cr_assert_eq(h5c_set_attr_string(p, "/", "rnnck_schema", "one"), 0);
    expect_refused(p, RNNCK_E_FORMAT, "rnnck_schema 'one'", NULL);
    cr_assert_eq(h5c_set_attr_i64(p, "/", "rnnck_schema", 1), 0);
    expect_refused(p, RNNCK_E_FORMAT, "rnnck_schema is of type integer", NULL);
    free(p);
}

Test(schema, refuses_hidden_size_stored_as_string, .init = test_dir_setup, .fini = test_dir_teardown) {
    char *p = craft_example_copy(test_dir, "x.h5");
    cr_assert_eq(h5c_set_attr_string(p, "/enc/rnn", "hidden_size", "4"), 0);
    expect_refused(p, RNNCK_E_FORMAT, "/enc/rnn: attribute hidden_size is of type string", NULL);
    free(p);
}

Test(schema, refuses_hidden_size_stored_as_float, .init = test_dir_setup, .fini = test_dir_teardown) {
    char *p = craft_example_copy(test_dir, "x.h5");
    cr_assert_eq(h5c_set_attr_f64(p, "/enc/rnn", "hidden_size", 4.0), 0);
    expect_refused(p, RNNCK_E_FORMAT, "/enc/rnn: attribute hidden_size is of type float", NULL);
    free(p);
}

Test(schema, refuses_module_stored_as_integer, .init = test_dir_setup, .fini = test_dir_teardown) {
    char *p = craft_example_copy(test_dir, "x.h5");
    cr_assert_eq(h5c_set_attr_i64(p, "/enc/rnn", "module", 1), 0);
    expect_refused(p, RNNCK_E_FORMAT, "/enc/rnn: attribute module is of type integer", NULL);
    free(p);
}

Test(schema, refuses_an_unknown_cell_name, .init = test_dir_setup, .fini = test_dir_teardown) {
    char *p = craft_example_copy(test_dir, "x.h5");
    cr_assert_eq(h5c_set_attr_string(p, "/enc/rnn", "module", "LSTMX"), 0);
    expect_refused(p, RNNCK_E_FORMAT, "/enc/rnn", "'LSTMX'");
    free(p);
}

Test(schema, refuses_a_missing_module_attribute, .init = test_dir_setup, .fini = test_dir_teardown) {
    char *p = craft_example_copy(test_dir, "x.h5");
    cr_assert_eq(h5c_delete_attr(p, "/enc/rnn", "num_layers"), 0);
    expect_refused(p, RNNCK_E_FORMAT, "/enc/rnn: missing attribute num_layers", NULL);
    free(p);
}

Test(schema, refuses_proj_size_not_below_hidden_size, .init = test_dir_setup, .fini = test_dir_teardown) {
    char *p = craft_example_copy(test_dir, "x.h5");
    cr_assert_eq(h5c_set_attr_i64(p, "/enc/rnn", "proj_size", 4), 0);
    expect_refused(p, RNNCK_E_FORMAT, "/enc/rnn: attributes out of range", "proj_size");
    free(p);
}

Test(schema, refuses_zero_layers, .init = test_dir_setup, .fini = test_dir_teardown) {
    char *p = craft_example_copy(test_dir, "x.h5");
    cr_assert_eq(h5c_set_attr_i64(p, "/enc/rnn", "num_layers", 0), 0);
    expect_refused(p, RNNCK_E_FORMAT, "/enc/rnn: attributes out of range", NULL);
    free(p);
}

Test(schema, refuses_negative_and_huge_sizes, .init = test_dir_setup, .fini = test_dir_teardown) {
    char *p = craft_example_copy(test_dir, "x.h5");
    cr_assert_eq(h5c_set_attr_i64(p, "/enc/rnn", "input_size", -3), 0);
    expect_refused(p, RNNCK_E_FORMAT, "/enc/rnn: attributes out of range", NULL);
    cr_assert_eq(h5c_set_attr_i64(p, "/enc/rnn", "input_size", 3), 0);
    cr_assert_eq(h5c_set_attr_i64(p, "/enc/rnn", "num_layers", INT64_MAX), 0);
    expect_refused(p, RNNCK_E_FORMAT, "/enc/rnn: attributes out of range", NULL);
    free(p);
}

Test(schema, refuses_a_flag_that_is_not_zero_or_one, .init = test_dir_setup, .fini = test_dir_teardown) {
    char *p = craft_example_copy(test_dir, "x.h5");
    cr_assert_eq(h5c_set_attr_i64(p, "/enc/rnn", "bidirectional", 2), 0);
    expect_refused(p, RNNCK_E_FORMAT, "/enc/rnn: attribute bidirectional is 2", NULL);
    free(p);
}

Test(schema, refuses_a_gate_order_other_than_pytorch, .init = test_dir_setup, .fini = test_dir_teardown) {
    char *p = craft_example_copy(test_dir, "x.h5");
    cr_assert_eq(h5c_set_attr_string(p, "/enc/rnn", "gate_order", "ifco"), 0);
    expect_refused(p, RNNCK_E_FORMAT, "/enc/rnn: gate_order is 'ifco'", "'ifgo'");
    free(p);
}

Test(schema, refuses_attributes_of_another_cell, .init = test_dir_setup, .fini = test_dir_teardown) {
    char *p = craft_example_copy(test_dir, "x.h5");
    cr_assert_eq(h5c_set_attr_i64(p, "/enc/rnn", "linear_before_reset", 0), 0);
    expect_refused(p, RNNCK_E_FORMAT, "/enc/rnn: attribute linear_before_reset does not apply to LSTM", NULL);
    free(p);
}

Test(schema, refuses_a_wrong_number_of_activations, .init = test_dir_setup, .fini = test_dir_teardown) {
    char *p = craft_example_copy(test_dir, "x.h5");
    cr_assert_eq(h5c_set_attr_string(p, "/enc/rnn", "activations", "Sigmoid,Tanh,Tanh"), 0);
    expect_refused(p, RNNCK_E_FORMAT, "/enc/rnn: activations lists 3 names, expected 6", NULL);
    cr_assert_eq(h5c_set_attr_string(p, "/enc/rnn", "activations", "Sigmoid,Tanh,Tanh,Sigmoid,Tanh,Tanh,Tanh"), 0);
    expect_refused(p, RNNCK_E_FORMAT, "/enc/rnn: activations lists more than", NULL);
    cr_assert_eq(h5c_set_attr_string(p, "/enc/rnn", "activations", "Sigmoid,Tanh,Tanh,Sigmoid,Tanh,Swish"), 0);
    expect_refused(p, RNNCK_E_FORMAT, "/enc/rnn: activations: unknown activation 'Swish'", NULL);
    free(p);
}

Test(schema, refuses_weight_of_the_wrong_shape, .init = test_dir_setup, .fini = test_dir_teardown) {
    char *p = craft_example_copy(test_dir, "x.h5");
    hsize_t dims[2] = {16, 2};
    float zeros[32] = {0};
    cr_assert_eq(h5c_put_dataset(p, "/enc/rnn/weight_ih_l0", H5T_NATIVE_FLOAT, 2, dims, H5P_DEFAULT, zeros), 0);
    expect_refused(p, RNNCK_E_FORMAT, "/enc/rnn/weight_ih_l0: shape (16, 2) but module attributes imply (16, 3)", NULL);
    free(p);
}

Test(schema, refuses_a_three_dimensional_weight, .init = test_dir_setup, .fini = test_dir_teardown) {
    char *p = craft_example_copy(test_dir, "x.h5");
    hsize_t dims[3] = {16, 3, 1};
    float zeros[48] = {0};
    cr_assert_eq(h5c_put_dataset(p, "/enc/rnn/weight_hh_l1", H5T_NATIVE_FLOAT, 3, dims, H5P_DEFAULT, zeros), 0);
    expect_refused(p, RNNCK_E_FORMAT, "/enc/rnn/weight_hh_l1: shape (16, 3, 1)", NULL);
    free(p);
}

Test(schema, refuses_a_zero_size_weight, .init = test_dir_setup, .fini = test_dir_teardown) {
    char *p = craft_example_copy(test_dir, "x.h5");
    hsize_t dims[2] = {0, 3};
    cr_assert_eq(h5c_put_dataset(p, "/enc/rnn/weight_ih_l0", H5T_IEEE_F32LE, 2, dims, H5P_DEFAULT, NULL), 0);
    expect_refused(p, RNNCK_E_FORMAT, "/enc/rnn/weight_ih_l0: shape (0, 3)", NULL);
    free(p);
}

Test(schema, refuses_an_integer_weight, .init = test_dir_setup, .fini = test_dir_teardown) {
    char *p = craft_example_copy(test_dir, "x.h5");
    hsize_t dims[2] = {16, 3};
    int32_t data[48] = {0};
    cr_assert_eq(h5c_put_dataset(p, "/enc/rnn/weight_ih_l0", H5T_NATIVE_INT32, 2, dims, H5P_DEFAULT, data), 0);
    expect_refused(p, RNNCK_E_FORMAT, "/enc/rnn/weight_ih_l0: dtype int32", NULL);
    free(p);
}

Test(schema, refuses_a_compound_dataset, .init = test_dir_setup, .fini = test_dir_teardown) {
    char *p = craft_example_copy(test_dir, "x.h5");
    hid_t t = H5Tcreate(H5T_COMPOUND, 8);
    H5Tinsert(t, "a", 0, H5T_NATIVE_INT32);
    H5Tinsert(t, "b", 4, H5T_NATIVE_FLOAT);
    hsize_t dims[1] = {4};
    cr_assert_eq(h5c_put_dataset(p, "/head/weight", t, 1, dims, H5P_DEFAULT, NULL), 0);
    H5Tclose(t);
    expect_refused(p, RNNCK_E_FORMAT, "/head/weight: datatype is a compound type", NULL);
    free(p);
}

Test(schema, refuses_a_variable_length_string_dataset, .init = test_dir_setup, .fini = test_dir_teardown) {
    char *p = craft_example_copy(test_dir, "x.h5");
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    const char *text[2] = {"abc", "de"};
    hsize_t dims[1] = {2};
    cr_assert_eq(h5c_put_dataset(p, "/enc/rnn/bias_ih_l0", t, 1, dims, H5P_DEFAULT, text), 0);
    H5Tclose(t);
    expect_refused(p, RNNCK_E_FORMAT, "/enc/rnn/bias_ih_l0: datatype is a string type", NULL);
    free(p);
}

Test(schema, refuses_a_missing_parameter, .init = test_dir_setup, .fini = test_dir_teardown) {
    char *p = craft_example_copy(test_dir, "x.h5");
    cr_assert_eq(h5c_delete_link(p, "/enc/rnn/bias_hh_l1_reverse"), 0);
    expect_refused(p, RNNCK_E_FORMAT, "/enc/rnn/bias_hh_l1_reverse: missing parameter", NULL);
    free(p);
}

Test(schema, refuses_an_unknown_dataset_inside_a_module_group, .init = test_dir_setup, .fini = test_dir_teardown) {
    char *p = craft_example_copy(test_dir, "x.h5");
    hsize_t dims[1] = {3};
    float v[3] = {1, 2, 3};
    cr_assert_eq(h5c_put_dataset(p, "/enc/rnn/extra", H5T_NATIVE_FLOAT, 1, dims, H5P_DEFAULT, v), 0);
    expect_refused(p, RNNCK_E_FORMAT, "/enc/rnn/extra: unknown object inside the LSTM module group", NULL);
    free(p);
}

Test(schema, refuses_a_parameter_of_a_layer_that_does_not_exist, .init = test_dir_setup, .fini = test_dir_teardown) {
    char *p = craft_example_copy(test_dir, "x.h5");
    hsize_t dims[2] = {16, 8};
    cr_assert_eq(h5c_put_dataset(p, "/enc/rnn/weight_ih_l2", H5T_IEEE_F32LE, 2, dims, H5P_DEFAULT, NULL), 0);
    expect_refused(p, RNNCK_E_FORMAT, "/enc/rnn/weight_ih_l2: unknown object", NULL);
    free(p);
}

Test(schema, refuses_a_huge_dimension_from_metadata_alone, .init = test_dir_setup, .fini = test_dir_teardown) {
    char *p = craft_example_copy(test_dir, "x.h5");
    /* 2^40 x 100 float32 declared, nothing stored (chunked, allocated late):
     * reading it would need 400 TiB. */
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    hsize_t chunk[2] = {1024, 100}, dims[2] = {(hsize_t)1 << 40, 100};
    H5Pset_chunk(dcpl, 2, chunk);
    cr_assert_eq(h5c_put_dataset(p, "/head/weight", H5T_IEEE_F32LE, 2, dims, dcpl, NULL), 0);
    H5Pclose(dcpl);
    expect_refused(p, RNNCK_E_FORMAT, "/head/weight: dimension 0 is 1099511627776, over the limit", NULL);
    /* Within max_dim but over max_tensor_bytes: refused the same way. */
    rnnck_limits lim;
    rnnck_limits_init(&lim);
    lim.max_dim = (int64_t)1 << 41;
    rnnck_model *m = NULL;
    cr_assert_eq(rnnck_load(p, &lim, &m), RNNCK_E_FORMAT);
    cr_assert_not_null(strstr(rnnck_errmsg(), "exceed the limit of"), "%s", rnnck_errmsg());
    free(p);
}

Test(schema, limits_bound_the_number_of_tensors, .init = test_dir_setup, .fini = test_dir_teardown) {
    char *p = craft_example_copy(test_dir, "x.h5");
    rnnck_limits lim;
    rnnck_limits_init(&lim);
    lim.max_tensors = 3;
    rnnck_model *m = NULL;
    cr_assert_eq(rnnck_load(p, &lim, &m), RNNCK_E_FORMAT);
    cr_assert_not_null(strstr(rnnck_errmsg(), "(limit)"), "%s", rnnck_errmsg());
    cr_assert_null(m);
    free(p);
}

Test(schema, refuses_soft_links_without_following_them, .init = test_dir_setup, .fini = test_dir_teardown) {
    char *p = craft_example_copy(test_dir, "x.h5");
    cr_assert_eq(h5c_soft_link(p, "/enc/rnn/weight_ih_l0", "/head/weight"), 0);
    expect_refused(p, RNNCK_E_UNSUPPORTED, "/head/weight: soft link refused", NULL);
    free(p);
}

Test(schema, refuses_external_links_without_following_them, .init = test_dir_setup, .fini = test_dir_teardown) {
    char *p = craft_example_copy(test_dir, "x.h5");
    /* The target file does not even exist: following would fail differently. */
    cr_assert_eq(h5c_external_link(p, "/nonexistent/other.h5", "/w", "/enc/rnn/weight_hh_l0"), 0);
    expect_refused(p, RNNCK_E_UNSUPPORTED, "/enc/rnn/weight_hh_l0: external link refused", NULL);
    free(p);
}

Test(schema, refuses_a_hard_link_cycle, .init = test_dir_setup, .fini = test_dir_teardown) {
    char *p = craft_example_copy(test_dir, "x.h5");
    cr_assert_eq(h5c_hard_link(p, "/", "/head/loop"), 0);
    expect_refused(p, RNNCK_E_FORMAT, "/head/loop: group is linked more than once", NULL);
    free(p);
}

Test(schema, refuses_external_storage, .init = test_dir_setup, .fini = test_dir_teardown) {
    char *p = craft_example_copy(test_dir, "x.h5");
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_external(dcpl, "elsewhere.bin", 0, 40 * 4);
    hsize_t dims[2] = {5, 8};
    cr_assert_eq(h5c_put_dataset(p, "/head/weight", H5T_IEEE_F32LE, 2, dims, dcpl, NULL), 0);
    H5Pclose(dcpl);
    expect_refused(p, RNNCK_E_UNSUPPORTED, "/head/weight: data in external files is not allowed", NULL);
    free(p);
}

Test(schema, refuses_filters_other_than_deflate_and_shuffle, .init = test_dir_setup, .fini = test_dir_teardown) {
    char *p = craft_example_copy(test_dir, "x.h5");
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    hsize_t chunk[2] = {2, 8}, dims[2] = {2, 8};
    H5Pset_chunk(dcpl, 2, chunk);
    H5Pset_shuffle(dcpl);
    H5Pset_fletcher32(dcpl);
    float v[16] = {0};
    cr_assert_eq(h5c_put_dataset(p, "/head/weight", H5T_NATIVE_FLOAT, 2, dims, dcpl, v), 0);
    H5Pclose(dcpl);
    expect_refused(p, RNNCK_E_UNSUPPORTED, "/head/weight: filter 3 (fletcher32) is not allowed", NULL);
    free(p);
}

Test(schema, reads_chunked_deflate_shuffle_and_compact_datasets, .init = test_dir_setup, .fini = test_dir_teardown) {
    char *p = craft_example_copy(test_dir, "x.h5");
    float v[16];
    for (int i = 0; i < 16; i++)
        v[i] = (float)craft_value(7, i);
    hsize_t chunk[2] = {1, 8}, dims[2] = {2, 8};
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 2, chunk);
    H5Pset_shuffle(dcpl);
    H5Pset_deflate(dcpl, 6);
    cr_assert_eq(h5c_put_dataset(p, "/head/weight", H5T_NATIVE_FLOAT, 2, dims, dcpl, v), 0);
    H5Pclose(dcpl);
    dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_layout(dcpl, H5D_COMPACT);
    cr_assert_eq(h5c_put_dataset(p, "/head/compact", H5T_IEEE_F64BE, 2, dims, dcpl, NULL), 0);
    H5Pclose(dcpl);
    rnnck_model *m;
    cr_assert_eq(rnnck_load(p, NULL, &m), RNNCK_OK, "%s", rnnck_errmsg());
    float got[16];
    cr_assert_eq(rnnck_model_read(m, "head.weight", RNNCK_F32, got, sizeof got), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(memcmp(got, v, sizeof v), 0);
    double zeros[16];
    cr_assert_eq(rnnck_model_read(m, "head.compact", RNNCK_F64, zeros, sizeof zeros), RNNCK_OK, "%s", rnnck_errmsg());
    for (int i = 0; i < 16; i++)
        cr_assert_eq(zeros[i], 0.0);
    rnnck_model_free(m);
    free(p);
}

Test(schema, refuses_contiguous_storage_of_the_wrong_size, .init = test_dir_setup, .fini = test_dir_teardown) {
    char *p = craft_example_copy(test_dir, "x.h5");
    cr_assert_eq(h5c_patch_contiguous_size(p, "/head/weight", 60), 0);
    expect_refused(p, RNNCK_E_FORMAT, "/head/weight: stores 60 bytes but shape (2, 8) of float32 needs 64", NULL);
    free(p);
}

Test(schema, refuses_a_dtype_tag_that_contradicts_the_data, .init = test_dir_setup, .fini = test_dir_teardown) {
    char *p = craft_example_copy(test_dir, "x.h5");
    cr_assert_eq(h5c_set_attr_string(p, "/head/weight", "dtype", "bfloat16"), 0);
    expect_refused(p, RNNCK_E_FORMAT, "/head/weight: dtype attribute 'bfloat16' contradicts stored float32", NULL);
    free(p);
}

Test(schema, refuses_link_names_with_dots, .init = test_dir_setup, .fini = test_dir_teardown) {
    char *p = craft_example_copy(test_dir, "x.h5");
    hsize_t dims[1] = {1};
    float v = 1;
    cr_assert_eq(h5c_put_dataset(p, "/head/a.b", H5T_NATIVE_FLOAT, 1, dims, H5P_DEFAULT, &v), 0);
    expect_refused(p, RNNCK_E_FORMAT, "/head/a.b: link name", NULL);
    free(p);
}

Test(schema, loads_data_with_nan_and_leaves_judgement_to_check, .init = test_dir_setup, .fini = test_dir_teardown) {
    char *p = craft_example_copy(test_dir, "x.h5");
    hsize_t dims[2] = {2, 8};
    float v[16] = {0};
    v[3] = NAN;
    cr_assert_eq(h5c_put_dataset(p, "/head/weight", H5T_NATIVE_FLOAT, 2, dims, H5P_DEFAULT, v), 0);
    rnnck_model *m;
    cr_assert_eq(rnnck_load(p, NULL, &m), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_model_load_all(m), RNNCK_OK, "%s", rnnck_errmsg());
    rnnck_model_free(m);
    free(p);
}

Test(schema, reads_an_h5py_written_file, .init = test_dir_setup, .fini = test_dir_teardown) {
    /* Written by fixtures/schema/make_schema_fixtures.py with h5py: variable-
     * length string attributes, numpy bool flags, big-endian data. */
    char *p = fixture_path("schema/h5py_gru.h5");
    rnnck_model *m;
    cr_assert_eq(rnnck_load(p, NULL, &m), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_model_module_count(m), 1);
    const rnnck_module_info *info = rnnck_model_module(m, 0);
    cr_assert_str_eq(info->name, "gru");
    cr_assert_eq(info->cell, RNNCK_CELL_GRU);
    cr_assert_eq(info->input_size, 2);
    cr_assert_eq(info->hidden_size, 3);
    cr_assert_eq(info->bidirectional, 1);
    cr_assert_eq(info->linear_before_reset, 0);
    cr_assert_eq(info->dtype, RNNCK_F64);
    /* The script stores weight_ih_l0[r][c] = r * 0.5 - c * 0.25. */
    double w[9 * 2];
    cr_assert_eq(rnnck_model_read(m, "gru.weight_ih_l0", RNNCK_F64, w, sizeof w), RNNCK_OK, "%s", rnnck_errmsg());
    for (int r = 0; r < 9; r++)
        for (int c = 0; c < 2; c++)
            cr_assert_eq(w[r * 2 + c], r * 0.5 - c * 0.25);
    rnnck_tensor *t;
    cr_assert_eq(rnnck_model_find(m, "emb", &t), RNNCK_OK);
    cr_assert_eq(rnnck_tensor_dtype(t), RNNCK_F16);
    rnnck_model_free(m);
    free(p);
}

Test(schema, refuses_a_file_that_crashes_libhdf5_without_crashing, .init = test_dir_setup, .fini = test_dir_teardown) {
    /* A corrupted rnnck file on which libhdf5 1.10.8 itself segfaults (so does
     * h5dump): the walk runs in a child process, which takes the fault. */
    char *p = fixture_path("schema/bad_crashes_libhdf5.h5");
    expect_refused(p, RNNCK_E_FORMAT, NULL, NULL);
    rnnck_report *r = NULL;
    cr_assert_eq(rnnck_check_file(p, 0, &r), RNNCK_E_FORMAT);
    cr_assert_null(r);
    free(p);
}

Test(schema, survives_random_corruption_of_metadata, .init = test_dir_setup, .fini = test_dir_teardown) {
    char *good = craft_example_copy(test_dir, "good.h5"), *bad = path_join(test_dir, "bad.h5");
    size_t len;
    unsigned char *orig = read_file(good, &len);
    cr_assert_not_null(orig);
    uint64_t x = 0x9e3779b97f4a7c15ull; /* fixed xorshift stream: the same files every run */
    size_t accepted = 0, refused = 0;
    for (int it = 0; it < 120; it++) {
        unsigned char *b = malloc(len);
        memcpy(b, orig, len);
        for (int k = 0; k < 3; k++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            size_t limit = len < 4096 ? len : 4096; /* metadata sits at the front */
            b[(x >> 8) % limit] = (unsigned char)x;
        }
        cr_assert_eq(write_file(bad, b, len), 0);
        free(b);
        rnnck_model *m = NULL;
        rnnck_status st = rnnck_load(bad, NULL, &m);
        if (st == RNNCK_OK) st = rnnck_model_load_all(m);
        rnnck_model_free(m);
        cr_assert(st == RNNCK_OK || st == RNNCK_E_FORMAT || st == RNNCK_E_UNSUPPORTED, "iteration %d: status %d (%s)",
                  it, st, rnnck_errmsg());
        if (st) cr_assert_not_null(strstr(rnnck_errmsg(), bad), "iteration %d: %s", it, rnnck_errmsg());
        st == RNNCK_OK ? accepted++ : refused++;
    }
    cr_log_info("random corruption: %zu accepted, %zu refused", accepted, refused);
    cr_assert_gt(refused, 0);
    free(orig);
    free(good);
    free(bad);
}

Test(schema, reads_the_documented_example_file) {
    /* docs/SCHEMA.md shows h5dump -A of this file (rnnck init ... --seed 1). */
    char *p = fixture_path("schema/example_lstm.h5");
    rnnck_model *m;
    cr_assert_eq(rnnck_load(p, NULL, &m), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_model_module_count(m), 1);
    const rnnck_module_info *info = rnnck_model_module(m, 0);
    cr_assert_str_eq(info->name, "");
    cr_assert_eq(info->cell, RNNCK_CELL_LSTM);
    cr_assert_eq(info->input_size, 3);
    cr_assert_eq(info->hidden_size, 2);
    cr_assert(rnnck_module_info_is_pytorch(info));
    const char *names[] = {"weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"};
    cr_assert_eq(rnnck_model_tensor_count(m), 4);
    for (size_t i = 0; i < 4; i++)
        cr_assert_str_eq(rnnck_tensor_name(rnnck_model_tensor(m, i)), names[i]);
    cr_assert_eq(rnnck_model_load_all(m), RNNCK_OK, "%s", rnnck_errmsg());
    rnnck_model_free(m);
    rnnck_report *r;
    cr_assert_eq(rnnck_check_file(p, 0, &r), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_report_count(r), 0);
    rnnck_report_free(r);
    free(p);
}

Test(schema, chunked_data_that_crashes_libhdf5_is_refused_without_crashing) {
    /* The chunk data of /head/big makes libhdf5 1.10.8 segfault in
     * H5VM_memcpyvv (h5dump too). Its chunks are declared (4, 7929864): 121
     * MiB each for a 2 KiB dataset, which rnnck now refuses when the file is
     * opened (chunks larger than their dataset), before libhdf5 touches the
     * chunk data; chunked reads would run in the helper otherwise. */
    char *p = fixture_path("schema/bad_chunk_crashes_libhdf5.h5");
    rnnck_model *m = NULL;
    cr_assert_eq(rnnck_load(p, NULL, &m), RNNCK_E_FORMAT, "%s", rnnck_errmsg());
    cr_assert_null(m);
    cr_assert_not_null(strstr(rnnck_errmsg(), "/head/big"), "%s", rnnck_errmsg());
    cr_assert_not_null(strstr(rnnck_errmsg(), "chunk dimensions (4, 7929864)"), "%s", rnnck_errmsg());
    free(p);
}

Test(schema, refuses_groups_nested_too_deep, .init = test_dir_setup, .fini = test_dir_teardown) {
    char *p = craft_example_copy(test_dir, "x.h5");
    char path[256] = "";
    for (int i = 0; i < 40; i++) strcat(path, "/g");
    strcat(path, "/w");
    hid_t f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hsize_t dims[1] = {1};
    hid_t space = H5Screate_simple(1, dims, NULL);
    hid_t ds = H5Dcreate2(f, path, H5T_IEEE_F32LE, space, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    cr_assert_geq(ds, 0);
    H5Dclose(ds);
    H5Sclose(space);
    H5Pclose(lcpl);
    H5Fclose(f);
    expect_refused(p, RNNCK_E_FORMAT, "groups nested deeper than 32", NULL);
    free(p);
}

/* ------------------------------------------------------------ schema 1.1 */

static char *root_schema_version(const char *path, char *buf, size_t n) {
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    cr_assert_geq(f, 0);
    hid_t a = H5Aopen(f, "rnnck_schema", H5P_DEFAULT);
    hid_t t = H5Aget_type(a);
    size_t sz = H5Tget_size(t);
    cr_assert_lt(sz, n);
    memset(buf, 0, n);
    cr_assert_geq(H5Aread(a, t, buf), 0);
    H5Tclose(t);
    H5Aclose(a);
    H5Fclose(f);
    return buf;
}

/* A model with a reverse-only GRU (Keras go_backwards: output in processing
 * order) and a bidirectional LSTM with merge_mode `merge`. */
static rnnck_model *v11_model(rnnck_merge_mode merge) {
    rnnck_model *m;
    cr_assert_eq(rnnck_model_new(&m), RNNCK_OK);
    rnnck_module_info g, l;
    rnnck_module_info_init(&g, RNNCK_CELL_GRU);
    g.name = "back.gru";
    g.input_size = 3;
    g.hidden_size = 2;
    g.reverse = 1;
    g.output_reversed = 1;
    rnnck_module_info_init(&l, RNNCK_CELL_LSTM);
    l.name = "bi";
    l.input_size = 2;
    l.hidden_size = 3;
    l.bidirectional = 1;
    l.merge_mode = merge;
    cr_assert_eq(rnnck_model_add_module(m, &g), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_model_add_module(m, &l), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(craft_fill(m), 0);
    return m;
}

Test(schema, reverse_direction_and_merge_modes_round_trip_as_schema_1_1, .init = test_dir_setup,
     .fini = test_dir_teardown) {
    for (int mm = RNNCK_MERGE_CONCAT; mm < RNNCK_MERGE_COUNT_; mm++) {
        rnnck_model *m = v11_model((rnnck_merge_mode)mm);
        char *p = path_join(test_dir, "v11.h5");
        cr_assert_eq(rnnck_save(m, p), RNNCK_OK, "%s", rnnck_errmsg());
        char v[16];
        cr_assert_str_eq(root_schema_version(p, v, sizeof v), "1.1");
        rnnck_model *l;
        cr_assert_eq(rnnck_load(p, NULL, &l), RNNCK_OK, "%s", rnnck_errmsg());
        for (size_t i = 0; i < 2; i++) {
            const rnnck_module_info *a = rnnck_model_module(m, i), *b = rnnck_model_module(l, i);
            assert_same_info(a, b);
            cr_assert_eq(b->reverse, a->reverse);
            cr_assert_eq(b->output_reversed, a->output_reversed);
            cr_assert_eq(b->merge_mode, a->merge_mode, "merge %s", rnnck_merge_mode_name((rnnck_merge_mode)mm));
        }
        rnnck_report *r;
        cr_assert_eq(rnnck_check_file(p, 0, &r), RNNCK_OK, "%s", rnnck_errmsg());
        cr_assert_eq(rnnck_report_count(r), 0, "%s", rnnck_report_item(r, 0));
        rnnck_report_free(r);
        rnnck_model_free(l);
        rnnck_model_free(m);
        free(p);
    }
}

Test(schema, files_without_1_1_features_stay_schema_1_0, .init = test_dir_setup, .fini = test_dir_teardown) {
    char *p = craft_example_copy(test_dir, "x.h5");
    char v[16];
    cr_assert_str_eq(root_schema_version(p, v, sizeof v), "1.0");
    hid_t f = H5Fopen(p, H5F_ACC_RDONLY, H5P_DEFAULT);
    cr_assert_eq(H5Aexists_by_name(f, "/enc/rnn", "direction", H5P_DEFAULT), 0);
    cr_assert_eq(H5Aexists_by_name(f, "/enc/rnn", "merge_mode", H5P_DEFAULT), 0);
    cr_assert_eq(H5Aexists_by_name(f, "/enc/rnn", "output_order", H5P_DEFAULT), 0);
    H5Fclose(f);
    /* and a 1.0 file reads with the 1.0 meaning */
    rnnck_model *m;
    cr_assert_eq(rnnck_load(p, NULL, &m), RNNCK_OK, "%s", rnnck_errmsg());
    const rnnck_module_info *i = rnnck_model_module(m, 0);
    cr_assert_eq(i->reverse, 0);
    cr_assert_eq(i->output_reversed, 0);
    cr_assert_eq(i->merge_mode, RNNCK_MERGE_CONCAT);
    rnnck_model_free(m);
    free(p);
}

Test(schema, refuses_an_unknown_merge_mode_naming_the_known_ones, .init = test_dir_setup, .fini = test_dir_teardown) {
    char *p = craft_example_copy(test_dir, "x.h5");
    cr_assert_eq(h5c_set_attr_string(p, "/", "rnnck_schema", "1.1"), 0);
    cr_assert_eq(h5c_set_attr_string(p, "/enc/rnn", "merge_mode", "max"), 0);
    expect_refused(p, RNNCK_E_FORMAT, "/enc/rnn: attribute merge_mode is 'max'", "concat, sum, mul, ave, none");
    free(p);
}

Test(schema, refuses_1_1_attributes_that_contradict_the_module, .init = test_dir_setup, .fini = test_dir_teardown) {
    char *p = craft_example_copy(test_dir, "x.h5");
    /* the example is bidirectional: a reverse-only direction contradicts it */
    cr_assert_eq(h5c_set_attr_string(p, "/enc/rnn", "direction", "reverse"), 0);
    expect_refused(p, RNNCK_E_FORMAT, "/enc/rnn", "contradicts bidirectional");
    cr_assert_eq(h5c_delete_attr(p, "/enc/rnn", "direction"), 0);
    /* it has two layers: a merge other than concat needs one */
    cr_assert_eq(h5c_set_attr_string(p, "/enc/rnn", "merge_mode", "sum"), 0);
    expect_refused(p, RNNCK_E_FORMAT, "/enc/rnn: attributes out of range", "merge_mode sum");
    free(p);
}

/* ------------------------------------------------------------ schema 1.2 */

Test(schema, tf_cell_clip_and_proj_clip_round_trip_as_schema_1_2, .init = test_dir_setup, .fini = test_dir_teardown) {
    rnnck_model *m;
    cr_assert_eq(rnnck_model_new(&m), RNNCK_OK);
    rnnck_module_info l, g;
    rnnck_module_info_init(&l, RNNCK_CELL_LSTM);
    l.name = "tf.lstm_cell";
    l.input_size = 3;
    l.hidden_size = 4;
    l.proj_size = 2;
    l.forget_bias = 1;
    l.clip = 5; /* ONNX's gate clip beside TF's: both kept */
    l.cell_clip = 0.75;
    l.proj_clip = 1.0 / 3;
    rnnck_module_info_init(&g, RNNCK_CELL_GRU);
    g.name = "gru";
    g.input_size = 2;
    g.hidden_size = 3;
    cr_assert_eq(rnnck_model_add_module(m, &l), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_model_add_module(m, &g), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(craft_fill(m), 0);
    char *p = path_join(test_dir, "v12.h5");
    cr_assert_eq(rnnck_save(m, p), RNNCK_OK, "%s", rnnck_errmsg());
    char v[16];
    cr_assert_str_eq(root_schema_version(p, v, sizeof v), "1.2");
    hid_t f = H5Fopen(p, H5F_ACC_RDONLY, H5P_DEFAULT);
    cr_assert_eq(H5Aexists_by_name(f, "/tf/lstm_cell", "cell_clip", H5P_DEFAULT), 1);
    cr_assert_eq(H5Aexists_by_name(f, "/gru", "cell_clip", H5P_DEFAULT), 0, "written only where set");
    H5Fclose(f);
    rnnck_model *back;
    cr_assert_eq(rnnck_load(p, NULL, &back), RNNCK_OK, "%s", rnnck_errmsg());
    for (size_t i = 0; i < 2; i++) {
        const char *d = module_info_difference(rnnck_model_module(m, i), rnnck_model_module(back, i));
        cr_assert_null(d, "module %zu: %s changed", i, d ? d : "");
    }
    cr_assert_eq(rnnck_model_module(back, 0)->proj_clip, 1.0 / 3, "the double, bit for bit");
    rnnck_report *r;
    cr_assert_eq(rnnck_check_file(p, 0, &r), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_report_count(r), 0, "%s", rnnck_report_item(r, 0));
    rnnck_report_free(r);
    rnnck_model_free(back);
    /* without them the same model stays 1.0 */
    rnnck_model_free(m);
    free(p);
    p = craft_example_copy(test_dir, "x.h5");
    cr_assert_str_eq(root_schema_version(p, v, sizeof v), "1.0");
    free(p);
}

Test(schema, refuses_1_2_clips_that_are_negative_misplaced_or_without_a_projection, .init = test_dir_setup,
     .fini = test_dir_teardown) {
    char *p = craft_example_copy(test_dir, "x.h5");
    rnnck_model *m;
    /* honoured whatever minor the root states, as 1.1's */
    cr_assert_eq(h5c_set_attr_f64(p, "/enc/rnn", "cell_clip", 2.5), 0);
    cr_assert_eq(rnnck_load(p, NULL, &m), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_model_module(m, 0)->cell_clip, 2.5);
    rnnck_model_free(m);
    cr_assert_eq(h5c_set_attr_f64(p, "/enc/rnn", "cell_clip", -1), 0);
    expect_refused(p, RNNCK_E_FORMAT, "/enc/rnn: attributes out of range", "cell_clip and proj_clip must be finite");
    cr_assert_eq(h5c_delete_attr(p, "/enc/rnn", "cell_clip"), 0);
    cr_assert_eq(h5c_set_attr_f64(p, "/enc/rnn", "proj_clip", 1), 0);
    expect_refused(p, RNNCK_E_FORMAT, "/enc/rnn: attributes out of range", "proj_clip clips the projected output");
    cr_assert_eq(h5c_set_attr_string(p, "/enc/rnn", "proj_clip", "1"), 0);
    expect_refused(p, RNNCK_E_FORMAT, "/enc/rnn", "proj_clip");
    cr_assert_eq(h5c_delete_attr(p, "/enc/rnn", "proj_clip"), 0);
    /* a GRU has no cell state */
    cr_assert_eq(h5c_set_attr_string(p, "/enc/rnn", "module", "GRU"), 0);
    cr_assert_eq(h5c_set_attr_f64(p, "/enc/rnn", "cell_clip", 1), 0);
    rnnck_report *r;
    cr_assert_eq(rnnck_check_file(p, 0, &r), RNNCK_OK, "%s", rnnck_errmsg());
    bool said = false;
    for (size_t i = 0; i < rnnck_report_count(r); i++)
        said |= strstr(rnnck_report_item(r, i), "attribute cell_clip does not apply to GRU") != NULL;
    cr_assert(said, "%s", rnnck_report_count(r) ? rnnck_report_item(r, 0) : "no report");
    rnnck_report_free(r);
    free(p);
}

/* The example file made unidirectional (h5py-style edits): a copy a
 * direction attribute can be put on. */
static char *unidirectional_example(const char *name) {
    char *p = craft_example_copy(test_dir, name);
    cr_assert_eq(h5c_set_attr_i64(p, "/enc/rnn", "bidirectional", 0), 0);
    for (int l = 0; l < 2; l++) {
        static const char *const k[] = {"weight_ih", "weight_hh", "bias_ih", "bias_hh"};
        for (int i = 0; i < 4; i++) {
            char obj[64];
            snprintf(obj, sizeof obj, "/enc/rnn/%s_l%d_reverse", k[i], l);
            cr_assert_eq(h5c_delete_link(p, obj), 0);
        }
    }
    /* layer 1 now takes H inputs, not 2H */
    float w[16 * 4] = {0};
    hsize_t dims[2] = {16, 4};
    cr_assert_eq(h5c_put_dataset(p, "/enc/rnn/weight_ih_l1", H5T_IEEE_F32LE, 2, dims, H5P_DEFAULT, w), 0);
    cr_assert_eq(h5c_set_attr_string(p, "/enc/rnn", "activations", "Sigmoid,Tanh,Tanh"), 0);
    double zero3[3] = {0, 0, 0};
    hid_t f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
    hsize_t three = 3;
    for (int i = 0; i < 2; i++) {
        const char *n = i ? "activation_beta" : "activation_alpha";
        H5Adelete_by_name(f, "/enc/rnn", n, H5P_DEFAULT);
        hid_t sp = H5Screate_simple(1, &three, NULL);
        hid_t a = H5Acreate_by_name(f, "/enc/rnn", n, H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        H5Awrite(a, H5T_NATIVE_DOUBLE, zero3);
        H5Aclose(a);
        H5Sclose(sp);
    }
    H5Fclose(f);
    rnnck_model *m;
    cr_assert_eq(rnnck_load(p, NULL, &m), RNNCK_OK, "the unidirectional copy reads: %s", rnnck_errmsg());
    rnnck_model_free(m);
    return p;
}

Test(schema, reverse_module_reads_from_a_hand_written_1_1_file, .init = test_dir_setup, .fini = test_dir_teardown) {
    char *p = unidirectional_example("x.h5");
    cr_assert_eq(h5c_set_attr_string(p, "/", "rnnck_schema", "1.1"), 0);
    cr_assert_eq(h5c_set_attr_string(p, "/enc/rnn", "direction", "reverse"), 0);
    rnnck_model *m;
    cr_assert_eq(rnnck_load(p, NULL, &m), RNNCK_OK, "%s", rnnck_errmsg());
    const rnnck_module_info *i = rnnck_model_module(m, 0);
    cr_assert_eq(i->reverse, 1);
    cr_assert_eq(i->output_reversed, 0, "output_order absent means time order");
    cr_assert_eq(i->num_layers, 2);
    rnnck_model_free(m);
    free(p);
}

Test(schema, refuses_an_unknown_direction_or_output_order, .init = test_dir_setup, .fini = test_dir_teardown) {
    char *p = unidirectional_example("x.h5");
    cr_assert_eq(h5c_set_attr_string(p, "/enc/rnn", "direction", "sideways"), 0);
    expect_refused(p, RNNCK_E_FORMAT, "/enc/rnn: attribute direction is 'sideways'", "forward, reverse");
    cr_assert_eq(h5c_set_attr_string(p, "/enc/rnn", "direction", "reverse"), 0);
    cr_assert_eq(h5c_set_attr_string(p, "/enc/rnn", "output_order", "shuffled"), 0);
    expect_refused(p, RNNCK_E_FORMAT, "/enc/rnn: attribute output_order is 'shuffled'", "time, processed");
    /* "processed" needs one layer; the example has two */
    cr_assert_eq(h5c_set_attr_string(p, "/enc/rnn", "output_order", "processed"), 0);
    expect_refused(p, RNNCK_E_FORMAT, "/enc/rnn: attributes out of range", "output_reversed");
    free(p);
}
