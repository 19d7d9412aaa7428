/* Lazy access: opening a checkpoint reads metadata only; reading one tensor
 * reads only its bytes. Writes a checkpoint of several hundred MB, then times
 * rnnck_load, rnnck_model_read of single tensors and rnnck_model_load_all,
 * with the bytes each read through the kernel (/proc/self/io rchar).
 * Usage: lazy_read [DIR]   (default /tmp; needs ~600 MB free there) */
#include "rnnck.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Bytes this process has read through read()/pread() so far. */
static long long bytes_read(void) {
    FILE *f = fopen("/proc/self/io", "r");
    long long v = -1;
    char key[64];
    long long val;
    while (f && fscanf(f, "%63[^:]: %lld\n", key, &val) == 2)
        if (strcmp(key, "rchar") == 0) v = val;
    if (f) fclose(f);
    return v;
}

static void die(const char *what) {
    fprintf(stderr, "lazy_read: %s: %s\n", what, rnnck_errmsg());
    exit(1);
}

static void row(const char *what, double secs, long long bytes, long long tensor_bytes) {
    printf("%-40s %9.4f s %14lld bytes read", what, secs, bytes);
    if (tensor_bytes > 0) printf("  (tensor is %lld bytes, ratio %.3f)", tensor_bytes, (double)bytes / (double)tensor_bytes);
    printf("\n");
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "/tmp";
    char path[4096];
    snprintf(path, sizeof path, "%s/rnnck-lazy-bench-%d.h5", dir, (int)getpid());

    /* 2-layer bidirectional LSTM, I=1024, H=2048: ~576 MB of float32. */
    rnnck_module_info info;
    rnnck_module_info_init(&info, RNNCK_CELL_LSTM);
    info.input_size = 1024;
    info.hidden_size = 2048;
    info.num_layers = 2;
    info.bidirectional = 1;
    rnnck_model *m;
    rnnck_rng *rng;
    if (rnnck_model_new(&m) || rnnck_model_add_module(m, &info) || rnnck_rng_new(1, &rng)) die("build");
    for (size_t i = 0; i < rnnck_model_tensor_count(m); i++)
        if (rnnck_init_uniform(rnnck_model_tensor(m, i), -0.02, 0.02, rng)) die("init");
    rnnck_rng_free(rng);
    double t0 = now();
    if (rnnck_save(m, path)) die("save");
    long long total = 0;
    for (size_t i = 0; i < rnnck_model_tensor_count(m); i++) total += (long long)rnnck_tensor_nbytes(rnnck_model_tensor(m, i));
    printf("wrote %s: %zu tensors, %lld bytes of data, in %.2f s\n\n", path, rnnck_model_tensor_count(m), total, now() - t0);
    rnnck_model_free(m);

    long long b0 = bytes_read();
    t0 = now();
    if (rnnck_load(path, NULL, &m)) die("load");
    row("rnnck_load (metadata only)", now() - t0, bytes_read() - b0, 0);

    const char *names[] = {"bias_hh_l1_reverse", "weight_ih_l0", "weight_hh_l1_reverse"};
    for (size_t k = 0; k < sizeof names / sizeof *names; k++) {
        rnnck_tensor *t;
        if (rnnck_model_find(m, names[k], &t)) die(names[k]);
        size_t n = rnnck_tensor_nbytes(t);
        void *buf = malloc(n);
        if (!buf) die("malloc");
        b0 = bytes_read();
        t0 = now();
        if (rnnck_model_read(m, names[k], RNNCK_F32, buf, n)) die(names[k]);
        char label[128];
        snprintf(label, sizeof label, "rnnck_model_read %s", names[k]);
        row(label, now() - t0, bytes_read() - b0, (long long)n);
        free(buf);
    }
    b0 = bytes_read();
    t0 = now();
    if (rnnck_model_load_all(m)) die("load_all");
    row("rnnck_model_load_all", now() - t0, bytes_read() - b0, total);
    rnnck_model_free(m);
    unlink(path);
    return 0;
}
