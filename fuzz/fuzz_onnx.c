/* Fuzz target: the ONNX reader (rnnck_open with format "onnx") on a file
 * holding the input bytes, alone in the scratch folder (external data can
 * only name files there); an accepted model must obey the model invariants,
 * run forward, and survive being written as an rnnck HDF5 file and as ONNX
 * (also with a sequence_lens input) and read again. */
#include "fuzz_common.h"

static rnnck_status reopen_onnx(const char *path, rnnck_model **out) {
    rnnck_open_opts opts = {.format = "onnx"};
    return rnnck_open(path, &opts, out);
}

static rnnck_status reopen_h5(const char *path, rnnck_model **out) { return rnnck_load(path, NULL, out); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_clean_scratch();
    char path[512];
    snprintf(path, sizeof path, "%s", fz_path("input.onnx"));
    fz_write_file(path, data, size);
    rnnck_model *m = NULL;
    rnnck_status st = reopen_onnx(path, &m);
    if (st) {
        fz_check_failure(st, m);
        return 0;
    }
    fz_check_model(m);
    fz_check_forward(m);
    fz_check_roundtrip(m, "rnnck", "cross.h5", reopen_h5);
    fz_check_roundtrip(m, "onnx", "roundtrip.onnx", reopen_onnx);
    fz_check_roundtrip_flags(m, "onnx", "roundtrip_lens.onnx", reopen_onnx, RNNCK_WRITE_ONNX_SEQUENCE_LENS);
    rnnck_model_free(m);
    return 0;
}
