/* The command line: exit codes, init/inspect/check/convert behaviour. */
#include <cblas.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "helpers/testutil.h"

static char *dir;
static void setup(void) { dir = tmpdir_new(); }
static void teardown(void) { tmpdir_remove(dir); }

static int file_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

/* Number of files in dir (temporary files left behind show up here). */
static int count_entries(const char *d) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls -A '%s' | wc -l", d);
    FILE *p = popen(cmd, "r");
    int n = -1;
    if (p) {
        if (fscanf(p, "%d", &n) != 1) n = -1;
        pclose(p);
    }
    return n;
}

TestSuite(cli, .init = setup, .fini = teardown);

Test(cli, help_lists_every_command_and_exits_0) {
    tool_result r = run_tool("--help", NULL);
    cr_expect_eq(r.exit_code, 0);
    const char *cmds[] = {"inspect", "check", "init", "convert", "forward"};
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++)
        cr_expect(strstr(r.out, cmds[i]), "help does not mention %s", cmds[i]);
    tool_result_free(&r);
}

Test(cli, every_command_has_help_that_exits_0) {
    const char *cmds[] = {"inspect", "check", "init", "convert", "forward"};
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
        tool_result r = run_tool(cmds[i], "--help", NULL);
        cr_expect_eq(r.exit_code, 0, "%s --help exit %d", cmds[i], r.exit_code);
        cr_expect(strstr(r.out, "usage: rnnck"), "%s --help has no usage line", cmds[i]);
        tool_result_free(&r);
    }
}

Test(cli, unknown_command_and_option_exit_2_with_one_line) {
    tool_result r = run_tool("frobnicate", NULL);
    cr_expect_eq(r.exit_code, 2);
    cr_expect_eq(count_lines(r.err), 1, "stderr: %s", r.err);
    tool_result_free(&r);
    r = run_tool("inspect", "--bogus", "x.h5", NULL);
    cr_expect_eq(r.exit_code, 2);
    cr_expect(strstr(r.err, "--bogus"));
    tool_result_free(&r);
}

Test(cli, init_writes_pytorch_layout_of_two_layer_bidirectional_lstm) {
    char *out = path_join(dir, "m.h5");
    tool_result r = run_tool("init", out, "--cell", "lstm", "--input-size", "10", "--hidden-size", "8",
                             "--num-layers", "2", "--bidirectional", "--seed", "1", NULL);
    cr_assert_eq(r.exit_code, 0, "init failed: %s", r.err);
    tool_result_free(&r);
    r = run_tool("inspect", out, "--json", NULL);
    cr_assert_eq(r.exit_code, 0, "inspect failed: %s", r.err);
    /* nn.LSTM(10, 8, num_layers=2, bidirectional=True): 16 tensors, weight_ih_l1 is 32x16 */
    size_t n = 0;
    for (const char *p = r.out; (p = strstr(p, "\"dtype\": \"float32\", \"shape\"")); p++) n++;
    cr_expect_eq(n, 16, "expected 16 tensors, saw %zu", n);
    cr_expect(strstr(r.out, "{\"name\": \"weight_ih_l1\", \"module\": \"\", \"dtype\": \"float32\", \"shape\": [32, 16]"),
              "%s", r.out);
    cr_expect(strstr(r.out, "\"weight_hh_l1_reverse\""));
    cr_expect(strstr(r.out, "\"module\": \"LSTM\", \"input_size\": 10, \"hidden_size\": 8, \"num_layers\": 2"));
    tool_result_free(&r);
    free(out);
}

Test(cli, init_same_seed_gives_byte_identical_files) {
    char *a = path_join(dir, "a.h5"), *b = path_join(dir, "b.h5"), *c = path_join(dir, "c.h5");
    const char *common[] = {"--cell", "gru", "--input-size", "5", "--hidden-size", "7", "--init", "orthogonal"};
    for (int k = 0; k < 3; k++) {
        const char *args[16] = {"init", k == 0 ? a : k == 1 ? b : c};
        size_t n = 2;
        for (size_t i = 0; i < 8; i++) args[n++] = common[i];
        args[n++] = "--seed";
        args[n++] = k < 2 ? "7" : "8";
        args[n] = NULL;
        tool_result r = run_tool_argv(args);
        cr_assert_eq(r.exit_code, 0, "%s", r.err);
        tool_result_free(&r);
    }
    size_t la, lb, lc;
    unsigned char *da = read_file(a, &la), *db = read_file(b, &lb), *dc = read_file(c, &lc);
    cr_assert(da && db && dc);
    cr_expect(la == lb && memcmp(da, db, la) == 0, "same seed, different bytes");
    cr_expect(la != lc || memcmp(da, dc, la) != 0, "different seed, same bytes");
    free(da), free(db), free(dc), free(a), free(b), free(c);
}

