/* Fuzz target: the Keras reader (JSON configuration plus HDF5 mapping).
 *  - An input starting with the HDF5 signature is a Keras .h5 file, opened
 *    with format "keras" (walked in rnnck-h5-reader, its datasets read by one
 *    more rnnck-h5-reader for the whole open).
 *  - Any other input is a config.json: it is zipped as a .keras archive with
 *    a fixed Keras 3 model.weights.h5 (fixtures/keras/k3_model.weights.h5:
 *    layers lstm, bidirectional, dense), so mutations reach cJSON and the
 *    mapping of config layers onto Keras 3 paths.
 * An accepted model must obey the model invariants, run forward, and
 * survive a round trip through an rnnck HDF5 file. */
#include "common/zipfile.h"
#include "fuzz_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef RNNCK_FUZZ_KERAS_TEMPLATE
#define RNNCK_FUZZ_KERAS_TEMPLATE "fixtures/keras/k3_model.weights.h5"
#endif

static unsigned char *template_h5;
static size_t template_len;

static void load_template(void) {
    if (template_h5) return;
    FILE *f = fopen(RNNCK_FUZZ_KERAS_TEMPLATE, "rb");
    FZ_REQUIRE(f != NULL, "cannot open the template %s", RNNCK_FUZZ_KERAS_TEMPLATE);
    template_h5 = malloc(1 << 20);
    FZ_REQUIRE(template_h5 != NULL, "out of memory");
    template_len = fread(template_h5, 1, 1 << 20, f);
    fclose(f);
    FZ_REQUIRE(template_len > 0 && template_len < (1 << 20), "template %s unreadable", RNNCK_FUZZ_KERAS_TEMPLATE);
}

static rnnck_status open_keras(const char *path, rnnck_model **out) {
    rnnck_open_opts opts = {0};
    opts.format = "keras";
    return rnnck_open(path, &opts, out);
}

static rnnck_status reopen_h5(const char *path, rnnck_model **out) { return rnnck_load(path, NULL, out); }

static void write_keras_zip(const char *path, const uint8_t *config, size_t size) {
    load_template();
    FILE *fp = fopen(path, "wb");
    FZ_REQUIRE(fp != NULL, "cannot create %s", path);
    rnnck__zipw *w = NULL;
    static const char meta[] = "{\"keras_version\": \"3.3.3\"}";
    FZ_REQUIRE(rnnck__zipw_begin(fp, path, &w) == RNNCK_OK, "zip: %s", rnnck_errmsg());
    FZ_REQUIRE(rnnck__zipw_add(w, "metadata.json", meta, sizeof meta - 1) == RNNCK_OK, "zip: %s", rnnck_errmsg());
    FZ_REQUIRE(rnnck__zipw_add(w, "config.json", config, size) == RNNCK_OK, "zip: %s", rnnck_errmsg());
    FZ_REQUIRE(rnnck__zipw_add(w, "model.weights.h5", template_h5, template_len) == RNNCK_OK, "zip: %s",
               rnnck_errmsg());
    FZ_REQUIRE(rnnck__zipw_finish(w) == RNNCK_OK, "zip: %s", rnnck_errmsg());
    rnnck__zipw_free(w);
    FZ_REQUIRE(fclose(fp) == 0, "cannot write %s", path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const unsigned char sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    fz_clean_scratch();
    char path[512];
    if (size >= 8 && memcmp(data, sig, 8) == 0) {
        snprintf(path, sizeof path, "%s", fz_path("input.h5"));
        fz_write_file(path, data, size);
    } else {
        snprintf(path, sizeof path, "%s", fz_path("input.keras"));
        write_keras_zip(path, data, size);
    }
    rnnck_model *m = NULL;
    rnnck_status st = open_keras(path, &m);
    if (st) {
        fz_check_failure(st, m);
        return 0;
    }
    fz_check_model(m);
    fz_check_forward(m);
    fz_check_roundtrip(m, "rnnck", "roundtrip.h5", reopen_h5);
    rnnck_model_free(m);
    return 0;
}
