/* Cost of opening an untrusted rnnck .h5 and loading every tensor
 * (rnnck_open + rnnck_model_load_all), the path the isolated reader takes:
 * a given file (default fixtures/schema/example_lstm.h5), and a generated
 * file of 200 chunked (compressed) datasets. Prints the median of N runs
 * and the helper processes each open started, with the CPU time per open
 * (this process and its helpers: robust on a loaded machine).
 * Usage: open_h5 [FILE [RUNS]] */
#include "rnnck.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

unsigned long long rnnck__h5_helper_starts(void); /* internal, for this count only */

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* CPU seconds (user + system) of this process and its waited-for children. */
static double cpu(void) {
    struct rusage a, b;
    getrusage(RUSAGE_SELF, &a);
    getrusage(RUSAGE_CHILDREN, &b);
    return (double)(a.ru_utime.tv_sec + a.ru_stime.tv_sec + b.ru_utime.tv_sec + b.ru_stime.tv_sec) +
           1e-6 * (double)(a.ru_utime.tv_usec + a.ru_stime.tv_usec + b.ru_utime.tv_usec + b.ru_stime.tv_usec);
}

static void die(const char *what) {
    fprintf(stderr, "open_h5: %s: %s\n", what, rnnck_errmsg());
    exit(1);
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void measure(const char *label, const char *path, int runs) {
    double *t = calloc((size_t)runs, sizeof *t);
    unsigned long long starts = 0;
    double c0 = cpu();
    for (int i = 0; i < runs; i++) {
        unsigned long long s0 = rnnck__h5_helper_starts();
        double t0 = now();
        rnnck_model *m = NULL;
        if (rnnck_open(path, NULL, &m) || rnnck_model_load_all(m)) die(path);
        rnnck_model_free(m);
        t[i] = now() - t0;
        starts = rnnck__h5_helper_starts() - s0;
    }
    double cpu_ms = 1e3 * (cpu() - c0) / runs;
    qsort(t, (size_t)runs, sizeof *t, cmp);
    printf("%-32s wall median %8.2f ms, min %8.2f ms; CPU %8.2f ms per open (%d runs, %llu helper starts each)\n",
           label, 1e3 * t[runs / 2], 1e3 * t[0], cpu_ms, runs, starts);
    free(t);
}

int main(int argc, char **argv) {
    const char *file = argc > 1 ? argv[1] : "fixtures/schema/example_lstm.h5";
    int runs = argc > 2 ? atoi(argv[2]) : 20;
    if (runs < 1) runs = 1;
    measure("open+load example file", file, runs);

    char path[64];
    snprintf(path, sizeof path, "/tmp/rnnck-open-bench-%d.h5", (int)getpid());
    rnnck_model *m;
    if (rnnck_model_new(&m)) die("model");
    for (int i = 0; i < 200; i++) {
        int64_t shape[2] = {16, 32};
        rnnck_tensor *t;
        char name[32];
        snprintf(name, sizeof name, "t%03d", i);
        if (rnnck_tensor_new(RNNCK_F32, 2, shape, &t)) die("tensor");
        float *d = rnnck_tensor_data(t);
        for (int k = 0; k < 16 * 32; k++) d[k] = (float)(i * 1000 + k);
        if (rnnck_model_add_tensor(m, name, t)) die("add");
        rnnck_tensor_free(t);
    }
    rnnck_write_opts wo = {.format = "rnnck", .compress = 1};
    if (rnnck_write_ex(m, path, &wo, NULL)) die("write");
    rnnck_model_free(m);
    measure("open+load 200 chunked datasets", path, runs > 5 ? runs / 4 : runs);
    unlink(path);
    return 0;
}
