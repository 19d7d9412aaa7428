/* .npy reading (files from real numpy in fixtures/forward/npy, made by
 * fixtures/forward/make_npy_fixtures.py, and crafted malformed buffers) and
 * writing. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rnnck.h"

static rnnck_tensor *load_fixture(const char *name, rnnck_status want) {
    const char *fx = getenv("RNNCK_FIXTURES");
    cr_assert(fx, "RNNCK_FIXTURES is not set");
    char path[1024];
    snprintf(path, sizeof path, "%s/forward/npy/%s", fx, name);
    rnnck_tensor *t = NULL;
    rnnck_status st = rnnck_npy_load(path, &t);
    cr_assert_eq(st, want, "%s: status %d (%s), expected %d", name, st, rnnck_errmsg(), want);
    if (want != RNNCK_OK) {
        cr_expect(strstr(rnnck_errmsg(), name) != NULL, "message does not name the file: %s", rnnck_errmsg());
        cr_expect(strchr(rnnck_errmsg(), '\n') == NULL, "message is not one line");
    }
    return t;
}

/* The value make_npy_fixtures.py stores at C-order element k. */
static double fixture_value(rnnck_dtype dt, int64_t k) {
    switch (dt) {
    case RNNCK_F16:
    case RNNCK_F32:
    case RNNCK_F64: return 0.5 * (double)k - 1;
    case RNNCK_U8: return (double)((7 * k) % 256);
    case RNNCK_BOOL: return k % 3 == 0;
    default: return (double)k - 3;
    }
}

static void expect_fixture(const char *name, rnnck_dtype dt, int ndim, const int64_t *shape) {
    rnnck_tensor *t = load_fixture(name, RNNCK_OK);
    cr_assert_eq(rnnck_tensor_dtype(t), dt, "%s: dtype %s", name, rnnck_dtype_name(rnnck_tensor_dtype(t)));
    cr_assert_eq(rnnck_tensor_ndim(t), ndim, "%s: ndim", name);
    for (int i = 0; i < ndim; i++) cr_assert_eq(rnnck_tensor_dim(t, i), shape[i], "%s: dim %d", name, i);
    cr_assert(rnnck_tensor_is_contiguous(t));
    int64_t n = rnnck_tensor_numel(t);
    double *v = malloc(sizeof(double) * (size_t)(n ? n : 1));
    cr_assert_eq(rnnck_tensor_copy_out(t, RNNCK_F64, v, sizeof(double) * (size_t)n), RNNCK_OK);
    for (int64_t k = 0; k < n; k++)
        cr_expect_eq(v[k], fixture_value(dt, k), "%s[%lld] = %g, expected %g", name, (long long)k, v[k],
                     fixture_value(dt, k));
    free(v);
    rnnck_tensor_free(t);
}

Test(npy, reads_little_endian_c_order_float32) { expect_fixture("f4_c.npy", RNNCK_F32, 2, (int64_t[]){2, 3}); }
Test(npy, reads_big_endian_fortran_order_float64) {
    expect_fixture("f8_big_fortran.npy", RNNCK_F64, 2, (int64_t[]){3, 4});
}
Test(npy, reads_big_endian_fortran_order_3d_float32) {
    expect_fixture("f4_big_3d_fortran.npy", RNNCK_F32, 3, (int64_t[]){2, 3, 4});
}
Test(npy, reads_float16) { expect_fixture("f2_little.npy", RNNCK_F16, 1, (int64_t[]){5}); }
Test(npy, reads_int8) { expect_fixture("i1.npy", RNNCK_I8, 1, (int64_t[]){4}); }
Test(npy, reads_big_endian_int16) { expect_fixture("i2_big.npy", RNNCK_I16, 2, (int64_t[]){2, 2}); }
Test(npy, reads_fortran_order_int32) { expect_fixture("i4_fortran.npy", RNNCK_I32, 2, (int64_t[]){3, 2}); }
Test(npy, reads_big_endian_int64) { expect_fixture("i8_big.npy", RNNCK_I64, 1, (int64_t[]){3}); }
Test(npy, reads_uint8) { expect_fixture("u1.npy", RNNCK_U8, 2, (int64_t[]){2, 5}); }
Test(npy, reads_bool) { expect_fixture("b1.npy", RNNCK_BOOL, 1, (int64_t[]){7}); }
Test(npy, reads_format_version_2) { expect_fixture("f4_v2.npy", RNNCK_F32, 2, (int64_t[]){2, 2}); }
Test(npy, reads_format_version_3) { expect_fixture("f8_v3.npy", RNNCK_F64, 1, (int64_t[]){3}); }
Test(npy, reads_zero_dimensional_scalar) { expect_fixture("f4_scalar.npy", RNNCK_F32, 0, NULL); }
Test(npy, reads_empty_array) { expect_fixture("f4_empty.npy", RNNCK_F32, 2, (int64_t[]){0, 3}); }

