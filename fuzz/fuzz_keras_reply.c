/* Fuzz target: what the isolated reader sends back for a Keras HDF5 file,
 * read by the calling process (fuzz/h5_reply_harness.h gives the input's
 * layout). No helper runs and libhdf5 reads nothing. rnnck_open(format
 * "keras") parses the tree job's reply, rebuilds the tree from its lines
 * (h5_tree.c), maps it onto the model (formats/keras/), reading every weight
 * through a session answered from the input; the model invariants and the
 * forward pass then hold for whatever it accepted. */
#include "h5_reply_harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[512];
    snprintf(path, sizeof path, "%s", hr_begin(data, size, "input.h5"));
    rnnck_open_opts opts = {.format = "keras"};
    rnnck_model *m = NULL;
    rnnck_status st = rnnck_open(path, &opts, &m);
    if (st) {
        fz_check_failure(st, m);
    } else {
        fz_check_model(m);
        fz_check_forward(m);
        rnnck_model_free(m);
    }
    hr_end();
    return 0;
}
