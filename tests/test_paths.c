/* Paths that are not plain files (issue 15): the same file as input and
 * output, device nodes, FIFOs, "-", symlinks, directories. Every scenario
 * runs the rnnck tool as the current user, and again as `nobody` (through
 * setpriv) when the tests run as root: as root a rename over a device node
 * succeeds, as nobody it fails, and both must leave the node alone. Device
 * nodes are made here with mknod (root only; skipped with a message
 * otherwise), never the system's /dev/full. */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helpers/testutil.h"
#include "rnnck.h"

#define NOBODY 65534
#define RUN_TIMEOUT_S 30 /* a run longer than this counts as a hang */

static char *dir;
static bool as_nobody;

static void setup(void) { dir = tmpdir_new(); }
static void teardown(void) { tmpdir_remove(dir); }

typedef struct run_result {
    int code; /* exit code; -1 crashed; -2 hung (killed) */
    char err[1024];
} run_result;

/* Runs the tool with stdin/stdout redirected (NULL: /dev/null / discard),
 * as nobody when as_nobody. Kills it after RUN_TIMEOUT_S. */
static run_result run(const char *in, const char *out, const char *arg0, ...) {
    const char *argv[40];
    int n = 0;
    if (as_nobody) {
        argv[n++] = "/usr/bin/setpriv";
        argv[n++] = "--reuid=65534";
        argv[n++] = "--regid=65534";
        argv[n++] = "--clear-groups";
    }
    const char *tool = getenv("RNNCK_TOOL");
    argv[n++] = tool ? tool : "rnnck";
    va_list ap;
    va_start(ap, arg0);
    for (const char *a = arg0; a && n < 39; a = va_arg(ap, const char *)) argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    char errp[] = "/tmp/rnnck-err-XXXXXX";
    int efd = mkstemp(errp);
    unlink(errp);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int i = open(in ? in : "/dev/null", O_RDONLY);
        int o = out ? open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644) : open("/dev/null", O_WRONLY);
        if (i < 0 || o < 0) _exit(126);
        dup2(i, 0);
        dup2(o, 1);
        dup2(efd, 2);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    run_result r = {.code = -2};
    int status;
    for (int waited_ms = 0;; waited_ms += 10) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid) {
            r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
            break;
        }
        if (waited_ms > RUN_TIMEOUT_S * 1000) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            break;
        }
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    lseek(efd, 0, SEEK_SET);
    ssize_t got = read(efd, r.err, sizeof r.err - 1);
    r.err[got > 0 ? got : 0] = '\0';
    close(efd);
    return r;
}

static char *p(const char *name) { return path_join(dir, name); }

static bool same_bytes(const char *a, const char *b) {
    size_t na, nb;
    unsigned char *x = read_file(a, &na), *y = read_file(b, &nb);
    bool same = x && y && na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
}

static mode_t kind_of(const char *path) {
    struct stat sb;
    return lstat(path, &sb) == 0 ? (sb.st_mode & S_IFMT) : 0;
}

/* As root, hands the directory (and what is in it) to nobody. */
static void give_dir(void) {
    if (!as_nobody) return;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "chown -R %d:%d '%s'", NOBODY, NOBODY, dir);
    cr_assert_eq(system(cmd), 0);
}

/* a.pt made by the tool itself, and its reference conversions. */
static void make_checkpoint(void) {
    give_dir();
    char *a = p("a.pt"), *ref_npz = p("ref.npz"), *ref_pt = p("ref.pt");
    run_result r = run(NULL, NULL, "init", a, "--cell", "lstm", "--input-size", "3", "--hidden-size", "4", "--seed",
                       "1", NULL);
    cr_assert_eq(r.code, 0, "init: %s", r.err);
    r = run(NULL, NULL, "convert", a, ref_npz, NULL);
    cr_assert_eq(r.code, 0, "convert: %s", r.err);
    r = run(NULL, NULL, "convert", a, ref_pt, NULL);
    cr_assert_eq(r.code, 0, "convert: %s", r.err);
    free(a);
    free(ref_npz);
    free(ref_pt);
}