Test(npy, refuses_object_array_pickle) { load_fixture("object.npy", RNNCK_E_UNSUPPORTED); }
Test(npy, refuses_structured_dtype) { load_fixture("structured.npy", RNNCK_E_UNSUPPORTED); }
Test(npy, refuses_unicode_dtype) { load_fixture("unicode.npy", RNNCK_E_UNSUPPORTED); }
Test(npy, refuses_complex_dtype) { load_fixture("complex.npy", RNNCK_E_UNSUPPORTED); }

Test(npy, missing_file_is_io_error) {
    rnnck_tensor *t = NULL;
    cr_expect_eq(rnnck_npy_load("/nonexistent/dir/x.npy", &t), RNNCK_E_IO);
    cr_expect(strstr(rnnck_errmsg(), "/nonexistent/dir/x.npy") != NULL);
    cr_expect_null(t);
}

/* ---------------------------------------------------------- crafted buffers */

/* Builds magic + version + length + dict (+ padding/newline as given) + data. */
static size_t craft(unsigned char *buf, int major, int minor, const char *dict, const void *data, size_t ndata) {
    size_t hl = strlen(dict), off = 8;
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)major;
    buf[7] = (unsigned char)minor;
    if (major == 1) {
        buf[8] = (unsigned char)(hl & 0xff);
        buf[9] = (unsigned char)(hl >> 8);
        off = 10;
    } else {
        for (int i = 0; i < 4; i++) buf[8 + i] = (unsigned char)(hl >> (8 * i));
        off = 12;
    }
    memcpy(buf + off, dict, hl);
    if (ndata) memcpy(buf + off + hl, data, ndata);
    return off + hl + ndata;
}

static const float four[4] = {1.5f, -2.0f, 3.25f, 4.0f};

/* Parses a crafted buffer and checks the status and that the message names
 * the buffer and `field`. */
static void expect_refused(const char *dict, const void *data, size_t ndata, rnnck_status want, const char *field) {
    static unsigned char buf[4096];
    size_t n = craft(buf, 1, 0, dict, data, ndata);
    rnnck_tensor *t = NULL;
    rnnck_status st = rnnck_npy_parse(buf, n, "crafted.npy", &t);
    cr_expect_eq(st, want, "dict %s: status %d (%s), expected %d", dict, st, rnnck_errmsg(), want);
    cr_expect_null(t);
    cr_expect(strstr(rnnck_errmsg(), "crafted.npy") != NULL, "no buffer name in: %s", rnnck_errmsg());
    if (field) cr_expect(strstr(rnnck_errmsg(), field) != NULL, "field %s not named in: %s", field, rnnck_errmsg());
}

static rnnck_tensor *expect_parsed(const char *dict, const void *data, size_t ndata) {
    static unsigned char buf[4096];
    size_t n = craft(buf, 1, 0, dict, data, ndata);
    rnnck_tensor *t = NULL;
    cr_assert_eq(rnnck_npy_parse(buf, n, "crafted.npy", &t), RNNCK_OK, "dict %s: %s", dict, rnnck_errmsg());
    return t;
}

