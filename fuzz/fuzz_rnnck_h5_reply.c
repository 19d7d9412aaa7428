/* Fuzz target: what the isolated reader sends back for an rnnck file, read
 * by the calling process (fuzz/h5_reply_harness.h gives the input's layout).
 * No helper runs and libhdf5 reads nothing: this is the host program's trust
 * boundary. rnnck_load parses the walk job's reply (h5_isolate.c) and
 * rebuilds the model from its description (h5_remote.c); the model
 * invariants then load every tensor (contiguous data by pread from the
 * file part, compact and chunked data through a session answered from the
 * input) and run it forward. rnnck_open detects the file (the probe job's
 * reply, h5_tree.c, and the walk it carries), and rnnck_check_file parses a
 * check job's reply: every report line must be one non-empty line. */
#include "h5_reply_harness.h"

static void check_model(rnnck_status st, rnnck_model *m) {
    if (st) {
        fz_check_failure(st, m);
        return;
    }
    fz_check_model(m);
    fz_check_forward(m);
    rnnck_model_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[512];
    snprintf(path, sizeof path, "%s", hr_begin(data, size, "input.h5"));
    rnnck_model *m = NULL;
    rnnck_status st = rnnck_load(path, NULL, &m);
    check_model(st, m);
    m = NULL;
    st = rnnck_open(path, NULL, &m);
    check_model(st, m);
    rnnck_report *report = NULL;
    st = rnnck_check_file(path, 0, &report);
    if (st) {
        fz_check_failure(st, report);
    } else {
        for (size_t i = 0; i < rnnck_report_count(report); i++) {
            const char *line = rnnck_report_item(report, i);
            FZ_REQUIRE(line && line[0], "report line %zu is empty", i);
            FZ_REQUIRE(!strchr(line, '\n') && !strchr(line, '\r'), "report line %zu is not one line: [%s]", i, line);
        }
        rnnck_report_free(report);
    }
    hr_end();
    return 0;
}
