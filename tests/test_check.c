/* rnnck_check_file: lists every schema problem of a file, one line each,
 * naming the file and the object; refuses files that are not rnnck HDF5. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "helpers/h5craft.h"
#include "helpers/testutil.h"

static rnnck_report *check_ok(const char *path, unsigned flags) {
    rnnck_report *r = NULL;
    rnnck_status st = rnnck_check_file(path, flags, &r);
    cr_assert_eq(st, RNNCK_OK, "check of %s: %d %s", path, st, rnnck_errmsg());
    cr_assert_not_null(r);
    for (size_t i = 0; i < rnnck_report_count(r); i++) {
        const char *line = rnnck_report_item(r, i);
        cr_assert_not_null(strstr(line, path), "line names the file: %s", line);
        cr_assert_null(strchr(line, '\n'), "one line: %s", line);
    }
    return r;
}

/* Number of report lines containing needle. */
static size_t lines_with(const rnnck_report *r, const char *needle) {
    size_t n = 0;
    for (size_t i = 0; i < rnnck_report_count(r); i++)
        if (strstr(rnnck_report_item(r, i), needle)) n++;
    return n;
}

static void dump(const rnnck_report *r) {
    for (size_t i = 0; i < rnnck_report_count(r); i++)
        cr_log_info("%s", rnnck_report_item(r, i));
}

Test(check, a_file_rnnck_wrote_has_no_problems, .init = test_dir_setup, .fini = test_dir_teardown) {
    char *p = craft_example_copy(test_dir, "x.h5");
    rnnck_report *r = check_ok(p, 0);
    dump(r);
    cr_assert_eq(rnnck_report_count(r), 0);
    rnnck_report_free(r);
    free(p);
}

Test(check, an_h5py_written_file_has_no_problems) {
    char *p = fixture_path("schema/h5py_gru.h5");
    rnnck_report *r = check_ok(p, 0);
    dump(r);
    cr_assert_eq(rnnck_report_count(r), 0);
    rnnck_report_free(r);
    free(p);
}

Test(check, refuses_files_that_are_not_rnnck_hdf5, .init = test_dir_setup, .fini = test_dir_teardown) {
    rnnck_report *sentinel = (rnnck_report *)&test_dir, *r = sentinel;
    char *text = path_join(test_dir, "t.h5"), *empty = path_join(test_dir, "e.h5"), *none = path_join(test_dir, "none.h5");
    cr_assert_eq(write_file(text, "not hdf5", 8), 0);
    cr_assert_eq(write_file(empty, "", 0), 0);
    cr_assert_eq(rnnck_check_file(text, 0, &r), RNNCK_E_FORMAT);
    cr_assert_not_null(strstr(rnnck_errmsg(), text));
    cr_assert_eq(rnnck_check_file(empty, 0, &r), RNNCK_E_FORMAT);
    cr_assert_eq(rnnck_check_file(none, 0, &r), RNNCK_E_IO);
    char *plain = craft_example_copy(test_dir, "plain.h5");
    cr_assert_eq(h5c_delete_attr(plain, "/", "rnnck_schema"), 0);
    cr_assert_eq(rnnck_check_file(plain, 0, &r), RNNCK_E_FORMAT);
    cr_assert_not_null(strstr(rnnck_errmsg(), "no rnnck_schema"), "%s", rnnck_errmsg());
    cr_assert_eq(r, sentinel, "*out is not written on failure");
    free(text);
    free(empty);
    free(none);
    free(plain);
}

Test(check, refuses_a_truncated_file, .init = test_dir_setup, .fini = test_dir_teardown) {
    char *p = craft_example_copy(test_dir, "x.h5"), *cut = path_join(test_dir, "cut.h5");
    size_t len;
    unsigned char *bytes = read_file(p, &len);
    free(bytes);
    cr_assert_eq(h5c_truncate_copy(p, cut, len / 2), 0);
    rnnck_report *r = NULL;
    cr_assert_eq(rnnck_check_file(cut, 0, &r), RNNCK_E_FORMAT);
    cr_assert_null(r);
    free(p);
    free(cut);
}

