/* Times rnnck_forward on one configuration and prints one line:
 *   rnnck <median ms> <best ms> <GFLOP/s at median> <peak RSS MiB> <CPU ms per call>
 * With RNNCK (the path of the rnnck program) it also saves the same model
 * (rnnck .h5) and input (.npy) to a temporary directory and times the whole
 * command `rnnck forward CKPT --input X --output Y --threads THREADS`, one
 * process per run (after one untimed run that warms the page cache), and
 * prints a second line:
 *   cmd <median wall ms> <best wall ms> <median CPU ms> <min CPU ms> <max CPU ms>
 * where CPU is user + system time of the command and of the helper
 * processes it waited for (wait4's rusage).
 * Usage: bench_forward CELL T B I H L BIDIR THREADS [RNNCK]
 * (CELL: lstm, gru, rnn_tanh, rnn_relu; BIDIR: 0/1). bench/forward
 * runs every row of the table and PyTorch beside it. */
#define _GNU_SOURCE /* clock_gettime, mkdtemp, wait4 */
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rnnck.h"

static double cpu_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void fill_uniform(rnnck_tensor *t, double bound, uint32_t *s) {
    float *d = rnnck_tensor_data(t);
    for (int64_t i = 0; i < rnnck_tensor_numel(t); i++) {
        *s = *s * 1664525u + 1013904223u; /* LCG: deterministic, no dependency */
        d[i] = (float)(((*s >> 8) * (1.0 / 16777216.0) * 2 - 1) * bound);
    }
}

static void die(const char *what) {
    fprintf(stderr, "bench_forward: %s: %s\n", what, rnnck_errmsg());
    exit(1);
}

extern char **environ;

/* One run of the command: wall ms, and CPU ms in *cpu. */
static double run_command(char **argv, double *cpu) {
    pid_t pid;
    double t0 = now_ms();
    if (posix_spawn(&pid, argv[0], NULL, NULL, argv, environ) != 0) {
        perror("bench_forward: posix_spawn");
        exit(1);
    }
    int ws;
    struct rusage ru;
    if (wait4(pid, &ws, 0, &ru) != pid || !WIFEXITED(ws) || WEXITSTATUS(ws) != 0) {
        fprintf(stderr, "bench_forward: %s forward failed\n", argv[0]);
        exit(1);
    }
    double wall = now_ms() - t0;
    *cpu = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
    return wall;
}

/* Times `rnnck forward` on model m and input x; prints the "cmd" line. */
static void time_command(const char *rnnck, rnnck_model *m, const rnnck_tensor *x, int threads) {
    char dir[] = "/tmp/rnnck-bench-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("bench_forward: mkdtemp");
        exit(1);
    }
    char ckpt[64], xp[64], yp[64], th[16];
    snprintf(ckpt, sizeof ckpt, "%s/m.h5", dir);
    snprintf(xp, sizeof xp, "%s/x.npy", dir);
    snprintf(yp, sizeof yp, "%s/y.npy", dir);
    snprintf(th, sizeof th, "%d", threads);
    if (rnnck_save(m, ckpt)) die("save");
    if (rnnck_npy_save(x, xp)) die("save input");
    char *argv[] = {(char *)rnnck, "forward", ckpt, "--input", xp, "--output", yp, "--threads", th, NULL};
    double wall[64], cpu[64], c;
    int n = 0;
    run_command(argv, &c); /* page cache */
    double start = now_ms();
    while (n < 64 && (n < 5 || now_ms() - start < 3000.0)) {
        wall[n] = run_command(argv, &c);
        cpu[n++] = c;
    }
    qsort(wall, (size_t)n, sizeof wall[0], cmp_double);
    qsort(cpu, (size_t)n, sizeof cpu[0], cmp_double);
    printf("cmd %.3f %.3f %.3f %.3f %.3f\n", wall[n / 2], wall[0], cpu[n / 2], cpu[0], cpu[n - 1]);
    unlink(ckpt);
    unlink(xp);
    unlink(yp);
    rmdir(dir);
}

int main(int argc, char **argv) {
    if (argc != 9 && argc != 10) {
        fprintf(stderr, "usage: %s CELL T B I H L BIDIR THREADS [RNNCK]\n", argv[0]);
        return 2;
    }
    char cellname[16];
    snprintf(cellname, sizeof cellname, "%s", argv[1]);
    for (char *p = cellname; *p; p++) *p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
    rnnck_module_info info;
    rnnck_module_info_init(&info, rnnck_cell_from_name(cellname));
    int64_t T = atoll(argv[2]), B = atoll(argv[3]);
    info.input_size = atoll(argv[4]);
    info.hidden_size = atoll(argv[5]);
    info.num_layers = atoll(argv[6]);
    info.bidirectional = atoi(argv[7]);
    int threads = atoi(argv[8]);

    rnnck_model *m;
    if (rnnck_model_new(&m) || rnnck_model_add_module(m, &info)) die("model");
    /* Parameters U(-1/sqrt(H), 1/sqrt(H)) as torch initialises them, input U(-1, 1). */
    uint32_t seed = 12345;
    double k = 1.0 / sqrt((double)info.hidden_size);
    for (size_t i = 0; i < rnnck_model_tensor_count(m); i++) fill_uniform(rnnck_model_tensor(m, i), k, &seed);
    int64_t xs[3] = {T, B, info.input_size};
    rnnck_tensor *x;
    if (rnnck_tensor_new(RNNCK_F32, 3, xs, &x)) die("input");
    fill_uniform(x, 1.0, &seed);

    /* Multiply-adds of the GEMMs: input and recurrent projections. */
    int64_t G = rnnck_cell_gates(info.cell), D = info.bidirectional ? 2 : 1, H = info.hidden_size;
    double flops = 0;
    for (int64_t l = 0; l < info.num_layers; l++) {
        int64_t in = l == 0 ? info.input_size : H * D;
        flops += 2.0 * (double)T * (double)B * (double)(G * H) * (double)(in + H) * (double)D;
    }

    rnnck_forward_opts opts = {threads, RNNCK_F32};
    double times[64], cpu_total = 0;
    int n = 0;
    double start = now_ms();
    for (int warm = 0; warm < 2 || (n < 64 && (n < 5 || now_ms() - start < 3000.0)); warm++) {
        rnnck_tensor *y, *hn, *cn = NULL;
        double t0 = now_ms(), c0 = cpu_ms();
        if (rnnck_forward(m, 0, x, NULL, NULL, NULL, &opts, &y, &hn, &cn)) die("forward");
        double dt = now_ms() - t0;
        if (warm >= 1) { /* the first run pays one-time page faults */
            times[n++] = dt;
            cpu_total += cpu_ms() - c0;
        }
        rnnck_tensor_free(y);
        rnnck_tensor_free(hn);
        rnnck_tensor_free(cn);
    }
    qsort(times, (size_t)n, sizeof times[0], cmp_double);
    double med = times[n / 2];
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("rnnck %.3f %.3f %.1f %.1f %.3f\n", med, times[0], flops / (med * 1e6), ru.ru_maxrss / 1024.0,
           cpu_total / n);
    fflush(stdout);
    if (argc == 10) time_command(argv[9], m, x, threads);
    rnnck_tensor_free(x);
    rnnck_model_free(m);
    return 0;
}