Test(npy, accepts_keys_in_any_order_double_quotes_spaces_and_trailing_comma) {
    rnnck_tensor *t = expect_parsed("{ \"shape\" : ( 2 , 2 , ) ,'fortran_order':False,  'descr':'<f4' , }   \n",
                                    four, sizeof four);
    cr_expect_eq(rnnck_tensor_dim(t, 0), 2);
    cr_expect_eq(rnnck_tensor_dim(t, 1), 2);
    cr_expect_eq(((const float *)rnnck_tensor_cdata(t))[2], 3.25f);
    rnnck_tensor_free(t);
}

Test(npy, native_byte_order_equals_sign_is_accepted) {
    rnnck_tensor *t = expect_parsed("{'descr': '=f4', 'fortran_order': False, 'shape': (4,)}\n", four, sizeof four);
    cr_expect_eq(((const float *)rnnck_tensor_cdata(t))[3], 4.0f);
    rnnck_tensor_free(t);
}

Test(npy, big_endian_buffer_is_converted_to_native) {
    unsigned char be[8] = {0x3f, 0xc0, 0, 0, 0xc0, 0, 0, 0}; /* 1.5f, -2.0f big-endian */
    rnnck_tensor *t = expect_parsed("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }\n", be, sizeof be);
    cr_expect_eq(((const float *)rnnck_tensor_cdata(t))[0], 1.5f);
    cr_expect_eq(((const float *)rnnck_tensor_cdata(t))[1], -2.0f);
    rnnck_tensor_free(t);
}

Test(npy, refuses_bad_magic) {
    unsigned char buf[64] = "\x93NUMPX\x01\x00";
    rnnck_tensor *t = NULL;
    cr_expect_eq(rnnck_npy_parse(buf, sizeof buf, "crafted.npy", &t), RNNCK_E_FORMAT);
    cr_expect(strstr(rnnck_errmsg(), "magic") != NULL);
}

Test(npy, refuses_unknown_format_versions) {
    unsigned char buf[256];
    const char *d = "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }\n";
    rnnck_tensor *t = NULL;
    size_t n = craft(buf, 4, 0, d, four, sizeof four);
    cr_expect_eq(rnnck_npy_parse(buf, n, "crafted.npy", &t), RNNCK_E_UNSUPPORTED);
    n = craft(buf, 1, 1, d, four, sizeof four);
    cr_expect_eq(rnnck_npy_parse(buf, n, "crafted.npy", &t), RNNCK_E_UNSUPPORTED);
    cr_expect(strstr(rnnck_errmsg(), "version") != NULL);
}

Test(npy, refuses_header_over_64_kib) {
    size_t n = 12 + 70000 + 16;
    unsigned char *buf = calloc(1, n);
    memcpy(buf, "\x93NUMPY\x02\x00", 8);
    uint32_t hl = 70000;
    for (int i = 0; i < 4; i++) buf[8 + i] = (unsigned char)(hl >> (8 * i));
    memset(buf + 12, ' ', 70000);
    rnnck_tensor *t = NULL;
    cr_expect_eq(rnnck_npy_parse(buf, n, "crafted.npy", &t), RNNCK_E_FORMAT);
    cr_expect(strstr(rnnck_errmsg(), "64 KiB") != NULL, "%s", rnnck_errmsg());
    free(buf);
}

Test(npy, refuses_buffer_ending_inside_the_header) {
    unsigned char buf[256];
    size_t n = craft(buf, 1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }\n", NULL, 0);
    rnnck_tensor *t = NULL;
    cr_expect_eq(rnnck_npy_parse(buf, n - 5, "crafted.npy", &t), RNNCK_E_FORMAT);
    cr_expect_eq(rnnck_npy_parse(buf, 9, "crafted.npy", &t), RNNCK_E_FORMAT);
}

