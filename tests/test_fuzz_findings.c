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
