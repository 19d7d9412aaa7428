/* Fuzz target: the npz reader (rnnck_open with format "npz") on a file
 * holding the input bytes (stored members' CRCs recomputed first); an
 * accepted model must obey the model invariants and survive being written as
 * npz and as an rnnck HDF5 file and read again (fz_check_input). */
#include "fuzz_common.h"

#include <stdio.h>

static rnnck_status reopen_npz(const char *path, rnnck_model **out) {
    rnnck_open_opts opts = {.format = "npz"};
    return rnnck_open(path, &opts, out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_clean_scratch();
    char path[512];
    snprintf(path, sizeof path, "%s", fz_write_zip_input("input.npz", data, size));
    fz_check_input(path, reopen_npz, "npz", "roundtrip.npz");
    return 0;
}