Test(npy, refuses_data_shorter_than_header_implies) {
    expect_refused("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }\n", four, sizeof four - 1,
                   RNNCK_E_FORMAT, "implies");
}
Test(npy, refuses_data_longer_than_header_implies) {
    expect_refused("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }\n", four, sizeof four,
                   RNNCK_E_FORMAT, "implies");
}
Test(npy, refuses_missing_key) {
    expect_refused("{'descr': '<f4', 'fortran_order': False}\n", four, sizeof four, RNNCK_E_FORMAT, "shape");
}
Test(npy, refuses_duplicate_key) {
    expect_refused("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (4,)}\n", four, sizeof four,
                   RNNCK_E_FORMAT, "descr");
}
Test(npy, refuses_unknown_key) {
    expect_refused("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), 'x': 1}\n", four, sizeof four,
                   RNNCK_E_FORMAT, "'x'");
}
Test(npy, refuses_malformed_bool_literal) {
    expect_refused("{'descr': '<f4', 'fortran_order': false, 'shape': (4,)}\n", four, sizeof four, RNNCK_E_FORMAT,
                   "fortran_order");
}
Test(npy, refuses_one_element_shape_without_comma) {
    expect_refused("{'descr': '<f4', 'fortran_order': False, 'shape': (4)}\n", four, sizeof four, RNNCK_E_FORMAT,
                   "shape");
}
Test(npy, refuses_negative_dimension) {
    expect_refused("{'descr': '<f4', 'fortran_order': False, 'shape': (-4,)}\n", four, sizeof four, RNNCK_E_FORMAT,
                   "shape");
}
Test(npy, refuses_unterminated_shape_tuple) {
    expect_refused("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2}\n", four, sizeof four,
                   RNNCK_E_FORMAT, "shape");
}
Test(npy, refuses_shape_whose_element_count_overflows) {
    expect_refused("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 16)}\n", four,
                   sizeof four, RNNCK_E_FORMAT, "shape");
    expect_refused("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}\n", four,
                   sizeof four, RNNCK_E_FORMAT, "shape");
}
Test(npy, refuses_unterminated_string) {
    expect_refused("{'descr: '<f4', 'fortran_order': False, 'shape': (4,)}\n", four, sizeof four, RNNCK_E_FORMAT,
                   NULL);
}
Test(npy, refuses_unsupported_and_malformed_descr) {
    expect_refused("{'descr': '<f3', 'fortran_order': False, 'shape': (4,)}\n", four, sizeof four,
                   RNNCK_E_UNSUPPORTED, "descr");
    expect_refused("{'descr': '|f4', 'fortran_order': False, 'shape': (4,)}\n", four, sizeof four, RNNCK_E_FORMAT,
                   "descr");
    expect_refused("{'descr': 'f4', 'fortran_order': False, 'shape': (4,)}\n", four, sizeof four, RNNCK_E_FORMAT,
                   "descr");
    expect_refused("{'descr': '<M8[ns]', 'fortran_order': False, 'shape': (2,)}\n", four, 16, RNNCK_E_FORMAT,
                   "descr");
    expect_refused("{'descr': '|O', 'fortran_order': False, 'shape': (2,)}\n", four, 16, RNNCK_E_UNSUPPORTED,
                   "pickle");
    expect_refused("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (4,)}\n", four, sizeof four,
                   RNNCK_E_UNSUPPORTED, "structured");
}
Test(npy, refuses_text_after_the_dict) {
    expect_refused("{'descr': '<f4', 'fortran_order': False, 'shape': (4,)} x\n", four, sizeof four,
                   RNNCK_E_FORMAT, NULL);
}
Test(npy, refuses_bool_bytes_other_than_0_and_1) {
    unsigned char b[3] = {0, 1, 2};
    expect_refused("{'descr': '|b1', 'fortran_order': False, 'shape': (3,)}\n", b, 3, RNNCK_E_FORMAT, "bool");
}
Test(npy, refuses_too_many_dimensions) {
    expect_refused("{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,4)}\n", four, sizeof four,
                   RNNCK_E_UNSUPPORTED, "shape");
}

/* ------------------------------------------------------------------ writing */