Test(check, reports_a_newer_schema_major_and_stops, .init = test_dir_setup, .fini = test_dir_teardown) {
    char *p = craft_example_copy(test_dir, "x.h5");
    cr_assert_eq(h5c_set_attr_string(p, "/", "rnnck_schema", "2.0"), 0);
    rnnck_report *r = check_ok(p, 0);
    cr_assert_eq(rnnck_report_count(r), 1);
    cr_assert_eq(lines_with(r, "schema 2.0 is newer"), 1);
    rnnck_report_free(r);
    free(p);
}

Test(check, reports_every_problem_not_just_the_first, .init = test_dir_setup, .fini = test_dir_teardown) {
    char *p = craft_example_copy(test_dir, "x.h5");
    /* Seven independent problems in seven objects. */
    hsize_t d2[2] = {2, 8}, d3[3] = {16, 4, 1}, d1[1] = {3};
    float nan_data[16] = {0}, zeros[64] = {0};
    nan_data[0] = NAN;
    cr_assert_eq(h5c_put_dataset(p, "/head/weight", H5T_NATIVE_FLOAT, 2, d2, H5P_DEFAULT, nan_data), 0);
    cr_assert_eq(h5c_put_dataset(p, "/enc/rnn/extra", H5T_NATIVE_FLOAT, 1, d1, H5P_DEFAULT, zeros), 0);
    cr_assert_eq(h5c_put_dataset(p, "/enc/rnn/weight_hh_l1", H5T_NATIVE_FLOAT, 3, d3, H5P_DEFAULT, zeros), 0);
    cr_assert_eq(h5c_delete_link(p, "/enc/rnn/bias_ih_l0"), 0);
    cr_assert_eq(h5c_soft_link(p, "/head/weight", "/embed/weight"), 0);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_external(dcpl, "outside.bin", 0, 12);
    cr_assert_eq(h5c_put_dataset(p, "/outside", H5T_IEEE_F32LE, 1, d1, dcpl, NULL), 0);
    H5Pclose(dcpl);
    cr_assert_eq(h5c_set_attr_string(p, "/head/steps", "dtype", "bool"), 0);
    rnnck_report *r = check_ok(p, 0);
    dump(r);
    cr_assert_eq(rnnck_report_count(r), 7);
    cr_assert_eq(lines_with(r, "/head/weight: 1 NaN/Inf value"), 1);
    cr_assert_eq(lines_with(r, "/enc/rnn/extra: unknown object"), 1);
    cr_assert_eq(lines_with(r, "/enc/rnn/weight_hh_l1: shape (16, 4, 1) but module attributes imply (16, 4)"), 1);
    cr_assert_eq(lines_with(r, "/enc/rnn/bias_ih_l0: missing parameter"), 1);
    cr_assert_eq(lines_with(r, "/embed/weight: soft link refused"), 1);
    cr_assert_eq(lines_with(r, "/outside: data in external files"), 1);
    cr_assert_eq(lines_with(r, "/head/steps: dtype attribute 'bool'"), 1);
    rnnck_report_free(r);
    free(p);
}

Test(check, reports_every_bad_module_attribute, .init = test_dir_setup, .fini = test_dir_teardown) {
    char *p = craft_example_copy(test_dir, "x.h5");
    cr_assert_eq(h5c_set_attr_string(p, "/enc/rnn", "hidden_size", "4"), 0);
    cr_assert_eq(h5c_set_attr_i64(p, "/enc/rnn", "bidirectional", 2), 0);
    cr_assert_eq(h5c_set_attr_string(p, "/enc/rnn", "gate_order", "iofc"), 0);
    cr_assert_eq(h5c_delete_attr(p, "/enc/rnn", "clip"), 0);
    rnnck_report *r = check_ok(p, 0);
    dump(r);
    cr_assert_eq(lines_with(r, "/enc/rnn: attribute hidden_size is of type string"), 1);
    cr_assert_eq(lines_with(r, "/enc/rnn: attribute bidirectional is 2"), 1);
    cr_assert_eq(lines_with(r, "/enc/rnn: gate_order is 'iofc'"), 1);
    cr_assert_eq(lines_with(r, "/enc/rnn: missing attribute clip"), 1);
    cr_assert_eq(rnnck_report_count(r), 4);
    rnnck_report_free(r);
    free(p);
}

