/* Fuzz target: a whole torch.save file (zip archive or legacy stream) read
 * by rnnck_open with format "pytorch"; an accepted model must obey the model
 * invariants and survive being written as a .pt and read again, and as an
 * rnnck HDF5 file and read again (the .pt -> .h5 main job). Content detection
 * is exercised on the same bytes. Stored members get their CRCs recomputed
 * first, so mutations reach the pickle and storage code. */
#include "fuzz_common.h"

#include <stdlib.h>
#include <string.h>

static rnnck_status reopen_pt(const char *path, rnnck_model **out) {
    rnnck_open_opts opts = {.format = "pytorch"};
    return rnnck_open(path, &opts, out);
}

/* Whether name is one of rnnck_formats_readable()'s comma-separated names. */
static bool is_readable_format(const char *name) {
    const char *list = rnnck_formats_readable();
    size_t n = strlen(name);
    for (const char *p = list; p && *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && !strncmp(p, name, n)) return true;
        p = end ? end + 1 : NULL;
    }
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_clean_scratch();
    char path[512];
    snprintf(path, sizeof path, "%s", fz_write_zip_input("input.pt", data, size));
    const char *detected = NULL;
    if (rnnck_detect_format(path, &detected) == RNNCK_OK)
        FZ_REQUIRE(detected && is_readable_format(detected), "detected an unknown format");
    fz_check_input(path, reopen_pt, "pytorch", "roundtrip.pt");
    return 0;
}