/* Stores v at element k of a contiguous tensor of any non-bfloat16 dtype. */
static void set_value(rnnck_tensor *t, int64_t k, double v) {
    void *d = rnnck_tensor_data(t);
    switch (rnnck_tensor_dtype(t)) {
    case RNNCK_F16: { /* the values used here are exact halves: convert via float */
        float f = (float)v;
        rnnck_tensor *tmp;
        int64_t s1[1] = {1};
        cr_assert_eq(rnnck_tensor_from_data(RNNCK_F32, 1, s1, &f, sizeof f, &tmp), RNNCK_OK);
        uint16_t h;
        cr_assert_eq(rnnck_tensor_copy_out(tmp, RNNCK_F16, &h, sizeof h), RNNCK_OK);
        ((uint16_t *)d)[k] = h;
        rnnck_tensor_free(tmp);
        break;
    }
    case RNNCK_F32: ((float *)d)[k] = (float)v; break;
    case RNNCK_F64: ((double *)d)[k] = v; break;
    case RNNCK_I8: ((int8_t *)d)[k] = (int8_t)v; break;
    case RNNCK_I16: ((int16_t *)d)[k] = (int16_t)v; break;
    case RNNCK_I32: ((int32_t *)d)[k] = (int32_t)v; break;
    case RNNCK_I64: ((int64_t *)d)[k] = (int64_t)v; break;
    case RNNCK_U8:
    case RNNCK_BOOL: ((uint8_t *)d)[k] = (uint8_t)v; break;
    default: cr_assert_fail("unexpected dtype");
    }
}

static char tmpdir[256];
static void make_tmpdir(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/rnnck-npy-XXXXXX");
    cr_assert(mkdtemp(tmpdir) != NULL);
}

Test(npy, save_writes_format_1_0_little_endian_with_64_byte_aligned_header_and_round_trips) {
    make_tmpdir();
    rnnck_dtype dts[] = {RNNCK_F16, RNNCK_F32, RNNCK_F64, RNNCK_I8, RNNCK_I16, RNNCK_I32, RNNCK_I64, RNNCK_U8,
                         RNNCK_BOOL};
    for (size_t i = 0; i < sizeof dts / sizeof dts[0]; i++) {
        int64_t shape[3] = {2, 1, 3};
        rnnck_tensor *t, *back;
        cr_assert_eq(rnnck_tensor_new(dts[i], 3, shape, &t), RNNCK_OK);
        for (int k = 0; k < 6; k++) set_value(t, k, fixture_value(dts[i], k));
        char path[512];
        snprintf(path, sizeof path, "%s/%s.npy", tmpdir, rnnck_dtype_name(dts[i]));
        cr_assert_eq(rnnck_npy_save(t, path), RNNCK_OK, "%s", rnnck_errmsg());
        FILE *fp = fopen(path, "rb");
        unsigned char head[10];
        cr_assert_eq(fread(head, 1, 10, fp), 10u);
        fclose(fp);
        cr_expect_eq(memcmp(head, "\x93NUMPY\x01\x00", 8), 0);
        cr_expect_eq((10 + (head[8] | head[9] << 8)) % 64, 0, "header not 64-byte aligned");
        cr_assert_eq(rnnck_npy_load(path, &back), RNNCK_OK, "%s", rnnck_errmsg());
        cr_expect_eq(rnnck_tensor_dtype(back), dts[i]);
        cr_expect_eq(rnnck_tensor_ndim(back), 3);
        cr_expect_eq(rnnck_tensor_nbytes(back), rnnck_tensor_nbytes(t));
        cr_expect_eq(memcmp(rnnck_tensor_cdata(back), rnnck_tensor_cdata(t), rnnck_tensor_nbytes(t)), 0, "%s",
                     rnnck_dtype_name(dts[i]));
        rnnck_tensor_free(t);
        rnnck_tensor_free(back);
        unlink(path);
    }
    rmdir(tmpdir);
}

