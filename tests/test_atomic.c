/* lib/core/atomic.c: outputs written to a temporary file and renamed into
 * place, made durable on request (RNNCK_WRITE_FSYNC, convert --fsync): the
 * temporary file synced before the rename and its directory after, for
 * every writer, whether it writes through stdio or libhdf5 writes it. */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/internal.h"
#include "helpers/testutil.h"
#include "rnnck.h"

static rnnck_model *open_lstm(void) {
    char *path = fixture_path("pytorch/lstm_bare.pt");
    rnnck_model *m = NULL;
    cr_assert_eq(rnnck_open(path, NULL, &m), RNNCK_OK, "%s", rnnck_errmsg());
    free(path);
    return m;
}

static const struct {
    const char *format, *file;
} writers[] = {{"rnnck", "out.h5"},     {"pytorch", "out.pt"}, {"npz", "out.npz"},
               {"onnx", "out.onnx"},    {"keras", "out.keras.h5"}, {"safetensors", "out.safetensors"}};

/* Two fsyncs per output with the flag (the file, then its directory), none
 * without it: the defaults of torch.save, h5py and cp. */
Test(atomic, every_writer_syncs_the_file_and_its_directory_only_when_asked) {
    char *dir = tmpdir_new();
    rnnck_model *m = open_lstm();
    for (size_t i = 0; i < sizeof writers / sizeof *writers; i++) {
        for (int durable = 0; durable < 2; durable++) {
            char *out = path_join(dir, writers[i].file);
            rnnck_write_opts wo = {.format = writers[i].format, .flags = durable ? RNNCK_WRITE_FSYNC : 0};
            unsigned long before = rnnck__atomic_syncs();
            cr_assert_eq(rnnck_write_ex(m, out, &wo, NULL), RNNCK_OK, "%s: %s", writers[i].format, rnnck_errmsg());
            cr_assert_eq(rnnck__atomic_syncs() - before, durable ? 2ul : 0ul, "%s, durable %d", writers[i].format,
                         durable);
            struct stat sb;
            cr_assert(stat(out, &sb) == 0 && sb.st_size > 0, "%s", out);
            rnnck_model *back = NULL;
            rnnck_open_opts oo = {.format = writers[i].format};
            cr_assert_eq(rnnck_open(out, &oo, &back), RNNCK_OK, "%s: %s", out, rnnck_errmsg());
            cr_assert_eq(rnnck_model_tensor_count(back) > 0, true);
            rnnck_model_free(back);
            remove(out);
            free(out);
        }
    }
    rnnck_model_free(m);
    tmpdir_remove(dir);
}

/* The flag is the calling write's only: the next write without it syncs
 * nothing, and a flag no one knows is refused before anything is written. */
Test(atomic, durability_ends_with_the_write_and_unknown_flags_are_refused) {
    char *dir = tmpdir_new(), *out = path_join(dir, "out.pt");
    rnnck_model *m = open_lstm();
    rnnck_write_opts wo = {.flags = RNNCK_WRITE_FSYNC};
    cr_assert_eq(rnnck_write_ex(m, out, &wo, NULL), RNNCK_OK, "%s", rnnck_errmsg());
    unsigned long before = rnnck__atomic_syncs();
    cr_assert_eq(rnnck_write(m, out, NULL), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck__atomic_syncs(), before);
    wo.flags = 4u;
    remove(out);
    cr_assert_eq(rnnck_write_ex(m, out, &wo, NULL), RNNCK_E_USAGE);
    cr_assert_not_null(strstr(rnnck_errmsg(), "unknown write flags"), "%s", rnnck_errmsg());
    struct stat sb;
    cr_assert_neq(stat(out, &sb), 0, "nothing is written");
    rnnck_model_free(m);
    free(out);
    tmpdir_remove(dir);
}

/* convert --fsync takes the same path: the output is there and reads back;
 * a stream output (standard output) is written, not synced. */
Test(atomic, convert_with_fsync_writes_the_output) {
    char *dir = tmpdir_new(), *in = fixture_path("pytorch/lstm_bare.pt"), *out = path_join(dir, "out.h5");
    tool_result r = run_tool("convert", in, out, "--fsync", NULL);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    tool_result_free(&r);
    rnnck_model *m = NULL;
    cr_assert_eq(rnnck_open(out, NULL, &m), RNNCK_OK, "%s", rnnck_errmsg());
    rnnck_model_free(m);
    r = run_tool("convert", in, "-", "--to", "npz", "--fsync", NULL);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_assert(r.out && !memcmp(r.out, "PK", 2), "a zip archive on standard output");
    tool_result_free(&r);
    free(in);
    free(out);
    tmpdir_remove(dir);
}
