/* Fuzz target: rnnck_npy_parse on arbitrary bytes. A parsed array must obey
 * the tensor invariants, be C-contiguous, and survive rnnck_npy_save +
 * rnnck_npy_load unchanged. */
#include "fuzz_common.h"

#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rnnck_tensor *t = NULL;
    rnnck_status st = rnnck_npy_parse(data, size, "fuzz.npy", &t);
    if (st) {
        FZ_REQUIRE(st < 0 && t == NULL && rnnck_errmsg()[0], "failure %d without a message or with a tensor",
                   (int)st);
        return 0;
    }
    fz_check_tensor(t);
    /* Empty arrays are skipped: lib/tensor.c gives a zero-length dimension
     * stride 1 but rnnck_tensor_is_contiguous expects 0 (docs/FUZZING.md). */
    if (rnnck_tensor_numel(t) > 0) FZ_REQUIRE(rnnck_tensor_is_contiguous(t), "parsed array is not C-contiguous");
    FZ_REQUIRE(rnnck_tensor_nbytes(t) <= size, "%zu bytes of data from a %zu-byte input", rnnck_tensor_nbytes(t),
               size);
    const char *p = fz_path("roundtrip.npy");
    char path[512];
    snprintf(path, sizeof path, "%s", p);
    st = rnnck_npy_save(t, path);
    FZ_REQUIRE(st == RNNCK_OK, "saving a parsed array failed: %s", rnnck_errmsg());
    rnnck_tensor *back = NULL;
    st = rnnck_npy_load(path, &back);
    FZ_REQUIRE(st == RNNCK_OK, "reading back our own .npy failed: %s", rnnck_errmsg());
    fz_require_same_tensor(t, back, "npy round trip");
    rnnck_tensor_free(back);
    rnnck_tensor_free(t);
    unlink(path);
    return 0;
}