/* A FIFO anyone may open, made by the test process. */
static char *make_fifo(const char *name) {
    char *f = p(name);
    cr_assert_eq(mkfifo(f, 0666), 0, "mkfifo: %s", strerror(errno));
    chmod(f, 0666);
    return f;
}

/* A child of the test that copies from -> to (either may be the FIFO). */
static pid_t copier(const char *from, const char *to) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(RUN_TIMEOUT_S);
        int i = open(from, O_RDONLY), o = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (i < 0 || o < 0) _exit(1);
        char buf[4096];
        ssize_t k;
        while ((k = read(i, buf, sizeof buf)) > 0)
            if (write(o, buf, (size_t)k) != k) _exit(1);
        _exit(k == 0 ? 0 : 1);
    }
    return pid;
}

static int wait_copier(pid_t pid) {
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void same_file_is_refused_before_reading(void) {
    char *a = p("a.pt"), *sym = p("sym.pt"), *hard = p("hard.pt"), *before = p("before.pt");
    cr_assert_eq(symlink(a, sym), 0);
    cr_assert_eq(link(a, hard), 0);
    run_result r = run(NULL, NULL, "convert", a, before, NULL); /* a copy to compare with */
    cr_assert_eq(r.code, 0, "%s", r.err);
    const char *outs[] = {a, sym, hard};
    for (int i = 0; i < 3; i++) {
        r = run(NULL, NULL, "convert", a, outs[i], NULL);
        cr_expect_eq(r.code, 2, "convert a.pt %s: exit %d (%s)", outs[i], r.code, r.err);
        cr_expect(strstr(r.err, "same file"), "%s", r.err);
    }
    r = run(NULL, NULL, "convert", hard, a, NULL);
    cr_expect_eq(r.code, 2, "hard link as input: exit %d", r.code);
    cr_expect(same_bytes(a, before), "the input changed");
    cr_expect_eq(kind_of(sym), S_IFLNK);
    free(a);
    free(sym);
    free(hard);
    free(before);
}

static void device_nodes_are_streamed_or_refused_never_replaced(void) {
    char *a = p("a.pt"), *null = p("null"), *full = p("full");
    if (kind_of(null) != S_IFCHR || kind_of(full) != S_IFCHR) {
        cr_log_warn("device node scenario skipped: mknod needs root (and a filesystem without nodev)");
        goto out;
    }
    run_result r = run(NULL, NULL, "convert", a, null, "--to", "npz", NULL);
    cr_expect_eq(r.code, 0, "npz to a null device: exit %d (%s)", r.code, r.err);
    r = run(NULL, NULL, "convert", a, null, "--to", "rnnck", NULL);
    cr_expect_eq(r.code, 4, "rnnck (HDF5) to a device: exit %d (%s)", r.code, r.err);
    cr_expect(strstr(r.err, "seekable"), "%s", r.err);
    r = run(NULL, NULL, "convert", a, full, "--to", "pytorch", NULL);
    cr_expect_eq(r.code, 4, "pt to a full device: exit %d (%s)", r.code, r.err);
    r = run(NULL, NULL, "convert", a, full, "--to", "rnnck", NULL);
    cr_expect_eq(r.code, 4, "rnnck to a full device: exit %d (%s)", r.code, r.err);
    cr_expect_eq(kind_of(null), S_IFCHR, "the null node was replaced");
    cr_expect_eq(kind_of(full), S_IFCHR, "the full node was replaced");
    r = run(NULL, NULL, "inspect", null, NULL);
    cr_expect_eq(r.code, 3, "inspect of a device: exit %d", r.code);
    cr_expect(strstr(r.err, "character device"), "%s", r.err);
out:
    free(a);
    free(null);
    free(full);
}

static void fifo_output_gets_the_stream(void) {
    char *a = p("a.pt"), *ref = p("ref.npz"), *got = p("fifo.got");
    char *fifo = make_fifo("out.fifo");
    pid_t reader = copier(fifo, got);
    run_result r = run(NULL, NULL, "convert", a, fifo, "--to", "npz", NULL);
    cr_expect_eq(r.code, 0, "npz into a FIFO: exit %d (%s)", r.code, r.err);
    cr_expect_eq(wait_copier(reader), 0);
    cr_expect(same_bytes(got, ref), "the FIFO's reader did not get the npz a file gets");
    cr_expect_eq(kind_of(fifo), S_IFIFO, "the FIFO was replaced");
    /* No reader: a tool that opened the FIFO to write HDF5 would block (and
     * count as hung); it must refuse before opening. */
    r = run(NULL, NULL, "convert", a, fifo, "--to", "rnnck", NULL);
    cr_expect_eq(r.code, 4, "rnnck into a FIFO: exit %d (%s)", r.code, r.err);
    cr_expect(strstr(r.err, "seekable"), "%s", r.err);
    free(a);
    free(ref);
    free(got);
    free(fifo);
}

static void fifo_input_is_spooled_and_never_hangs(void) {
    char *a = p("a.pt");
    char *fifo = make_fifo("in.fifo");
    time_t t0 = time(NULL);
    run_result r = run(NULL, NULL, "inspect", fifo, "--input-wait", "0.2", NULL);
    cr_expect_eq(r.code, 3, "inspect of a FIFO without a writer: exit %d (%s)", r.code, r.err);
    cr_expect(strstr(r.err, "no writer"), "%s", r.err);
    cr_expect_leq(time(NULL) - t0, 10, "took %lld s", (long long)(time(NULL) - t0));
    pid_t writer = copier(a, fifo);
    char *out = p("inspect.out");
    r = run(NULL, out, "inspect", fifo, NULL);
    cr_expect_eq(r.code, 0, "inspect of a FIFO with a writer: exit %d (%s)", r.code, r.err);
    cr_expect_eq(wait_copier(writer), 0);
    size_t n;
    char *text = (char *)read_file(out, &n);
    cr_expect(text && strstr(text, "format pytorch"), "%s", text ? text : "(no output)");
    free(text);
    free(out);
    free(a);
    free(fifo);
}

static void dash_is_standard_input_and_output(void) {
    char *a = p("a.pt"), *ref = p("ref.npz"), *o1 = p("stdin.npz"), *o2 = p("stdout.npz");
    run_result r = run(a, NULL, "inspect", "-", NULL);
    cr_expect_eq(r.code, 0, "inspect - < a.pt: exit %d (%s)", r.code, r.err);
    r = run(a, NULL, "convert", "-", o1, NULL);
    cr_expect_eq(r.code, 0, "convert - OUT: exit %d (%s)", r.code, r.err);
    cr_expect(same_bytes(o1, ref));
    r = run(NULL, o2, "convert", a, "-", "--to", "npz", NULL);
    cr_expect_eq(r.code, 0, "convert IN - --to npz: exit %d (%s)", r.code, r.err);
    cr_expect(same_bytes(o2, ref), "standard output did not get the npz a file gets");
    r = run(NULL, o2, "convert", a, "-", NULL);
    cr_expect_eq(r.code, 2, "convert IN - without --to: exit %d", r.code);
    r = run(NULL, o2, "convert", a, "-", "--to", "rnnck", NULL);
    cr_expect_eq(r.code, 4, "HDF5 to standard output: exit %d (%s)", r.code, r.err);
    r = run(a, NULL, "inspect", "-", "--max-input", "100", NULL);
    cr_expect_eq(r.code, 3, "over --max-input: exit %d", r.code);
    cr_expect(strstr(r.err, "<stdin>") && strstr(r.err, "--max-input"), "%s", r.err);
    free(a);
    free(ref);
    free(o1);
    free(o2);
}

static void symlinked_output_is_written_through(void) {
    char *a = p("a.pt"), *ref = p("ref.pt"), *target = p("target.pt"), *link_ = p("link.pt"), *dangling = p("dangle.pt");
    cr_assert_eq(write_file(target, "old", 3), 0);
    cr_assert_eq(symlink("target.pt", link_), 0);
    cr_assert_eq(symlink("missing.pt", dangling), 0);
    give_dir();
    run_result r = run(NULL, NULL, "convert", a, link_, NULL);
    cr_expect_eq(r.code, 0, "convert to a symlink: exit %d (%s)", r.code, r.err);
    cr_expect_eq(kind_of(link_), S_IFLNK, "the link was replaced by a file");
    cr_expect(same_bytes(target, ref), "the link's target did not get the output");
    r = run(NULL, NULL, "convert", a, dangling, NULL);
    cr_expect_eq(r.code, 4, "convert to a dangling symlink: exit %d (%s)", r.code, r.err);
    cr_expect_eq(kind_of(dangling), S_IFLNK);
    free(a);
    free(ref);
    free(target);
    free(link_);
    free(dangling);
}

static void directories_are_refused(void) {
    char *a = p("a.pt"), *sub = p("sub");
    cr_assert_eq(mkdir(sub, 0777), 0);
    give_dir();
    run_result r = run(NULL, NULL, "inspect", sub, NULL);
    cr_expect_eq(r.code, 3, "inspect DIR: exit %d", r.code);
    cr_expect(strstr(r.err, "directory"), "%s", r.err);
    r = run(NULL, NULL, "check", sub, NULL);
    cr_expect_eq(r.code, 3, "check DIR: exit %d", r.code);
    r = run(NULL, NULL, "convert", a, sub, "--to", "npz", NULL);
    cr_expect_eq(r.code, 4, "convert to DIR: exit %d (%s)", r.code, r.err);
    cr_expect_eq(kind_of(sub), S_IFDIR);
    free(a);
    free(sub);
}

/* Device nodes for the device scenario, when we may make them. */
static void make_devices(void) {
    char *null = p("null"), *full = p("full");
    if (geteuid() == 0 && mknod(null, S_IFCHR | 0666, makedev(1, 3)) == 0 &&
        mknod(full, S_IFCHR | 0666, makedev(1, 7)) == 0) {
        chmod(null, 0666);
        chmod(full, 0666);
    }
    free(null);
    free(full);
}

static void run_all(void) {
    make_devices();
    make_checkpoint();
    same_file_is_refused_before_reading();
    device_nodes_are_streamed_or_refused_never_replaced();
    fifo_output_gets_the_stream();
    fifo_input_is_spooled_and_never_hangs();
    dash_is_standard_input_and_output();
    symlinked_output_is_written_through();
    directories_are_refused();
}

/* Every test has a deadline (test_deadline): a hang is a failure. */
static void setup_with_deadline(void) {
    test_deadline(300);
    setup();
}
TestSuite(paths, .init = setup_with_deadline, .fini = teardown);

Test(paths, every_kind_of_path_as_the_current_user) { run_all(); }

Test(paths, every_kind_of_path_as_nobody) {
    if (geteuid() != 0) cr_skip_test("not root: cannot switch to nobody (this run is unprivileged already)");
    if (access("/usr/bin/setpriv", X_OK) != 0) cr_skip_test("no /usr/bin/setpriv to run the tool as nobody");
    as_nobody = true;
    run_all();
}

/* The library itself never blocks on a FIFO: it refuses it by name. */
Test(paths, library_refuses_a_fifo_without_blocking) {
    test_deadline(20);
    char *fifo = make_fifo("lib.fifo");
    rnnck_model *m = NULL;
    rnnck_tensor *t = NULL;
    const char *fmt;
    cr_expect_eq(rnnck_open(fifo, NULL, &m), RNNCK_E_IO);
    cr_expect(strstr(rnnck_errmsg(), "FIFO"), "%s", rnnck_errmsg());
    cr_expect_eq(rnnck_load(fifo, NULL, &m), RNNCK_E_IO);
    cr_expect_eq(rnnck_detect_format(fifo, &fmt), RNNCK_E_IO);
    cr_expect_eq(rnnck_npy_load(fifo, &t), RNNCK_E_IO);
    rnnck_report *rep = NULL;
    cr_expect_eq(rnnck_check_file(fifo, 0, &rep), RNNCK_E_IO);
    free(fifo);
}