Test(check, reports_out_of_range_attributes, .init = test_dir_setup, .fini = test_dir_teardown) {
    char *p = craft_example_copy(test_dir, "x.h5");
    cr_assert_eq(h5c_set_attr_i64(p, "/enc/rnn", "proj_size", 9), 0);
    rnnck_report *r = check_ok(p, 0);
    dump(r);
    cr_assert_eq(rnnck_report_count(r), 1);
    cr_assert_eq(lines_with(r, "/enc/rnn: attributes out of range: module enc.rnn: proj_size 9"), 1);
    rnnck_report_free(r);
    free(p);
}

Test(check, reports_nan_and_inf_unless_allowed, .init = test_dir_setup, .fini = test_dir_teardown) {
    char *p = craft_example_copy(test_dir, "x.h5");
    hsize_t dims[2] = {16, 3};
    float w[48];
    for (int i = 0; i < 48; i++)
        w[i] = (float)craft_value(1, i);
    w[5] = NAN;
    w[17] = INFINITY;
    w[40] = -INFINITY;
    cr_assert_eq(h5c_put_dataset(p, "/enc/rnn/weight_ih_l0", H5T_NATIVE_FLOAT, 2, dims, H5P_DEFAULT, w), 0);
    rnnck_report *r = check_ok(p, 0);
    cr_assert_eq(rnnck_report_count(r), 1);
    cr_assert_eq(lines_with(r, "/enc/rnn/weight_ih_l0: 3 NaN/Inf values"), 1);
    rnnck_report_free(r);
    r = check_ok(p, RNNCK_CHECK_ALLOW_NONFINITE);
    cr_assert_eq(rnnck_report_count(r), 0);
    rnnck_report_free(r);
    free(p);
}

Test(check, never_reads_the_data_of_a_dataset_with_bad_metadata, .init = test_dir_setup, .fini = test_dir_teardown) {
    char *p = craft_example_copy(test_dir, "x.h5");
    /* NaN data behind a refused filter and behind a wrong stored size: only
     * the metadata problem may be reported, since reading is what is unsafe. */
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    hsize_t dims[2] = {2, 8};
    H5Pset_chunk(dcpl, 2, dims);
    H5Pset_fletcher32(dcpl);
    float v[16];
    for (int i = 0; i < 16; i++)
        v[i] = NAN;
    cr_assert_eq(h5c_put_dataset(p, "/head/weight", H5T_NATIVE_FLOAT, 2, dims, dcpl, v), 0);
    H5Pclose(dcpl);
    float e[15];
    for (int i = 0; i < 15; i++)
        e[i] = NAN;
    hsize_t edims[2] = {5, 3};
    cr_assert_eq(h5c_put_dataset(p, "/embed/weight", H5T_NATIVE_FLOAT, 2, edims, H5P_DEFAULT, e), 0);
    cr_assert_eq(h5c_patch_contiguous_size(p, "/embed/weight", 1 << 20), 0);
    rnnck_report *r = check_ok(p, 0);
    dump(r);
    cr_assert_eq(rnnck_report_count(r), 2);
    cr_assert_eq(lines_with(r, "/head/weight: filter 3 (fletcher32) is not allowed"), 1);
    cr_assert_eq(lines_with(r, "/embed/weight: stores 1048576 bytes"), 1);
    cr_assert_eq(lines_with(r, "NaN"), 0);
    rnnck_report_free(r);
    free(p);
}

