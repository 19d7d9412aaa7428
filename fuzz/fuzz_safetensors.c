/* Fuzz target: the safetensors reader (rnnck_open with format
 * "safetensors") on a file holding the input bytes; an accepted model must
 * obey the model invariants, load, run forward, and survive being written as
 * safetensors and as an rnnck HDF5 file and read again (fz_check_input). */
#include "fuzz_common.h"

#include <stdio.h>

static rnnck_status open_st(const char *path, rnnck_model **out) {
    rnnck_open_opts opts = {.format = "safetensors"};
    return rnnck_open(path, &opts, out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_clean_scratch();
    char path[512];
    snprintf(path, sizeof path, "%s", fz_path("input.safetensors"));
    fz_write_file(path, data, size);
    fz_check_input(path, open_st, "safetensors", "roundtrip.safetensors");
    return 0;
}