Test(npy, save_of_a_strided_view_writes_c_order) {
    make_tmpdir();
    int64_t shape[2] = {4, 2};
    float v[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    rnnck_tensor *t, *view, *back;
    cr_assert_eq(rnnck_tensor_from_data(RNNCK_F32, 2, shape, v, sizeof v, &t), RNNCK_OK);
    cr_assert_eq(rnnck_tensor_block(t, 2, 1, &view), RNNCK_OK); /* rows 2..3 */
    char path[512];
    snprintf(path, sizeof path, "%s/view.npy", tmpdir);
    cr_assert_eq(rnnck_npy_save(view, path), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_npy_load(path, &back), RNNCK_OK);
    cr_expect_eq(rnnck_tensor_dim(back, 0), 2);
    cr_expect_eq(memcmp(rnnck_tensor_cdata(back), v + 4, 4 * sizeof(float)), 0);
    rnnck_tensor_free(t);
    rnnck_tensor_free(view);
    rnnck_tensor_free(back);
    unlink(path);
    rmdir(tmpdir);
}

Test(npy, save_scalar_and_1d_shapes_are_read_back_by_the_strict_parser) {
    make_tmpdir();
    float one = 2.5f;
    rnnck_tensor *s, *back;
    cr_assert_eq(rnnck_tensor_from_data(RNNCK_F32, 0, NULL, &one, sizeof one, &s), RNNCK_OK);
    char path[512];
    snprintf(path, sizeof path, "%s/s.npy", tmpdir);
    cr_assert_eq(rnnck_npy_save(s, path), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_npy_load(path, &back), RNNCK_OK, "%s", rnnck_errmsg());
    cr_expect_eq(rnnck_tensor_ndim(back), 0);
    cr_expect_eq(*(const float *)rnnck_tensor_cdata(back), 2.5f);
    rnnck_tensor_free(s);
    rnnck_tensor_free(back);
    unlink(path);
    rmdir(tmpdir);
}

Test(npy, save_failure_leaves_no_file_and_refuses_bfloat16) {
    make_tmpdir();
    int64_t shape[1] = {3};
    rnnck_tensor *t;
    cr_assert_eq(rnnck_tensor_new(RNNCK_F32, 1, shape, &t), RNNCK_OK);
    cr_expect_eq(rnnck_npy_save(t, "/nonexistent/dir/out.npy"), RNNCK_E_WRITE);
    cr_expect(strstr(rnnck_errmsg(), "/nonexistent/dir/out.npy") != NULL);
    rnnck_tensor *b;
    cr_assert_eq(rnnck_tensor_new(RNNCK_BF16, 1, shape, &b), RNNCK_OK);
    char path[512];
    snprintf(path, sizeof path, "%s/bf.npy", tmpdir);
    cr_expect_eq(rnnck_npy_save(b, path), RNNCK_E_UNSUPPORTED);
    cr_expect_neq(access(path, F_OK), 0, "a refused save left a file");
    rnnck_tensor_free(t);
    rnnck_tensor_free(b);
    cr_expect_eq(rmdir(tmpdir), 0, "temporary files left behind");
}

/* Regression (found by fuzzing): a descr of one or two characters made the
 * size parse read past the end of the string. */
Test(npy, refuses_descr_without_kind_or_size) {
    expect_refused("{'descr': '|', 'fortran_order': False, 'shape': (4,), }", four, sizeof four, RNNCK_E_FORMAT,
                   "malformed dtype '|'");
    expect_refused("{'descr': '<f', 'fortran_order': False, 'shape': (4,), }", four, sizeof four, RNNCK_E_FORMAT,
                   "malformed dtype '<f'");
}

/* Regression (found by fuzzing): a NUL byte inside a quoted header string was
 * copied, so '<f4\0junk' read as float32 and the rest was ignored. */
Test(npy, refuses_nul_byte_inside_a_header_string) {
    static unsigned char buf[4096];
    size_t n = craft(buf, 1, 0, "{'descr': '<f4#junk', 'fortran_order': False, 'shape': (4,), }", four, sizeof four);
    unsigned char *hash = memchr(buf, '#', n);
    cr_assert_not_null(hash);
    *hash = '\0';
    rnnck_tensor *t = NULL;
    cr_expect_eq(rnnck_npy_parse(buf, n, "crafted.npy", &t), RNNCK_E_FORMAT, "%s", rnnck_errmsg());
    cr_expect_null(t);
    cr_expect(strstr(rnnck_errmsg(), "descr"), "%s", rnnck_errmsg());
    rnnck_tensor_free(t);
}
