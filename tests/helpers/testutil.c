#include "testutil.h"

#include "rnnck.h"

#include <criterion/criterion.h>

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

char *path_join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

char *fixture_path(const char *rel) {
    const char *root = getenv("RNNCK_FIXTURES");
    return path_join(root ? root : "fixtures", rel);
}

void test_deadline(unsigned seconds) { alarm(seconds); }

unsigned char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    unsigned char *buf = malloc(cap + 1);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap) break;
        unsigned char *nb = realloc(buf, cap * 2 + 1);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    fclose(f);
    if (buf) {
        buf[n] = 0;
        *len = n;
    }
    return buf;
}

int write_file(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(data, 1, len, f);
    return (fclose(f) == 0 && w == len) ? 0 : -1;
}

char *tmpdir_new(void) {
    char *t = strdup("/tmp/rnnck-test-XXXXXX");
    if (t && !mkdtemp(t)) {
        free(t);
        return NULL;
    }
    return t;
}

void tmpdir_remove(char *dir) {
    if (!dir) return;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) { /* best effort */
    }
    free(dir);
}

static char *slurp_fd(int fd) {
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    lseek(fd, 0, SEEK_SET);
    for (;;) {
        if (n == cap) {
            char *nb = realloc(buf, cap * 2 + 1);
            if (!nb) break;
            buf = nb;
            cap *= 2;
        }
        ssize_t got = read(fd, buf + n, cap - n);
        if (got <= 0) break;
        n += (size_t)got;
    }
    buf[n] = 0;
    return buf;
}

tool_result run_tool_argv(const char *const *args) {
    tool_result r = {-1, NULL, NULL};
    const char *tool = getenv("RNNCK_TOOL");
    if (!tool) tool = "rnnck";
    size_t n = 0;
    while (args[n]) n++;
    const char **argv = calloc(n + 2, sizeof *argv);
    argv[0] = tool;
    for (size_t i = 0; i < n; i++) argv[i + 1] = args[i];
    char outp[] = "/tmp/rnnck-out-XXXXXX", errp[] = "/tmp/rnnck-err-XXXXXX";
    int ofd = mkstemp(outp), efd = mkstemp(errp);
    unlink(outp);
    unlink(errp);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(ofd, 1);
        dup2(efd, 2);
        int nullfd = open("/dev/null", O_RDONLY);
        dup2(nullfd, 0);
        execv(tool, (char *const *)argv);
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = slurp_fd(ofd);
    r.err = slurp_fd(efd);
    close(ofd);
    close(efd);
    free(argv);
    return r;
}

tool_result run_tool(const char *arg0, ...) {
    const char *args[64];
    size_t n = 0;
    va_list ap;
    va_start(ap, arg0);
    for (const char *a = arg0; a && n < 63; a = va_arg(ap, const char *)) args[n++] = a;
    va_end(ap);
    args[n] = NULL;
    return run_tool_argv(args);
}

void tool_result_free(tool_result *r) {
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

size_t count_lines(const char *s) {
    size_t n = 0;
    for (const char *p = s; *p; p++)
        if (*p == '\n') n++;
    if (*s && s[strlen(s) - 1] != '\n') n++;
    return n;
}

char *test_dir;

void test_dir_setup(void) {
    test_dir = tmpdir_new();
    cr_assert_not_null(test_dir);
}

void test_dir_teardown(void) {
    tmpdir_remove(test_dir);
    test_dir = NULL;
}

void require_same_tensors(const char *a_path, const char *b_path) {
    rnnck_model *a, *b;
    cr_assert_eq(rnnck_open(a_path, NULL, &a), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_open(b_path, NULL, &b), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_model_tensor_count(a), rnnck_model_tensor_count(b));
    for (size_t i = 0; i < rnnck_model_tensor_count(a); i++) {
        rnnck_tensor *ta = rnnck_model_tensor(a, i), *tb;
        const char *name = rnnck_tensor_name(ta);
        cr_assert_eq(rnnck_model_find(b, name, &tb), RNNCK_OK, "%s lacks %s", b_path, name);
        cr_assert_eq(rnnck_tensor_dtype(ta), rnnck_tensor_dtype(tb), "%s: dtype differs", name);
        size_t n = rnnck_tensor_nbytes(ta);
        cr_assert_eq(rnnck_tensor_nbytes(tb), n, "%s: sizes differ", name);
        unsigned char *x = malloc(n ? n : 1), *y = malloc(n ? n : 1);
        cr_assert(x && y);
        cr_assert_eq(rnnck_model_read(a, name, rnnck_tensor_dtype(ta), x, n), RNNCK_OK, "%s", rnnck_errmsg());
        cr_assert_eq(rnnck_model_read(b, name, rnnck_tensor_dtype(tb), y, n), RNNCK_OK, "%s", rnnck_errmsg());
        cr_assert(memcmp(x, y, n) == 0, "%s: bytes differ between %s and %s", name, a_path, b_path);
        free(x);
        free(y);
    }
    rnnck_model_free(a);
    rnnck_model_free(b);
}

static bool same_double(double a, double b) { return memcmp(&a, &b, sizeof a) == 0; }

const char *module_info_difference(const rnnck_module_info *a, const rnnck_module_info *b) {
#define FIELD(f)                                                                                                       \
    if (a->f != b->f) return #f
    FIELD(cell);
    FIELD(input_size);
    FIELD(hidden_size);
    FIELD(num_layers);
    FIELD(proj_size);
    FIELD(bias);
    FIELD(bidirectional);
    FIELD(batch_first);
    FIELD(dtype);
    FIELD(linear_before_reset);
    FIELD(peepholes);
    FIELD(input_forget);
    FIELD(reverse);
    FIELD(output_reversed);
    FIELD(merge_mode);
#undef FIELD
    if (!same_double(a->forget_bias, b->forget_bias)) return "forget_bias";
    if (!same_double(a->clip, b->clip)) return "clip";
    if (!same_double(a->cell_clip, b->cell_clip)) return "cell_clip";
    if (!same_double(a->proj_clip, b->proj_clip)) return "proj_clip";
    for (int d = 0; d < 2; d++)
        for (int k = 0; k < RNNCK_ACT_SLOTS; k++)
            if (a->act[d][k].kind != b->act[d][k].kind || !same_double(a->act[d][k].alpha, b->act[d][k].alpha) ||
                !same_double(a->act[d][k].beta, b->act[d][k].beta))
                return "act";
    return NULL;
}