Test(cli, init_forget_bias_on_gru_is_usage_error_and_writes_nothing) {
    char *out = path_join(dir, "g.h5");
    tool_result r = run_tool("init", out, "--cell", "gru", "--input-size", "3", "--hidden-size", "4",
                             "--forget-bias", "1", NULL);
    cr_expect_eq(r.exit_code, 2);
    cr_expect(strstr(r.err, "LSTM only"), "%s", r.err);
    cr_expect_not(file_exists(out));
    tool_result_free(&r);
    free(out);
}

Test(cli, init_refuses_proj_size_not_below_hidden_size) {
    char *out = path_join(dir, "p.h5");
    tool_result r = run_tool("init", out, "--cell", "lstm", "--input-size", "3", "--hidden-size", "4",
                             "--proj-size", "4", NULL);
    cr_expect_eq(r.exit_code, 2, "exit %d: %s", r.exit_code, r.err);
    cr_expect(strstr(r.err, "proj_size"), "%s", r.err);
    cr_expect_eq(count_lines(r.err), 1);
    cr_expect_not(file_exists(out));
    tool_result_free(&r);
    free(out);
}

Test(cli, init_into_missing_directory_exits_4) {
    char *out = path_join(dir, "no/such/dir/m.h5");
    tool_result r = run_tool("init", out, "--cell", "lstm", "--input-size", "3", "--hidden-size", "4", NULL);
    cr_expect_eq(r.exit_code, 4, "exit %d: %s", r.exit_code, r.err);
    cr_expect_eq(count_lines(r.err), 1);
    tool_result_free(&r);
    free(out);
}

Test(cli, failed_write_keeps_existing_output_and_leaves_no_temp_file) {
    char *out = path_join(dir, "keep.h5");
    cr_assert_eq(write_file(out, "precious", 8), 0);
    /* An invalid module (proj on GRU) fails after parsing: the old file must survive. */
    tool_result r = run_tool("init", out, "--cell", "gru", "--input-size", "3", "--hidden-size", "4",
                             "--proj-size", "2", NULL);
    cr_expect_neq(r.exit_code, 0);
    size_t len;
    unsigned char *d = read_file(out, &len);
    cr_expect(d && len == 8 && memcmp(d, "precious", 8) == 0);
    cr_expect_eq(count_entries(dir), 1, "a temporary file was left behind");
    free(d);
    tool_result_free(&r);
    free(out);
}

Test(cli, inspect_and_check_of_a_non_hdf5_file_exit_3_naming_the_file) {
    char *p = path_join(dir, "junk.h5");
    cr_assert_eq(write_file(p, "this is not a checkpoint at all\n", 32), 0);
    const char *cmds[] = {"inspect", "check"};
    for (int i = 0; i < 2; i++) {
        tool_result r = run_tool(cmds[i], p, NULL);
        cr_expect_eq(r.exit_code, 3, "%s exit %d", cmds[i], r.exit_code);
        cr_expect(strstr(r.err, "junk.h5"), "%s: message does not name the file: %s", cmds[i], r.err);
        cr_expect_eq(count_lines(r.err), 1, "%s", r.err);
        tool_result_free(&r);
    }
    free(p);
}

Test(cli, missing_input_file_exits_3) {
    tool_result r = run_tool("inspect", "/nonexistent/file.h5", NULL);
    cr_expect_eq(r.exit_code, 3);
    cr_expect(strstr(r.err, "/nonexistent/file.h5"));
    tool_result_free(&r);
}

Test(cli, check_of_fresh_init_is_clean) {
    char *out = path_join(dir, "c.h5");
    tool_result r = run_tool("init", out, "--cell", "lstm", "--input-size", "6", "--hidden-size", "5",
                             "--proj-size", "3", "--num-layers", "2", "--bidirectional", "--seed", "3", NULL);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    tool_result_free(&r);
    r = run_tool("check", out, NULL);
    cr_expect_eq(r.exit_code, 0, "check: %s%s", r.out, r.err);
    tool_result_free(&r);
    free(out);
}

Test(cli, inspect_text_lists_modules_and_statistics) {
    char *out = path_join(dir, "t.h5");
    tool_result r = run_tool("init", out, "--cell", "rnn_relu", "--input-size", "4", "--hidden-size", "3",
                             "--seed", "5", "--name", "encoder.rnn", NULL);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    tool_result_free(&r);
    r = run_tool("inspect", out, NULL);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_expect(strstr(r.out, "module encoder.rnn: RNN_RELU input_size=4 hidden_size=3"), "%s", r.out);
    cr_expect(strstr(r.out, "encoder.rnn.weight_ih_l0"), "%s", r.out);
    cr_expect(strstr(r.out, "(3, 4)"), "%s", r.out);
    tool_result_free(&r);
    free(out);
}

