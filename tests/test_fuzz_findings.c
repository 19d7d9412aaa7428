/* Regression tests for what fuzzing found (docs/FUZZING.md, "What was
 * found"). The minimised inputs live in fuzz/regressions/<target>/ and are
 * also replayed, with every harness invariant, by the fuzz_replay_* tests. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rnnck.h"

static char *regression(const char *rel) {
    const char *src = getenv("RNNCK_SOURCE_DIR");
    cr_assert(src != NULL, "RNNCK_SOURCE_DIR is not set");
    size_t n = strlen(src) + strlen(rel) + 32;
    char *p = malloc(n);
    cr_assert(p != NULL);
    snprintf(p, n, "%s/fuzz/regressions/%s", src, rel);
    return p;
}

static void expect_one_line_refusal(const char *rel, rnnck_status want, const char *needle) {
    char *path = regression(rel);
    rnnck_model *m = NULL;
    rnnck_open_opts opts = {.format = "pytorch"};
    rnnck_status st = rnnck_open(path, &opts, &m);
    const char *msg = rnnck_errmsg();
    cr_expect_eq(st, want, "%s: status %d (%s)", rel, (int)st, msg);
    cr_expect_null(m);
    cr_expect_null(strchr(msg, '\n'), "message spans lines: [%s]", msg);
    cr_expect_null(strchr(msg, '\r'), "message holds a carriage return: [%s]", msg);
    cr_expect(strstr(msg, needle) != NULL, "message [%s] lacks '%s'", msg, needle);
    cr_expect(strstr(msg, path) != NULL, "message [%s] does not name the file", msg);
    free(path);
}

/* A state_dict key "a\nb": the model refuses the name, and the message quoting
 * it used to carry the newline into the caller's one-line error. */
Test(fuzz_findings, tensor_name_with_newline_gives_one_line_message) {
    expect_one_line_refusal("pytorch/tensor_name_with_newline_breaks_message_line.pt", RNNCK_E_FORMAT,
                            "is not a valid dotted name");
}

/* A legacy stream whose GLOBAL names a module with control characters: the
 * refusal quotes the name. */
Test(fuzz_findings, legacy_global_with_control_characters_gives_one_line_message) {
    expect_one_line_refusal("pytorch/legacy_global_name_with_newline_breaks_message_line.pt", RNNCK_E_UNSUPPORTED,
                            "is not allowed");
}

static void expect_one_line(const char *what, const char *line) {
    cr_expect_null(strchr(line, '\n'), "%s spans lines: [%s]", what, line);
    cr_expect_null(strchr(line, '\r'), "%s holds a carriage return: [%s]", what, line);
}

/* An HDF5 dataset called "a\nb" (written by h5py): the walk refuses the link
 * name, and both the load error and the check report quote the path. */
Test(fuzz_findings, hdf5_link_name_with_newline_gives_one_line_message_and_report) {
    char *path = regression("rnnck_h5/link_name_with_newline_breaks_message_and_report_line.h5");
    rnnck_model *m = NULL;
    cr_expect_eq(rnnck_load(path, NULL, &m), RNNCK_E_FORMAT, "%s", rnnck_errmsg());
    cr_expect_null(m);
    expect_one_line("load message", rnnck_errmsg());
    cr_expect(strstr(rnnck_errmsg(), "link name") != NULL, "%s", rnnck_errmsg());
    rnnck_report *r = NULL;
    cr_assert_eq(rnnck_check_file(path, 0, &r), RNNCK_OK, "%s", rnnck_errmsg());
    cr_expect_geq(rnnck_report_count(r), 2, "both bad names are reported");
    for (size_t i = 0; i < rnnck_report_count(r); i++) expect_one_line("report line", rnnck_report_item(r, i));
    rnnck_report_free(r);
    free(path);
}

/* A .npy header whose unknown key holds a newline (minimised by libFuzzer). */
Test(fuzz_findings, npy_header_with_newline_gives_one_line_message) {
    char *path = regression("npy/header_key_with_newline_breaks_message_line.npy");
    rnnck_tensor *t = NULL;
    cr_expect_eq(rnnck_npy_load(path, &t), RNNCK_E_FORMAT, "%s", rnnck_errmsg());
    cr_expect_null(t);
    expect_one_line("npy message", rnnck_errmsg());
    cr_expect(strstr(rnnck_errmsg(), ".npy header") != NULL, "%s", rnnck_errmsg());
    free(path);
}

/* A .npy array of one 4-byte element whose header holds `descr` (descr_len
 * bytes, which may include a NUL) verbatim between quotes. */
static size_t npy_with_descr(const char *descr, size_t descr_len, unsigned char *buf, size_t cap) {
    const size_t hlen = 118; /* 10 + 118 = 128: a multiple of 64, as numpy pads */
    const char *rest = "', 'fortran_order': False, 'shape': (1,), }";
    size_t used = strlen("{'descr': '") + descr_len + strlen(rest);
    cr_assert(used < hlen && cap >= 10 + hlen + 4);
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (unsigned char)hlen;
    buf[9] = 0;
    memset(buf + 10, ' ', hlen);
    unsigned char *p = buf + 10;
    memcpy(p, "{'descr': '", 11);
    memcpy(p + 11, descr, descr_len);
    memcpy(p + 11 + descr_len, rest, strlen(rest));
    buf[10 + hlen - 1] = '\n';
    memset(buf + 10 + hlen, 0, 4);
    return 10 + hlen + 4;
}

/* descr '|' (one character): parse_descr read d[2], past the string's NUL,
 * from whatever an earlier call left on the stack, so the verdict changed
 * with what was parsed before (libFuzzer's parse-vs-load differential caught
 * it: FORMAT from one entry point, UNSUPPORTED from the other, same bytes).
 * A NUL inside the quotes puts a digit at d[2] on purpose: the dtype is
 * still the malformed '|', never an unsupported dtype of size 4. */
Test(fuzz_findings, npy_one_character_descr_is_malformed_whatever_follows_it) {
    unsigned char buf[160];
    rnnck_tensor *t = NULL;
    size_t n = npy_with_descr("<f4", 3, buf, sizeof buf);
    cr_assert_eq(rnnck_npy_parse(buf, n, "good.npy", &t), RNNCK_OK, "%s", rnnck_errmsg());
    rnnck_tensor_free(t);
    t = NULL;
    n = npy_with_descr("|\0" "4", 3, buf, sizeof buf);
    cr_expect_eq(rnnck_npy_parse(buf, n, "bad.npy", &t), RNNCK_E_FORMAT, "%s", rnnck_errmsg());
    cr_expect_null(t);
}
