#include "measure.h"

#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

measured measure_open_load(const char *path, const rnnck_open_opts *opts) {
    return measure_open_load_limited(path, opts, 0);
}

measured measure_open_load_limited(const char *path, const rnnck_open_opts *opts, size_t as_bytes) {
    measured r = {.status = -1};
    int fds[2];
    if (pipe(fds) != 0) return r;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
#if !defined(__SANITIZE_ADDRESS__)
        if (as_bytes) {
            struct rlimit rl = {as_bytes, as_bytes};
            setrlimit(RLIMIT_AS, &rl);
        }
#else
        (void)as_bytes;
#endif
        rnnck_model *m = NULL;
        int st = rnnck_open(path, opts, &m);
        if (!st) st = rnnck_model_load_all(m);
        char out[sizeof r.msg + 16];
        memset(out, 0, sizeof out);
        memcpy(out, &st, sizeof st);
        if (st) snprintf(out + sizeof st, sizeof r.msg, "%s", rnnck_errmsg());
        rnnck_model_free(m);
        ssize_t w = write(fds[1], out, sizeof st + sizeof r.msg);
        _exit(w > 0 ? 0 : 1);
    }
    close(fds[1]);
    char in[sizeof(int) + sizeof r.msg];
    size_t got = 0;
    ssize_t k;
    while (got < sizeof in && (k = read(fds[0], in + got, sizeof in - got)) > 0) got += (size_t)k;
    close(fds[0]);
    int wstatus;
    struct rusage ru;
    if (pid < 0 || wait4(pid, &wstatus, 0, &ru) != pid) return r;
    r.cpu_s = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
              ru.ru_stime.tv_usec * 1e-6;
    r.maxrss_kb = ru.ru_maxrss;
    if (WIFEXITED(wstatus) && got == sizeof in) {
        memcpy(&r.status, in, sizeof r.status);
        memcpy(r.msg, in + sizeof(int), sizeof r.msg);
        r.msg[sizeof r.msg - 1] = 0;
    }
    return r;
}