/* One hostile mutation per case, each must yield a line naming its object. */
typedef int (*mutation)(const char *path);
static int m_int_weight(const char *p) {
    hsize_t d[2] = {16, 3};
    int32_t v[48] = {0};
    return h5c_put_dataset(p, "/enc/rnn/weight_ih_l0", H5T_NATIVE_INT32, 2, d, H5P_DEFAULT, v);
}
static int m_vlen(const char *p) {
    hid_t t = H5Tvlen_create(H5T_NATIVE_FLOAT);
    hsize_t d[1] = {2};
    int rc = h5c_put_dataset(p, "/head/weight", t, 1, d, H5P_DEFAULT, NULL);
    H5Tclose(t);
    return rc;
}
static int m_huge(const char *p) {
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    hsize_t chunk[2] = {1, 100}, d[2] = {(hsize_t)1 << 40, 100};
    H5Pset_chunk(dcpl, 2, chunk);
    int rc = h5c_put_dataset(p, "/enc/rnn/weight_ih_l0", H5T_IEEE_F32LE, 2, d, dcpl, NULL);
    H5Pclose(dcpl);
    return rc;
}
static int m_external_link(const char *p) { return h5c_external_link(p, "other.h5", "/x", "/head/weight"); }
static int m_module_int(const char *p) { return h5c_set_attr_i64(p, "/enc/rnn", "module", 7); }
static int m_layers_zero(const char *p) { return h5c_set_attr_i64(p, "/enc/rnn", "num_layers", 0); }
static int m_cycle(const char *p) { return h5c_hard_link(p, "/enc", "/enc/rnn_again"); }

Test(check, every_hostile_case_is_reported_with_its_object, .init = test_dir_setup, .fini = test_dir_teardown) {
    const struct {
        mutation fn;
        const char *needle;
    } cases[] = {
        {m_int_weight, "/enc/rnn/weight_ih_l0: dtype int32"},
        {m_vlen, "/head/weight: datatype is a variable-length type"},
        {m_huge, "/enc/rnn/weight_ih_l0: dimension 0 is 1099511627776"},
        {m_external_link, "/head/weight: external link refused"},
        {m_module_int, "/enc/rnn: attribute module is of type integer"},
        {m_layers_zero, "/enc/rnn: attributes out of range"},
        {m_cycle, "/enc/rnn_again: group is linked more than once"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "case%zu.h5", i);
        char *p = craft_example_copy(test_dir, name);
        cr_assert_eq(cases[i].fn(p), 0, "mutation %zu", i);
        rnnck_report *r = check_ok(p, 0);
        dump(r);
        cr_assert_geq(lines_with(r, cases[i].needle), 1, "case %zu: no line with '%s'", i, cases[i].needle);
        rnnck_report_free(r);
        free(p);
    }
}

Test(check, report_accessors_are_bounded_and_null_safe) {
    cr_assert_eq(rnnck_report_count(NULL), 0);
    cr_assert_null(rnnck_report_item(NULL, 0));
    rnnck_report_free(NULL);
    rnnck_report *r = NULL;
    cr_assert_eq(rnnck_check_file(NULL, 0, &r), RNNCK_E_USAGE);
    char *p = fixture_path("schema/h5py_gru.h5");
    r = check_ok(p, 0);
    cr_assert_null(rnnck_report_item(r, rnnck_report_count(r)));
    rnnck_report_free(r);
    free(p);
}

Test(check, reports_chunked_data_that_crashes_libhdf5) {
    char *p = fixture_path("schema/bad_chunk_crashes_libhdf5.h5");
    rnnck_report *r = check_ok(p, 0);
    dump(r);
    cr_assert_eq(rnnck_report_count(r), 1);
    /* "libhdf5 crashed while reading the data" on 1.10.8; a fixed libhdf5
     * would fail the read cleanly instead. Either way: one line, this object. */
    cr_assert_eq(lines_with(r, "/head/big: "), 1);
    rnnck_report_free(r);
    free(p);
}
