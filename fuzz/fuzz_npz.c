/* Fuzz target: the npz reader (rnnck_open with format "npz") on a file
 * holding the input bytes; an accepted model must obey the model invariants
 * and survive being written as npz and read again. */
#include "fuzz_common.h"

#include <stdlib.h>
#include <string.h>

static rnnck_status reopen_npz(const char *path, rnnck_model **out) {
    rnnck_open_opts opts = {.format = "npz"};
    return rnnck_open(path, &opts, out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_clean_scratch();
    const char *p = fz_path("input.npz");
    char path[512];
    snprintf(path, sizeof path, "%s", p);
    /* A copy with the stored members' CRCs made right (fz_fix_zip_crcs). */
    uint8_t *fixed = malloc(size ? size : 1);
    FZ_REQUIRE(fixed != NULL, "out of memory");
    memcpy(fixed, data, size);
    fz_fix_zip_crcs(fixed, size);
    fz_write_file(path, fixed, size);
    free(fixed);
    rnnck_model *m = NULL;
    rnnck_status st = reopen_npz(path, &m);
    if (st) {
        FZ_REQUIRE(st < 0 && m == NULL && rnnck_errmsg()[0], "failure %d without a message", (int)st);
        return 0;
    }
    fz_check_model(m);
    fz_check_roundtrip(m, "npz", "roundtrip.npz", reopen_npz);
    rnnck_model_free(m);
    return 0;
}
