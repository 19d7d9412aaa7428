/* Fuzz target: an rnnck HDF5 checkpoint. rnnck_load (the metadata walk runs
 * in the helper program only; this process rebuilds the model from the
 * helper's description and reads contiguous data itself), then
 * rnnck_model_load_all, the model invariants and an rnnck_save + rnnck_load
 * round trip. A file the helper accepted is then read in-process too
 * (RNNCK_OPEN_TRUSTED, which also gives libFuzzer the walk's coverage): if
 * that read succeeds, it must give the same model, bit for bit, as the
 * description did. rnnck_check_file runs on the same bytes whatever
 * rnnck_load said; each report line must be one non-empty line. */
#include "fuzz_common.h"

#include <string.h>

static rnnck_status reopen_h5(const char *path, rnnck_model **out) { return rnnck_load(path, NULL, out); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_clean_scratch();
    const char *p = fz_path("input.h5");
    char path[512];
    snprintf(path, sizeof path, "%s", p);
    fz_write_file(path, data, size);
    rnnck_model *m = NULL;
    rnnck_status st = reopen_h5(path, &m);
    if (st) {
        fz_check_failure(st, m);
    } else {
        fz_check_model(m);
        fz_check_forward(m);
        fz_check_roundtrip(m, "rnnck", "roundtrip.h5", reopen_h5);
        rnnck_open_opts trusted = {.format = "rnnck", .flags = RNNCK_OPEN_TRUSTED};
        rnnck_model *here = NULL;
        /* libhdf5 in-process may refuse more (its own checks of the file's
         * allocated space, say): only a success is compared */
        if (rnnck_open(path, &trusted, &here) == RNNCK_OK && rnnck_model_load_all(here) == RNNCK_OK)
            fz_require_same_model(m, here, true, "the in-process read");
        rnnck_model_free(here);
        rnnck_model_free(m);
    }
    rnnck_report *report = NULL;
    st = rnnck_check_file(path, 0, &report);
    if (st) {
        fz_check_failure(st, report);
        return 0;
    }
    for (size_t i = 0; i < rnnck_report_count(report); i++) {
        const char *line = rnnck_report_item(report, i);
        FZ_REQUIRE(line && line[0], "report line %zu is empty", i);
        FZ_REQUIRE(!strchr(line, '\n') && !strchr(line, '\r'), "report line %zu is not one line: [%s]", i, line);
    }
    FZ_REQUIRE(rnnck_report_item(report, rnnck_report_count(report)) == NULL, "report item past the end");
    rnnck_report_free(report);
    return 0;
}