Test(cli, convert_round_trip_keeps_every_tensor) {
    char *a = path_join(dir, "a.h5"), *b = path_join(dir, "b.h5");
    tool_result r = run_tool("init", a, "--cell", "gru", "--input-size", "4", "--hidden-size", "3", "--num-layers",
                             "2", "--seed", "9", NULL);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    tool_result_free(&r);
    r = run_tool("convert", a, b, NULL);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    tool_result_free(&r);
    tool_result ia = run_tool("inspect", a, "--json", NULL), ib = run_tool("inspect", b, "--json", NULL);
    cr_assert_eq(ia.exit_code, 0);
    cr_assert_eq(ib.exit_code, 0);
    /* Same document apart from the file name. */
    const char *ta = strstr(ia.out, "\"format\""), *tb = strstr(ib.out, "\"format\"");
    cr_assert(ta && tb);
    cr_expect_str_eq(ta, tb);
    tool_result_free(&ia);
    tool_result_free(&ib);
    free(a), free(b);
}

/* Threads of this process (/proc/self/task). */
static int task_count(void) {
    DIR *d = opendir("/proc/self/task");
    cr_assert(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

static rnnck_tensor *forward_output(rnnck_model *m, const rnnck_tensor *x, int threads) {
    rnnck_forward_opts fo = {threads, RNNCK_F32};
    rnnck_tensor *y = NULL, *hn = NULL, *cn = NULL;
    cr_assert_eq(rnnck_forward(m, 0, x, NULL, NULL, NULL, &fo, &y, &hn, &cn), RNNCK_OK, "%s", rnnck_errmsg());
    rnnck_tensor_free(hn);
    rnnck_tensor_free(cn);
    return y;
}

Test(cli, blas_single_stops_openblas_pool_and_a_forward_does_not_restart_it) {
    openblas_set_num_threads(2); /* a pool with one worker, whatever the core count */
    int before = task_count();
    cr_expect_eq(cli_blas_single(), 2, "returns OpenBLAS's count from before");
    cr_expect_eq(openblas_get_num_threads(), 1);
    cr_expect_eq(task_count(), before - 1, "OpenBLAS's worker is still running");

    rnnck_module_info info;
    rnnck_module_info_init(&info, RNNCK_CELL_LSTM);
    info.input_size = 24;
    info.hidden_size = 32;
    info.num_layers = 2;
    rnnck_model *m;
    cr_assert_eq(rnnck_model_new(&m), RNNCK_OK);
    cr_assert_eq(rnnck_model_add_module(m, &info), RNNCK_OK, "%s", rnnck_errmsg());
    uint32_t s = 7;
    for (size_t i = 0; i < rnnck_model_tensor_count(m); i++) {
        rnnck_tensor *t = rnnck_model_tensor(m, i);
        float *d = rnnck_tensor_data(t);
        for (int64_t k = 0; k < rnnck_tensor_numel(t); k++) d[k] = (float)((s = s * 1664525u + 1013904223u) >> 8) / 16777216.0f - 0.5f;
    }
    int64_t xs[3] = {9, 20, 24};
    rnnck_tensor *x;
    cr_assert_eq(rnnck_tensor_new(RNNCK_F32, 3, xs, &x), RNNCK_OK);
    float *xd = rnnck_tensor_data(x);
    for (int64_t k = 0; k < rnnck_tensor_numel(x); k++) xd[k] = (float)((s = s * 1664525u + 1013904223u) >> 8) / 16777216.0f - 0.5f;
    rnnck_tensor *y1 = forward_output(m, x, 1), *y2 = forward_output(m, x, 2);
    cr_expect_eq(memcmp(rnnck_tensor_cdata(y1), rnnck_tensor_cdata(y2), rnnck_tensor_nbytes(y1)), 0,
                 "output differs between 1 and 2 threads");
    /* rnnck's workers are joined, and OpenBLAS's count is left at one, so its pool stays down. */
    cr_expect_eq(openblas_get_num_threads(), 1);
    cr_expect_eq(task_count(), before - 1, "a thread outlived the forward pass, or OpenBLAS's pool restarted");
    rnnck_tensor_free(y1);
    rnnck_tensor_free(y2);
    rnnck_tensor_free(x);
    rnnck_model_free(m);
}
