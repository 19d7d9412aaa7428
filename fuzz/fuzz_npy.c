/* Fuzz target: the .npy reader on arbitrary bytes, through both entry points:
 * rnnck_npy_parse (memory) and rnnck_npy_load (the same bytes as a file) must
 * agree on the verdict and on the array. A parsed array must obey the tensor
 * invariants, be C-contiguous, and survive rnnck_npy_save + rnnck_npy_load
 * unchanged. */
#include "fuzz_common.h"

#include <unistd.h>

static void roundtrip(const rnnck_tensor *t) {
    const char *p = fz_path("roundtrip.npy");
    char path[512];
    snprintf(path, sizeof path, "%s", p);
    rnnck_status st = rnnck_npy_save(t, path);
    FZ_REQUIRE(st == RNNCK_OK, "saving a parsed array failed: %s", rnnck_errmsg());
    rnnck_tensor *back = NULL;
    st = rnnck_npy_load(path, &back);
    FZ_REQUIRE(st == RNNCK_OK, "reading back our own .npy failed: %s", rnnck_errmsg());
    fz_require_same_tensor(t, back, "npy round trip");
    rnnck_tensor_free(back);
    unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rnnck_tensor *t = NULL;
    rnnck_status st = rnnck_npy_parse(data, size, "fuzz.npy", &t);
    const char *p = fz_path("input.npy");
    char path[512];
    snprintf(path, sizeof path, "%s", p);
    fz_write_file(path, data, size);
    rnnck_tensor *from_file = NULL;
    rnnck_status file_st = rnnck_npy_load(path, &from_file);
    unlink(path);
    FZ_REQUIRE(st == file_st, "rnnck_npy_parse says %d, rnnck_npy_load says %d (%s)", (int)st, (int)file_st,
               rnnck_errmsg());
    if (st) {
        fz_check_failure(st, t);
        FZ_REQUIRE(from_file == NULL, "rnnck_npy_load failed but wrote a tensor");
        return 0;
    }
    fz_check_tensor(t);
    fz_require_same_tensor(t, from_file, "npy parse vs load");
    rnnck_tensor_free(from_file);
    FZ_REQUIRE(rnnck_tensor_is_contiguous(t), "parsed array is not C-contiguous");
    FZ_REQUIRE(rnnck_tensor_nbytes(t) <= size, "%zu bytes of data from a %zu-byte input", rnnck_tensor_nbytes(t),
               size);
    roundtrip(t);
    rnnck_tensor_free(t);
    return 0;
}
