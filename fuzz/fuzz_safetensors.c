/* Fuzz target: the safetensors reader (rnnck_open with format
 * "safetensors") on a file holding the input bytes; an accepted model must
 * obey the model invariants, load, run forward, and survive being written as
 * safetensors and as an rnnck HDF5 file and read again. */
#include "fuzz_common.h"

#include <stdlib.h>
#include <string.h>

static rnnck_status reopen_st(const char *path, rnnck_model **out) {
    rnnck_open_opts opts = {.format = "safetensors"};
    return rnnck_open(path, &opts, out);
}

static rnnck_status reopen_h5(const char *path, rnnck_model **out) { return rnnck_load(path, NULL, out); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_clean_scratch();
    char path[512];
    snprintf(path, sizeof path, "%s", fz_path("input.safetensors"));
    fz_write_file(path, data, size);
    rnnck_model *m = NULL;
    rnnck_status st = reopen_st(path, &m);
    if (st) {
        fz_check_failure(st, m);
        return 0;
    }
    fz_check_model(m);
    /* Tensors are read lazily: bad data (a BOOL byte other than 0/1) is
     * refused when read, here, before anything is written from it. */
    st = rnnck_model_load_all(m);
    if (st) {
        fz_check_failure(st, NULL);
        rnnck_model_free(m);
        return 0;
    }
    fz_check_forward(m);
    fz_check_roundtrip(m, "safetensors", "roundtrip.safetensors", reopen_st);
    fz_check_roundtrip(m, "rnnck", "cross.h5", reopen_h5);
    rnnck_model_free(m);
    return 0;
}
