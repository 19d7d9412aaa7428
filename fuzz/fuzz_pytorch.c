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

static rnnck_status reopen_h5(const char *path, rnnck_model **out) { return rnnck_load(path, NULL, out); }

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
    rnnck_model *m = NULL;
    rnnck_status st = reopen_pt(path, &m);
    if (st) {
        fz_check_failure(st, m);
        return 0;
    }
    fz_check_model(m);
    /* Tensors are read lazily: a member whose bytes are corrupt (CRC, short
     * data) is refused when read, which is here, before anything is written
     * from it. */
    st = rnnck_model_load_all(m);
    if (st) {
        fz_check_failure(st, NULL);
        rnnck_model_free(m);
        return 0;
    }
    fz_check_forward(m);
    fz_check_roundtrip(m, "pytorch", "roundtrip.pt", reopen_pt);
    /* The main job: the same model through the rnnck HDF5 schema and back. */
    fz_check_roundtrip(m, "rnnck", "cross.h5", reopen_h5);
    rnnck_model_free(m);
    return 0;
}
